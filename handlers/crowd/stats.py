"""`/story stats [months]`: contributions per member, the balance of objectives and formats
against their targets, members not heard from, the median days from pitch to post, kind
nudges and what came of them, and the people featured against the group's make-up.

Coordinators see everything, as a reply only they can see; a contributor sees their own
figures and the group's totals, never another member's. Profiles appear only in
aggregate, under the small-group rule of `decisions.make_up`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from handlers.context import Policy
from handlers.crowd.decisions import (
    BALANCE_WEEKS,
    BalanceRow,
    GroupCount,
    balance,
    balance_line,
    furthest_below,
    gender_key,
    make_up,
    median_days,
    month_starts,
    months_before,
    share_text,
)
from handlers.decisions import FORMATS, OBJECTIVE_HINTS, OBJECTIVES
from handlers.errors import Refused
from handlers.members import is_coordinator
from handlers.outbox import post_to_channel, queued_everywhere
from handlers.reach.summary import DIGEST_WINDOW, posts_for
from handlers.reply import (
    Block,
    Bullets,
    Code,
    Fields,
    Heading,
    Image,
    Paragraph,
    Reply,
    plural,
)
from handlers.timing import weekly_due
from storage.crowd import MemberProfile, StoryFeature
from storage.models import Member, Outbound, Story, StoryEvent

DEFAULT_MONTHS = 12
MAX_MONTHS = 120
NUDGE_KEY_PREFIX = "crowd-nudge:"
NAMES_SHOWN = 40


@dataclass(frozen=True)
class MemberFigures:
    member_id: int
    name: str
    pitches: int
    published: int
    reach: int  # the sum of the published stories' reach, where known
    with_figures: int  # how many of the published stories have a reach figure


@dataclass(frozen=True)
class Comparison:
    """One dimension of the group's make-up beside the people featured."""

    dimension: str
    group: tuple[GroupCount, ...]
    featured: tuple[GroupCount, ...]


@dataclass(frozen=True)
class CrowdStats:
    months: int
    first_day: date
    last_day: date
    group_size: int
    per_member: tuple[MemberFigures, ...]
    contributors: int
    pitches: int
    published: int
    reach: int
    with_figures: int
    silent: tuple[str, ...]
    silent_months: int
    objectives: tuple[BalanceRow, ...]
    formats: tuple[BalanceRow, ...]
    median_days: float | None
    timed_stories: int
    monthly: tuple[tuple[date, int, int], ...]  # month start, pitches, published
    nudged: int
    pitched_after: int
    diversity: tuple[Comparison, ...]
    featured_people: int


# --- reading ----------------------------------------------------------------------------


def window_start(now: datetime, policy: Policy, months: int) -> tuple[date, datetime]:
    """The first local day of a rolling window of `months` months ending today, and the
    instant it starts."""
    today = now.astimezone(policy.zone).date()
    first = months_before(today, months) + timedelta(days=1)
    return first, datetime.combine(first, time(0), tzinfo=policy.zone).astimezone(UTC)


def last_heard(session: Session) -> dict[int, datetime]:
    """Each member's last sign of life: a pitch, or anything done to a story."""
    heard: dict[int, datetime] = {}
    pitches = session.exec(
        select(Story.author_id, func.max(Story.created_at)).group_by(col(Story.author_id))
    ).all()
    actions = session.exec(
        select(StoryEvent.actor_id, func.max(StoryEvent.at))
        .where(col(StoryEvent.actor_id).is_not(None)).group_by(col(StoryEvent.actor_id))
    ).all()
    for member_id, at in [*pitches, *actions]:
        if member_id is not None and at is not None:
            heard[member_id] = max(at, heard.get(member_id, at))
    return heard


def silent_members(members: Sequence[Member], heard: dict[int, datetime],
                   since: datetime) -> list[Member]:
    """Members with no sign of life since `since` who have been known that long."""
    result = []
    for member in members:
        assert member.id is not None
        latest = heard.get(member.id) or member.created_at
        if latest is None or latest < since:
            result.append(member)
    return result


