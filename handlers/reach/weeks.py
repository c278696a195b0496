"""The arithmetic of reach weeks: figures, ratios, changes, the chart's data, week labels.

All of it is pure, over plain mappings of (day, metric) -> value, so it is tested without a
database and shared by the weekly summary, the charts, the fetch and the digest.

Weekly reach is not the sum of daily reach (an account reached on Monday and on Tuesday is
one account reached that week). A deduplicated weekly figure is used when the source gave
one; otherwise the daily figures are summed and the summary says so. Days without data are
named, never counted as zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from handlers.context import Policy
from handlers.errors import Refused
from handlers.reach.store import VIEWS_SINCE

WEEKS_SHOWN = 12
DEDUPLICATED = "deduplicated"
SUMMED = "sum of daily"
POINT = "point in time"

# --- pure arithmetic -----------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure of a week: its value (None: no data), how it was made, what it lacks."""

    value: int | None
    basis: str = ""
    missing: tuple[date, ...] = ()
    metric: str = ""
    note: str = ""


@dataclass(frozen=True)
class Ratio:
    value: float | None
    basis: str = ""


@dataclass(frozen=True)
class WeekFigures:
    week_start: date
    days: tuple[date, ...]  # the days of the week that are over
    reached: Figure
    non_followers: Figure
    followers_reached: Figure
    share: Ratio  # non-followers / accounts reached
    views: Figure
    ratio: Ratio  # accounts reached / views (or impressions)
    followers: Figure
    new_followers: Figure

    @property
    def has_data(self) -> bool:
        return any(
            figure.value is not None
            for figure in (self.reached, self.non_followers, self.views, self.followers)
        )


Daily = Mapping[tuple[date, str], int]
Weekly = Mapping[tuple[date, str], int]


def week_days(week_start: date, last_day: date) -> tuple[date, ...]:
    return tuple(
        week_start + timedelta(days=i) for i in range(7)
        if week_start + timedelta(days=i) <= last_day
    )


def _summed(daily: Daily, days: Sequence[date], metric: str) -> Figure:
    present = [day for day in days if (day, metric) in daily]
    missing = tuple(day for day in days if (day, metric) not in daily)
    if not present:
        return Figure(None, SUMMED, missing, metric)
    return Figure(sum(daily[(day, metric)] for day in present), SUMMED, missing, metric)


def _reach_figure(daily: Daily, weekly: Weekly, week_start: date, days: Sequence[date],
                  metric: str) -> Figure:
    if (week_start, metric) in weekly:
        return Figure(weekly[(week_start, metric)], DEDUPLICATED, (), metric)
    return _summed(daily, days, metric)


def _common_days(daily: Daily, days: Sequence[date], *metrics: str) -> list[date]:
    return [day for day in days if all((day, metric) in daily for metric in metrics)]


def week_figures(week_start: date, last_day: date, daily: Daily, weekly: Weekly) -> WeekFigures:
    """The week's figures from daily values by (day, metric) and weekly by (Monday, metric).

    `last_day` is the last day whose figures can exist (yesterday, for the current week).
    """
    days = week_days(week_start, last_day)
    reached = _reach_figure(daily, weekly, week_start, days, "accounts_reached")
    non_followers = _reach_figure(daily, weekly, week_start, days, "non_followers_reached")

    if reached.basis == DEDUPLICATED and non_followers.basis == DEDUPLICATED:
        assert reached.value is not None and non_followers.value is not None
        followers_reached = Figure(reached.value - non_followers.value, DEDUPLICATED)
        share = Ratio(non_followers.value / reached.value if reached.value else None,
                      DEDUPLICATED)
    else:
        both = _common_days(daily, days, "accounts_reached", "non_followers_reached")
        missing = tuple(day for day in days if day not in both)
        total = sum(daily[(d, "accounts_reached")] for d in both)
        non = sum(daily[(d, "non_followers_reached")] for d in both)
        followers_reached = Figure(total - non if both else None, SUMMED, missing)
        share = Ratio(non / total if total else None, SUMMED)

    views_days = [day for day in days if (day, "views") in daily]
    impressions_days = [day for day in days if (day, "impressions") in daily]
    if views_days or impressions_days:
        metric = "views" if len(views_days) >= len(impressions_days) else "impressions"
    else:
        metric = "views" if (days and days[-1] >= VIEWS_SINCE) or not days else "impressions"
    views = _summed(daily, days, metric)
    other, other_days = (("impressions", impressions_days) if metric == "views"
                         else ("views", views_days))
    left_out = [day for day in other_days if (day, metric) not in daily]
    if left_out:
        views = Figure(views.value, views.basis, views.missing, metric,
                       f"{other} for {day_ranges(left_out)} not added ({other} and {metric} "
                       "are different measures)")

    if reached.basis == DEDUPLICATED and views.value and not views.missing:
        assert reached.value is not None
        ratio = Ratio(reached.value / views.value, DEDUPLICATED)
    else:
        both = _common_days(daily, days, "accounts_reached", metric)
        total_views = sum(daily[(d, metric)] for d in both)
        ratio = Ratio(
            sum(daily[(d, "accounts_reached")] for d in both) / total_views
            if total_views else None,
            SUMMED,
        )

    follower_days = [day for day in days if (day, "followers") in daily]
    if follower_days:
        last = follower_days[-1]
        followers = Figure(daily[(last, "followers")], POINT, (), "followers",
                           "" if last == week_start + timedelta(days=6) else f"as of {last:%a}")
    else:
        followers = Figure(None, POINT, (), "followers")
    new_followers = _summed(daily, days, "new_followers")
    return WeekFigures(week_start, days, reached, non_followers, followers_reached, share,
                       views, ratio, followers, new_followers)


