"""The week's arithmetic over plain data: no database, every expected value worked out here."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from handlers.errors import Refused
from handlers.reach.weeks import (
    DEDUPLICATED,
    SUMMED,
    ChartWeek,
    Figure,
    change_text,
    day_ranges,
    parse_week,
    views_switch_week,
    week_figures,
    week_label,
)

MON = date(2026, 11, 16)  # Monday of 2026-W47
SUN = MON + timedelta(days=6)


def day(offset: int) -> date:
    return MON + timedelta(days=offset)


def test_summed_reach_leaves_out_missing_days_and_names_them() -> None:
    daily = {}
    for offset, (reached, non) in {0: (100, 60), 3: (200, 150), 4: (50, 10), 5: (70, 35),
                                    6: (80, 40)}.items():
        daily[(day(offset), "accounts_reached")] = reached
        daily[(day(offset), "non_followers_reached")] = non
    week = week_figures(MON, SUN, daily, {})

    assert week.reached == Figure(100 + 200 + 50 + 70 + 80, SUMMED, (day(1), day(2)),
                                  "accounts_reached")
    assert week.non_followers.value == 60 + 150 + 10 + 35 + 40
    assert week.followers_reached.value == 500 - 295
    assert week.share.value == pytest.approx(295 / 500)
    assert day_ranges(week.reached.missing) == "Tue–Wed"
    assert week.views.value is None  # no views at all: unknown, not zero


def test_deduplicated_weekly_reach_wins_over_the_daily_sum() -> None:
    daily = {(day(i), "accounts_reached"): 100 for i in range(7)}
    daily.update({(day(i), "non_followers_reached"): 70 for i in range(7)})
    daily.update({(day(i), "views"): 1000 for i in range(7)})
    weekly = {(MON, "accounts_reached"): 420, (MON, "non_followers_reached"): 300}
    week = week_figures(MON, SUN, daily, weekly)

    assert week.reached == Figure(420, DEDUPLICATED, (), "accounts_reached")
    assert week.followers_reached.value == 120
    assert week.share.value == pytest.approx(300 / 420)
    assert week.views.value == 7000
    assert week.ratio.value == pytest.approx(420 / 7000)
    assert week.ratio.basis == DEDUPLICATED


def test_ratio_over_days_where_both_are_known_when_views_have_gaps() -> None:
    daily = {(day(i), "accounts_reached"): 10 * (i + 1) for i in range(7)}
    daily.update({(day(i), "views"): 100 for i in (0, 1, 2)})
    week = week_figures(MON, SUN, daily, {(MON, "accounts_reached"): 150})

    assert week.views.value == 300
    assert week.views.missing == tuple(day(i) for i in range(3, 7))
    assert week.ratio.value == pytest.approx((10 + 20 + 30) / 300)
    assert week.ratio.basis == SUMMED


def test_impressions_and_views_are_never_added_together() -> None:
    monday = date(2025, 4, 14)
    daily = {(monday + timedelta(days=i), "impressions"): 1000 for i in range(5)}
    daily.update({(monday + timedelta(days=i), "views"): 3000 for i in (5, 6)})
    week = week_figures(monday, monday + timedelta(days=6), daily, {})

    assert week.views.metric == "impressions"
    assert week.views.value == 5000
    assert "views for Sat–Sun not added" in week.views.note


def test_followers_at_week_end_takes_the_last_day_with_a_count() -> None:
    daily = {(day(2), "followers"): 1200, (day(4), "followers"): 1210}
    week = week_figures(MON, SUN, daily, {})
    assert week.followers.value == 1210
    assert week.followers.note == "as of Fri"


def test_current_week_counts_only_days_that_are_over() -> None:
    week = week_figures(MON, day(2), {(day(0), "accounts_reached"): 5}, {})
    assert week.days == (day(0), day(1), day(2))
    assert week.reached.missing == (day(1), day(2))


def test_change_text_difference_and_percentage() -> None:
    now = Figure(1100, SUMMED, (), "accounts_reached")
    before = Figure(1000, SUMMED, (), "accounts_reached")
    assert change_text(now, before) == "+100 (+10.0%)"
    assert change_text(before, now) == "-100 (-9.1%)"
    assert change_text(Figure(5, DEDUPLICATED), Figure(5, SUMMED)).startswith("not comparable")
    assert "impressions then, views now" in change_text(
        Figure(5, SUMMED, (), "views"), Figure(4, SUMMED, (), "impressions"))
    assert change_text(now, Figure(None, SUMMED)) == "no figure the week before"


def test_day_ranges() -> None:
    assert day_ranges([day(0), day(3), day(4), day(5)]) == "Mon, Thu–Sat"
    assert day_ranges([day(6)]) == "Sun"


def test_weeks_parse_and_label() -> None:
    assert parse_week("2026-W47") == MON
    assert parse_week("2026w47") == MON
    assert week_label(MON) == "2026-W47"
    with pytest.raises(Refused):
        parse_week("2026-W54")
    with pytest.raises(Refused):
        parse_week("last week")


def test_views_switch_week_is_marked_where_the_data_changes() -> None:
    start = date(2025, 3, 3)
    weeks = [ChartWeek(start + timedelta(weeks=i), 1, SUMMED, 1, SUMMED, 0.4,
                       "impressions" if i < 7 else "views") for i in range(12)]
    assert views_switch_week(weeks) == start + timedelta(weeks=7)
    without = [ChartWeek(w.week_start, 1, SUMMED, 1, SUMMED, 0.4, "") for w in weeks]
    assert views_switch_week(without) == date(2025, 4, 21)
    later = [ChartWeek(date(2026, 1, 5) + timedelta(weeks=i), 1, SUMMED, 1, SUMMED, 0.4,
                       "views") for i in range(12)]
    assert views_switch_week(later) is None