def objective_counts(session: Session, since: datetime, until: datetime,
                     column: str = "objective") -> Counter[str]:
    """Stories published in [since, until), or scheduled, by objective (or format)."""
    field = col(Story.objective) if column == "objective" else col(Story.format)
    rows = session.exec(
        select(field, Story.state, Story.published_at, Story.scheduled_at)
        .where(field.is_not(None), or_(
            and_(col(Story.state) == "published", col(Story.published_at) >= since),
            and_(col(Story.state) == "scheduled", col(Story.scheduled_at) >= since)))
    ).all()
    counts: Counter[str] = Counter()
    for value, state, published_at, scheduled_at in rows:
        moment = published_at if state == "published" else scheduled_at
        upper = until if state == "published" else None
        if value is not None and moment is not None and since <= moment \
                and (upper is None or moment < upper):
            counts[value] += 1
    return counts


def objective_balance(session: Session, now: datetime, policy: Policy,
                      weeks: int = BALANCE_WEEKS) -> tuple[BalanceRow, ...]:
    """The objectives of the last `weeks` weeks (and what is scheduled) against targets."""
    counts = objective_counts(session, now - timedelta(weeks=weeks), now + timedelta(days=1))
    return balance(counts, OBJECTIVES, policy.crowd.objective_targets)


def lacking_objective(session: Session, now: datetime, policy: Policy) -> BalanceRow | None:
    """The objective furthest below its target over the last twelve weeks."""
    return furthest_below(objective_balance(session, now, policy))


def lacking_line(row: BalanceRow) -> str:
    """One sentence naming what the schedule lacks, for posts and nudges."""
    share = 0.0 if row.share is None else row.share * 100
    return (f"Most wanted: a #{row.name} story ({OBJECTIVE_HINTS[row.name]}): "
            f"{share:.0f}% of the last {BALANCE_WEEKS} weeks' stories against a target of "
            f"{row.target}%.")


def wanted_objective_line(session: Session, now: datetime, policy: Policy) -> str | None:
    """For the coming-week post and the call for pitches: what the schedule lacks most."""
    row = lacking_objective(session, now, policy)
    return lacking_line(row) if row is not None else None


def _nudges(session: Session, since: datetime) -> tuple[int, int]:
    """Members nudged in the window, and how many of them pitched after their nudge."""
    rows = session.exec(
        select(Outbound.member_id, func.min(Outbound.created_at))
        .where(col(Outbound.unique_key).like(f"{NUDGE_KEY_PREFIX}%"),
               col(Outbound.status).in_(["pending", "sending", "sent"]),
               col(Outbound.created_at) >= since)
        .group_by(col(Outbound.member_id))
    ).all()
    first_nudge = {member_id: at for member_id, at in rows if member_id is not None and at}
    if not first_nudge:
        return 0, 0
    pitched = {
        author for author, created in session.exec(
            select(Story.author_id, Story.created_at)
            .where(col(Story.author_id).in_(list(first_nudge)))
        ).all()
        if created is not None and created > first_nudge[author]
    }
    return len(first_nudge), len(pitched)


def _diversity(session: Session, members: Sequence[Member],
               published: Sequence[Story]) -> tuple[tuple[Comparison, ...], int]:
    profiles = {p.member_id: p for p in session.exec(select(MemberProfile)).all()}
    story_ids = [s.id for s in published if s.id is not None]
    featured_ids = set(session.exec(
        select(StoryFeature.member_id).where(col(StoryFeature.story_id).in_(story_ids or [-1]))
    ).all())
    member_ids = [m.id for m in members if m.id is not None]

    def values(ids: Iterable[int], field: str) -> list[str | None]:
        result: list[str | None] = []
        for member_id in ids:
            profile = profiles.get(member_id)
            value = getattr(profile, field) if profile else None
            result.append(gender_key(value) if field == "gender" else value)
        return result

    comparisons = tuple(
        Comparison(label, make_up(values(member_ids, field)), make_up(values(featured_ids, field)))
        for field, label in (("career", "Career stage"), ("country", "Nationality"),
                             ("gender", "Gender"))
    )
    return comparisons, len(featured_ids)


