"""Reach figures out: the weekly reach summary. (What one contributor's stories reached
is their impact statement, handlers/crowd/impact.py.)

The arithmetic is pure (`week_figures` in handlers/reach/weeks.py); the database is read
only for the weeks shown, so a summary costs the same whatever the length of the history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from handlers.context import Policy
from handlers.decisions import OBJECTIVES
from handlers.errors import Refused
from handlers.reach.store import VIEWS_SINCE, shortcode_of
from handlers.reach.weeks import (
    DEDUPLICATED,
    SUMMED,
    WEEKS_SHOWN,
    ChartMaker,
    ChartWeek,
    Figure,
    Ratio,
    WeekFigures,
    WeeklyChart,
    change_text,
    count,
    day_ranges,
    last_complete_week,
    local_today,
    monday_of,
    parse_week,
    percent,
    ratio_change_text,
    views_switch_week,
    week_figures,
    week_label,
    why_not_comparable,
)
from handlers.reply import Bullets, Fields, Heading, Image, Paragraph, Reply
from handlers.stories.card import member_names
from storage.models import Member, Story
from storage.reach import ReachDaily, ReachPost, ReachWeekly

DIGEST_WINDOW = timedelta(hours=24)

# --- the weekly summary --------------------------------------------------------------------


@dataclass(frozen=True)
class StoryReach:
    story_id: int
    title: str
    author: str
    objective: str | None
    reach: int | None
    views: int | None
    views_metric: str


@dataclass(frozen=True)
class WeeklySummary:
    week_start: date
    current: WeekFigures
    previous: WeekFigures
    stories: tuple[StoryReach, ...]
    other_posts: int
    objective_mix: Mapping[str, int]
    objective_mix_shown: Mapping[str, int]
    chart: WeeklyChart

    @property
    def best(self) -> StoryReach | None:
        with_reach = [story for story in self.stories if story.reach is not None]
        return max(with_reach, key=lambda s: (s.reach or 0, -s.story_id), default=None)


def _load_daily(session: Session, first: date, last: date) -> dict[tuple[date, str], int]:
    rows = session.exec(
        select(col(ReachDaily.day), col(ReachDaily.metric), col(ReachDaily.value)).where(
            col(ReachDaily.day) >= first, col(ReachDaily.day) <= last
        )
    ).all()
    return {(day, metric): value for day, metric, value in rows}


def _load_weekly(session: Session, first: date, last: date) -> dict[tuple[date, str], int]:
    rows = session.exec(
        select(col(ReachWeekly.week_start), col(ReachWeekly.metric),
               col(ReachWeekly.value)).where(
            col(ReachWeekly.week_start) >= first, col(ReachWeekly.week_start) <= last
        )
    ).all()
    return {(week_start, metric): value for week_start, metric, value in rows}


def _utc_bounds(first: date, end: date, policy: Policy) -> tuple[datetime, datetime]:
    zone = policy.zone
    return (datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC),
            datetime.combine(end, time(0), tzinfo=zone).astimezone(UTC))


def published_between(session: Session, first: date, end: date, policy: Policy) -> list[Story]:
    start_at, end_at = _utc_bounds(first, end, policy)
    return list(session.exec(
        select(Story).where(
            Story.state == "published",
            col(Story.published_at) >= start_at,
            col(Story.published_at) < end_at,
        ).order_by(col(Story.published_at), col(Story.id))
    ).all())


def posts_for(session: Session, stories: Sequence[Story]) -> dict[int, ReachPost]:
    """Each story's post: linked by story id, or matched by media id or permalink."""
    if not stories:
        return {}
    ids = [s.id for s in stories if s.id is not None]
    media_ids = [s.media_id for s in stories if s.media_id]
    codes = [code for code in (shortcode_of(s.permalink) for s in stories) if code]
    conditions = [col(ReachPost.story_id).in_(ids)]
    if media_ids:
        conditions.append(col(ReachPost.media_id).in_(media_ids))
    if codes:
        conditions.append(col(ReachPost.shortcode).in_(codes))
    posts = session.exec(select(ReachPost).where(or_(*conditions))).all()
    by_story = {post.story_id: post for post in posts if post.story_id is not None}
    by_media = {post.media_id: post for post in posts}
    by_code = {post.shortcode: post for post in posts if post.shortcode}
    found: dict[int, ReachPost] = {}
    for story in stories:
        assert story.id is not None
        code = shortcode_of(story.permalink)
        post = (by_story.get(story.id)
                or (by_media.get(story.media_id) if story.media_id else None)
                or (by_code.get(code) if code else None))
        if post is not None:
            found[story.id] = post
    return found