def day_ranges(days: Iterable[date]) -> str:
    """`Tue–Wed`, `Mon, Thu–Sun`: runs of consecutive days by weekday name."""
    ordered = sorted(set(days))
    runs: list[list[date]] = []
    for day in ordered:
        if runs and day - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(
        f"{run[0]:%a}" if len(run) == 1 else f"{run[0]:%a}–{run[-1]:%a}" for run in runs
    )


def why_not_comparable(current: Figure, previous: Figure) -> str:
    """Empty when the two can be compared, else why not."""
    if current.metric and previous.metric and current.metric != previous.metric:
        return f"not comparable: {previous.metric} then, {current.metric} now"
    if current.basis != previous.basis:
        return f"not comparable: {previous.basis} then, {current.basis} now"
    return ""


def change_text(current: Figure, previous: Figure) -> str:
    """`+1,234 (+11.1%)` against the week before, or why there is no comparison."""
    if current.value is None:
        return ""
    if previous.value is None:
        return "no figure the week before"
    why_not = why_not_comparable(current, previous)
    if why_not:
        return why_not
    diff = current.value - previous.value
    text = f"{diff:+,}"
    if previous.value:
        text += f" ({diff / previous.value * 100:+.1f}%)"
    if current.missing or previous.missing:
        text += ", days missing"
    return text


def ratio_change_text(current: Ratio, previous: Ratio) -> str:
    if current.value is None:
        return ""
    if previous.value is None:
        return "no figure the week before"
    if current.basis != previous.basis:
        return f"not comparable: {previous.basis} then, {current.basis} now"
    points = (current.value - previous.value) * 100
    return f"{points:+.1f} points"


def percent(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.1f}%"


def count(value: int | None) -> str:
    return "no data" if value is None else f"{value:,}"


# --- the chart's data ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChartWeek:
    week_start: date
    reached: int | None
    reached_basis: str
    non_followers: int | None
    non_followers_basis: str
    ratio: float | None
    views_metric: str  # "views", "impressions" or "" when the week has neither


@dataclass(frozen=True)
class WeeklyChart:
    """What the weekly chart shows; `name` is a file name stem such as reach-2026-W47."""

    name: str
    title: str
    weeks: tuple[ChartWeek, ...]
    views_from: date | None  # the week where impressions gave way to views, if shown


ChartMaker = Callable[[WeeklyChart], "str | None"]


def views_switch_week(weeks: Sequence[ChartWeek]) -> date | None:
    """The first shown week measured in views after a shown week in impressions; failing
    that, the week of 21 April 2025 if it is among the weeks shown."""
    seen_impressions = False
    for week in weeks:
        if week.views_metric == "impressions":
            seen_impressions = True
        elif week.views_metric == "views" and seen_impressions:
            return week.week_start
    if weeks and weeks[0].week_start <= VIEWS_SINCE <= weeks[-1].week_start + timedelta(days=6):
        return monday_of(VIEWS_SINCE)
    return None


# --- weeks ---------------------------------------------------------------------------------


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_label(week_start: date) -> str:
    year, week, _ = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(text: str) -> date:
    """`2026-W47` (or `2026W47`, `2026-w47`) -> the Monday that starts it."""
    raw = text.strip().upper().replace("-", "")
    if len(raw) not in (7, 8) or raw[4] != "W" or not (raw[:4] + raw[5:]).isdigit():
        raise Refused(f"{text[:20]!r} is not a week; write it like 2026-W47.")
    try:
        return date.fromisocalendar(int(raw[:4]), int(raw[5:]), 1)
    except ValueError:
        raise Refused(f"{raw[:4]} has no week {int(raw[5:])}.") from None


def local_today(now: datetime, policy: Policy) -> date:
    return now.astimezone(policy.zone).date()


def last_complete_week(today: date) -> date:
    return monday_of(today) - timedelta(days=7)