def build_stats(session: Session, now: datetime, policy: Policy,
                months: int = DEFAULT_MONTHS) -> CrowdStats:
    """Every figure of the stats over the rolling window of `months` months ending now."""
    if not 1 <= months <= MAX_MONTHS:
        raise Refused(f"Give a number of months from 1 to {MAX_MONTHS} (12 by default).")
    first_day, start = window_start(now, policy, months)
    members = list(session.exec(select(Member).order_by(col(Member.id))).all())
    pitched = list(session.exec(
        select(Story).where(col(Story.created_at) >= start, col(Story.created_at) <= now)
    ).all())
    published = list(session.exec(
        select(Story).where(Story.state == "published", col(Story.published_at) >= start,
                            col(Story.published_at) <= now)
        .order_by(col(Story.published_at), col(Story.id))
    ).all())
    posts = posts_for(session, published)
    reach_of = {sid: post.reach for sid, post in posts.items() if post.reach is not None}
    pitch_count = Counter(story.author_id for story in pitched)
    published_count = Counter(story.author_id for story in published)
    reach_sum: Counter[int] = Counter()
    known: Counter[int] = Counter()
    for story in published:
        assert story.id is not None
        if story.id in reach_of:
            reach_sum[story.author_id] += reach_of[story.id]
            known[story.author_id] += 1
    per_member = tuple(
        MemberFigures(m.id, m.display_name, pitch_count[m.id], published_count[m.id],
                      reach_sum[m.id], known[m.id])
        for m in members if m.id is not None and (pitch_count[m.id] or published_count[m.id])
    )
    silent_since = datetime.combine(
        months_before(now.astimezone(policy.zone).date(), policy.crowd.nudge_after_months),
        time(0), tzinfo=policy.zone).astimezone(UTC)
    silent = silent_members(members, last_heard(session), silent_since)
    until = now + timedelta(seconds=1)
    objectives = balance(objective_counts(session, start, until, "objective"), OBJECTIVES,
                         policy.crowd.objective_targets)
    formats = balance(objective_counts(session, start, until, "format"), FORMATS,
                      policy.crowd.format_targets)
    spans = [(s.created_at, s.published_at) for s in published
             if s.created_at is not None and s.published_at is not None]
    zone = policy.zone
    monthly = tuple(
        (month,
         sum(1 for s in pitched if s.created_at and _month(s.created_at, zone) == month),
         sum(1 for s in published if s.published_at and _month(s.published_at, zone) == month))
        for month in month_starts(first_day, now.astimezone(zone).date())
    )
    nudged, pitched_after = _nudges(session, start)
    diversity, featured_people = _diversity(session, members, published)
    return CrowdStats(
        months=months, first_day=first_day, last_day=now.astimezone(zone).date(),
        group_size=len(members), per_member=per_member,
        contributors=len(set(pitch_count) | set(published_count)),
        pitches=len(pitched), published=len(published), reach=sum(reach_of.values()),
        with_figures=len(reach_of), silent=tuple(m.display_name for m in silent),
        silent_months=policy.crowd.nudge_after_months, objectives=objectives,
        formats=formats, median_days=median_days(spans), timed_stories=len(spans),
        monthly=monthly, nudged=nudged, pitched_after=pitched_after, diversity=diversity,
        featured_people=featured_people,
    )


def _month(moment: datetime, zone: ZoneInfo) -> date:
    local = moment.astimezone(zone)
    return date(local.year, local.month, 1)


# --- replies ------------------------------------------------------------------------------


def _reach_text(reach: int, with_figures: int, published: int) -> str:
    if not published:
        return "no published stories"
    if not with_figures:
        return "no reach figures yet"
    partial = "" if with_figures == published else f" ({with_figures} of {published} with figures)"
    return f"{reach:,} accounts reached{partial}"


def _median_text(stats: CrowdStats) -> str:
    if stats.median_days is None:
        return "no story published in this window"
    stories = plural(stats.timed_stories, "story", "stories")
    return f"{stats.median_days:.1f} days (over {stories})"