def build_weekly(
    session: Session, now: datetime, policy: Policy, week_start: date | None = None
) -> WeeklySummary:
    """Everything the weekly summary says about the week starting `week_start`
    (by default the last complete week), read for the twelve weeks shown only."""
    today = local_today(now, policy)
    week_start = monday_of(week_start) if week_start else last_complete_week(today)
    if week_start > monday_of(today):
        raise Refused(f"Week {week_label(week_start)} has not started yet.")
    yesterday = today - timedelta(days=1)
    first_shown = week_start - timedelta(weeks=WEEKS_SHOWN - 1)
    week_end = week_start + timedelta(days=6)
    daily = _load_daily(session, first_shown, min(week_end, yesterday))
    weekly = _load_weekly(session, first_shown, week_start)

    shown: list[WeekFigures] = []
    for index in range(WEEKS_SHOWN):
        start = first_shown + timedelta(weeks=index)
        shown.append(week_figures(start, min(start + timedelta(days=6), yesterday),
                                  daily, weekly))
    current, previous = shown[-1], shown[-2]

    chart_weeks = tuple(
        ChartWeek(
            week.week_start, week.reached.value, week.reached.basis,
            week.non_followers.value, week.non_followers.basis, week.ratio.value,
            week.views.metric if week.views.value is not None else "",
        )
        for week in shown
    )
    label = week_label(week_start)
    chart = WeeklyChart(
        name=f"reach-{label}",
        title=f"Reach, {WEEKS_SHOWN} weeks to {label}",
        weeks=chart_weeks,
        views_from=views_switch_week(chart_weeks),
    )

    stories = published_between(session, week_start, week_start + timedelta(days=7), policy)
    posts = posts_for(session, stories)
    names = member_names(session, {s.author_id for s in stories})
    story_reach = []
    for story in stories:
        assert story.id is not None
        post = posts.get(story.id)
        views, views_metric = None, ""
        if post is not None and post.views is not None:
            views, views_metric = post.views, "views"
        elif post is not None and post.impressions is not None:
            views, views_metric = post.impressions, "impressions"
        story_reach.append(StoryReach(
            story.id, story.title, names.get(story.author_id, "?"), story.objective,
            post.reach if post else None, views, views_metric,
        ))
    start_at, end_at = _utc_bounds(week_start, week_start + timedelta(days=7), policy)
    matched = {post.media_id for post in posts.values()}
    week_posts = session.exec(
        select(ReachPost.media_id).where(
            col(ReachPost.published_at) >= start_at, col(ReachPost.published_at) < end_at
        )
    ).all()
    other_posts = len([media_id for media_id in week_posts if media_id not in matched])

    mix = Counter(story.objective or "not set" for story in stories)
    shown_start, shown_end = _utc_bounds(first_shown, week_start + timedelta(days=7), policy)
    mix_shown = Counter({
        objective or "not set": number
        for objective, number in session.exec(
            select(Story.objective, func.count(col(Story.id))).where(
                Story.state == "published",
                col(Story.published_at) >= shown_start,
                col(Story.published_at) < shown_end,
            ).group_by(col(Story.objective))
        ).all()
    })
    return WeeklySummary(week_start, current, previous, tuple(story_reach), other_posts,
                         dict(mix), dict(mix_shown), chart)


def _figure_line(
    label: str, figure: Figure, previous: Figure, days: int, kind: str = ""
) -> tuple[str, str]:
    if figure.value is None:
        return label, "no data"
    details = []
    if kind == "reach":
        details.append("deduplicated" if figure.basis == DEDUPLICATED else "sum of daily")
    if figure.basis == SUMMED and figure.missing:
        details.append(f"{days - len(figure.missing)} of {days} days")
    text = f"{figure.value:,}" + (f" ({', '.join(details)})" if details else "")
    change = change_text(figure, previous)
    return label, f"{text} · {change}" if change else text


def percent_change(current: Figure, previous: Figure) -> float | None:
    if (current.value is None or not previous.value or why_not_comparable(current, previous)):
        return None
    return (current.value - previous.value) / previous.value * 100


def _mix_text(mix: Mapping[str, int]) -> str:
    if not mix:
        return "none"
    order = [*OBJECTIVES, "not set"]
    return ", ".join(f"{name} {mix[name]}" for name in order if mix.get(name))


def weekly_reply(summary: WeeklySummary, image: str | None = None) -> Reply:
    """The weekly summary as a neutral Reply; `image` is the chart file, if one was drawn."""
    week, previous = summary.current, summary.previous
    label = week_label(summary.week_start)
    end = summary.week_start + timedelta(days=6)
    span = f"{summary.week_start:%a %d %b}–{end:%a %d %b %Y}"
    heading = Heading(f"Reach, week {label} ({span})")
    if not week.has_data:
        missing = day_ranges(week.days) if week.days else "the whole week"
        text = (f"No reach figures for {label} yet: no data for {missing}. Run `storydesk "
                "reach fetch`, import a CSV, or enter a day with `/story reach add`.")
        return Reply(text=text, blocks=(heading, Paragraph(text)),
                     data={"week": label, "has_data": False})

    views_label = "Views" if week.views.metric == "views" else "Impressions"
    days = len(week.days)
    pairs = [
        _figure_line("Accounts reached", week.reached, previous.reached, days, "reach"),
        _figure_line("Followers reached", week.followers_reached, previous.followers_reached,
                     days, "reach"),
        _figure_line("Non-followers reached", week.non_followers, previous.non_followers,
                     days, "reach"),
        ("Non-follower share", _with_change(week.share, previous.share)),
        _figure_line(views_label, week.views, previous.views, days),
        (f"Reach ratio (reached / {views_label.lower()})",
         _with_change(week.ratio, previous.ratio)),
    ]
    followers_label = "Followers at week end"
    if week.followers.note:
        followers_label += f" ({week.followers.note})"
    pairs.append(_figure_line(followers_label, week.followers, previous.followers, days))
    if week.new_followers.value is not None:
        pairs.append(_figure_line("New followers", week.new_followers, previous.new_followers,
                                  days))
    blocks: list[Heading | Paragraph | Fields | Bullets | Image] = [heading, Fields(tuple(pairs))]

    notes = []
    gaps = {
        measure: figure.missing
        for measure, figure in (("accounts reached", week.reached),
                              ("non-followers reached", week.non_followers),
                              (views_label.lower(), week.views))
        if figure.value is not None and figure.basis == SUMMED and figure.missing
    }
    if gaps:
        groups: dict[tuple[date, ...], list[str]] = {}
        for measure, missing_days in gaps.items():
            groups.setdefault(missing_days, []).append(measure)
        if len(groups) == 1:
            where = day_ranges(next(iter(groups)))
        else:
            where = "; ".join(f"{day_ranges(missing_days)} ({', '.join(measures)})"
                              for missing_days, measures in groups.items())
        notes.append(f"No data for {where}: those days are left out, not counted as zero.")
    if SUMMED in (week.reached.basis, week.non_followers.basis) and week.reached.value:
        notes.append("Reach summed over days counts an account reached on two days twice; "
                     "the week's true reach is lower.")
    if week.views.note:
        notes.append(week.views.note[0].upper() + week.views.note[1:] + ".")
    if summary.week_start <= VIEWS_SINCE <= end or summary.chart.views_from == summary.week_start:
        notes.append("Instagram replaced impressions by views on 21 April 2025; figures "
                     "before and after are not compared.")
    blocks.extend(Paragraph(note) for note in notes)

    blocks.append(Heading("Stories published this week"))
    if summary.stories:
        lines = []
        for story in summary.stories:
            reach = (f"{story.reach:,} accounts reached" if story.reach is not None
                     else "no figures yet")
            lines.append(f"#{story.story_id} {story.title} by {story.author} — {reach}")
        blocks.append(Bullets(tuple(lines)))
    else:
        blocks.append(Paragraph("None."))
    if summary.other_posts:
        blocks.append(Paragraph(f"Also {summary.other_posts} post(s) not tracked as stories."))
    best = summary.best
    if best is not None and best.reach is not None:
        blocks.append(Paragraph(
            f"Best story: #{best.story_id} {best.title} by {best.author}, "
            f"{best.reach:,} accounts reached. Thank you, {best.author}!"
        ))
    blocks.append(Paragraph(
        f"Objective mix this week: {_mix_text(summary.objective_mix)}; "
        f"over the {WEEKS_SHOWN} weeks shown: {_mix_text(summary.objective_mix_shown)}."
    ))
    if image:
        blocks.append(Image(image, summary.chart.title))

    gist = f"Week {label}: {count(week.reached.value)} accounts reached"
    change = percent_change(week.reached, previous.reached)
    if change is not None:
        gist += f" ({change:+.1f}% on the week before)"
    if week.share.value is not None:
        gist += f", {percent(week.share.value)} non-followers"
    published = len(summary.stories)
    gist += f", {published} {'story' if published == 1 else 'stories'} published."
    return Reply(text=gist, blocks=tuple(blocks),
                 data={"week": label, "has_data": True})


def _with_change(current: Ratio, previous: Ratio) -> str:
    if current.value is None:
        return "no data"
    change = ratio_change_text(current, previous)
    return f"{percent(current.value)} · {change}" if change else percent(current.value)


def weekly_summary(
    session: Session, actor: Member, now: datetime, policy: Policy, week: str | None = None,
    *, chart: ChartMaker | None = None,
) -> Reply:
    """`/story reach [YYYY-Www]`: the weekly summary on demand, for anyone."""
    summary = build_weekly(session, now, policy, parse_week(week) if week else None)
    image = chart(summary.chart) if chart and summary.current.has_data else None
    return weekly_reply(summary, image)