def _totals(stats: CrowdStats) -> Fields:
    return Fields((
        ("Window", f"{stats.first_day:%d %b %Y} to {stats.last_day:%d %b %Y} "
                   f"({plural(stats.months, 'month')})"),
        ("Pitches", str(stats.pitches)),
        ("Published", str(stats.published)),
        ("Reach of the published stories", _reach_text(stats.reach, stats.with_figures,
                                                       stats.published)),
        ("Contributed at least once", share_text(stats.contributors, stats.group_size)),
        ("Median days from pitch to post", _median_text(stats)),
    ))


def _balance_blocks(stats: CrowdStats) -> list[Block]:
    blocks: list[Block] = [Paragraph("Objectives (published and scheduled) against targets:"),
                           Bullets(tuple(balance_line(row) for row in stats.objectives))]
    lacking = furthest_below(stats.objectives)
    if lacking is not None:
        blocks.append(Paragraph(f"Furthest below its target: {lacking.name}."))
    label = "Formats against targets:" if any(r.target is not None for r in stats.formats) \
        else "Formats (no targets set):"
    blocks += [Paragraph(label), Bullets(tuple(balance_line(row) for row in stats.formats))]
    return blocks


def member_table(rows: Sequence[MemberFigures]) -> str:
    ordered = sorted(rows, key=lambda r: (-r.published, -r.pitches, r.name.casefold()))
    width = max([len("member"), *(len(r.name[:24]) for r in ordered)])
    lines = [f"{'member':<{width}}  pitches  published  reach"]
    for row in ordered:
        reach = f"{row.reach:,}" if row.with_figures else "—"
        lines.append(f"{row.name[:24]:<{width}}  {row.pitches:>7}  {row.published:>9}  {reach}")
    return "\n".join(lines)


def _diversity_blocks(stats: CrowdStats) -> list[Block]:
    blocks: list[Block] = [Heading("People featured and the group's make-up")]
    if not stats.featured_people:
        blocks.append(Paragraph(
            "No member is linked to a published story in this window yet "
            "(`/story feature N @person`)."))
    lines = []
    for comparison in stats.diversity:
        group = "; ".join(c.text() for c in comparison.group) or "nobody"
        featured = "; ".join(c.text() for c in comparison.featured) or "nobody"
        lines.append(f"{comparison.dimension}: group {group}. Featured {featured}.")
    blocks.append(Bullets(tuple(lines)))
    blocks.append(Paragraph(
        f"From opt-in profiles (`/story profile`); {stats.featured_people} people featured. "
        "Any group smaller than 5 is shown as \"fewer than 5\" or counted with other "
        "answers, so that no one can be picked out."))
    return blocks


def coordinator_reply(stats: CrowdStats, image: str | None = None) -> Reply:
    months = plural(stats.months, "month")
    text = (f"Crowd health, last {months}: {plural(stats.pitches, 'pitch', 'pitches')}, "
            f"{stats.published} "
            f"published, {share_text(stats.contributors, stats.group_size)} members "
            f"contributed; {len(stats.silent)} not heard from in {stats.silent_months} months.")
    blocks: list[Block] = [Heading(f"Crowd health, last {months}"), _totals(stats)]
    if stats.per_member:
        blocks += [Paragraph("Per member:"), Code(member_table(stats.per_member))]
    silent = list(stats.silent)
    shown = ", ".join(silent[:NAMES_SHOWN]) + (
        f" and {len(silent) - NAMES_SHOWN} more" if len(silent) > NAMES_SHOWN else "")
    blocks.append(Paragraph(
        f"Not heard from in {stats.silent_months} months: {len(silent)}"
        + (f" ({shown})." if silent else ".")))
    blocks.append(Paragraph(
        f"Kind nudges in this window: {plural(stats.nudged, 'member')} nudged, "
        f"{stats.pitched_after} pitched afterwards."))
    blocks += _balance_blocks(stats)
    blocks += _diversity_blocks(stats)
    if image:
        blocks.append(Image(image, "Contributions over time and objective balance"))
    return Reply(text=text, blocks=tuple(blocks), visibility="ephemeral",
                 data={"months": stats.months})


def contributor_reply(stats: CrowdStats, actor: Member) -> Reply:
    mine = next((row for row in stats.per_member if row.member_id == actor.id), None)
    pitches, published = (mine.pitches, mine.published) if mine else (0, 0)
    reach = _reach_text(mine.reach, mine.with_figures, mine.published) if mine \
        else "no published stories"
    months = plural(stats.months, "month")
    text = (f"Your last {months}: {plural(pitches, 'pitch', 'pitches')}, {published} "
            f"published. The group: {stats.pitches} pitches, {stats.published} published.")
    blocks: list[Block] = [
        Heading(f"Your last {months}"),
        Fields((("Your pitches", str(pitches)), ("Your published stories", str(published)),
                ("What they reached", reach))),
        Heading("The whole group"),
        _totals(stats),
        Paragraph(f"Members not heard from in {stats.silent_months} months: "
                  f"{len(stats.silent)}."),
        *_balance_blocks(stats),
        Paragraph("`/story impact` lists your stories and what each reached."),
    ]
    return Reply(text=text, blocks=tuple(blocks), visibility="ephemeral")


def stats(session: Session, actor: Member, now: datetime, policy: Policy,
          months: int = DEFAULT_MONTHS) -> Reply:
    """`/story stats [months]`: everything for coordinators; one's own and the totals for
    everyone else. Always a reply only the asker sees."""
    figures = build_stats(session, now, policy, months)
    if is_coordinator(actor):
        return coordinator_reply(figures)
    return contributor_reply(figures, actor)


# --- the monthly crowd-health post ------------------------------------------------------------

def monthly_key(moment: datetime) -> str:
    return f"crowd:monthly:{moment:%Y-%m}"


def team_post_reply(stats: CrowdStats, image: str | None = None) -> Reply:
    """The coordinators' channel post: counts only. No names, no profiles: those stay in
    `/story stats`, whose answer only the asking coordinator sees."""
    months = plural(stats.months, "month")
    text = (f"Crowd health, last {months}: {plural(stats.pitches, 'pitch', 'pitches')}, "
            f"{stats.published} "
            f"published; {share_text(stats.contributors, stats.group_size)} members "
            "contributed.")
    blocks: list[Block] = [Heading(f"Crowd health, last {months}"), _totals(stats),
                           Paragraph(f"Not heard from in {stats.silent_months} months: "
                                     f"{len(stats.silent)}. Kind nudges: "
                                     f"{plural(stats.nudged, 'member')} nudged, "
                                     f"{stats.pitched_after} pitched afterwards."),
                           *_balance_blocks(stats),
                           Paragraph("`/story stats` gives you the names and the people "
                                     "featured, in a reply only you see.")]
    if image:
        blocks.append(Image(image, "Contributions over time and objective balance"))
    return Reply(text=text, blocks=tuple(blocks), visibility="in_channel",
                 data={"crowd_month": stats.last_day.isoformat()})


def monthly_moment(now: datetime, policy: Policy, *, weekday: int,
                   at: time) -> datetime | None:
    """The month's first posting moment (the reach summary's day and time), if `now` is
    within its window; a post missed for longer waits for next month."""
    moment = weekly_due(now, weekday, at, policy.zone, DIGEST_WINDOW)
    return moment if moment is not None and moment.day <= 7 else None


def monthly_due(session: Session, moment: datetime, policy: Policy) -> bool:
    """Is the crowd-health post of `moment`'s month still to be queued somewhere?"""
    return not queued_everywhere(session, monthly_key(moment), policy.channel_platforms)


def queue_monthly(session: Session, now: datetime, moment: datetime, policy: Policy,
                  reply: Reply) -> list[Outbound]:
    """Queue the crowd-health post for the coordinators' channel, once a month (by key)."""
    return post_to_channel(session, policy.channel_platforms, "team", reply,
                           key=monthly_key(moment), now=now)


def pending_monthly(session: Session) -> list[Outbound]:
    """Crowd-health posts not sent yet, whose chart may need drawing again."""
    return list(session.exec(select(Outbound).where(
        col(Outbound.unique_key).like("crowd:monthly:%"),
        col(Outbound.status).in_(["pending", "sending"]))).all())
