"""Pure decisions over plain data: who reviews, which moves are legal, which slot is next.

Nothing here touches a database or a clock; every input is passed in, so each rule is
unit-tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.reply import plural

OBJECTIVES = ("outreach", "scicomm", "training", "recruitment")
OBJECTIVE_HINTS = {
    "outreach": "spark interest, basic concepts",
    "scicomm": "new results, the people behind them",
    "training": "a member practising science communication",
    "recruitment": "life at the lab, for students and job seekers",
}
FORMATS = ("reel", "post", "carousel", "story", "collab")

STATES = (
    "pitched",
    "accepted",
    "declined",
    "drafting",
    "in_review",
    "changes_requested",
    "approved",
    "scheduled",
    "published",
    "withdrawn",
)
STATE_LABELS = {
    "pitched": "pitched",
    "accepted": "accepted",
    "declined": "declined",
    "drafting": "drafting",
    "in_review": "in review",
    "changes_requested": "changes requested",
    "approved": "approved",
    "scheduled": "scheduled",
    "published": "published",
    "withdrawn": "withdrawn",
}
FINAL_STATES = frozenset({"declined", "published", "withdrawn"})
OPEN_REVIEW_STATES = frozenset(
    {"pitched", "accepted", "drafting", "in_review", "changes_requested"}
)
DRAFTING_STATES = frozenset({"accepted", "drafting", "changes_requested"})


@dataclass(frozen=True)
class Move:
    """A lifecycle action: from which states, to which state, and who may do it."""

    name: str
    label: str
    sources: frozenset[str]
    target: str | None  # None: the state does not change (reassign)
    who: str  # "coordinator", "author" or "author_or_coordinator"


MOVES: dict[str, Move] = {
    move.name: move
    for move in (
        Move("accept", "accept", frozenset({"pitched"}), "accepted", "coordinator"),
        Move("decline", "decline", frozenset({"pitched", "accepted"}), "declined", "coordinator"),
        Move("start", "start drafting", frozenset({"accepted"}), "drafting", "author"),
        Move(
            "draft",
            "submit a draft",
            DRAFTING_STATES,
            "in_review",
            "author_or_coordinator",
        ),
        Move(
            "changes",
            "request changes",
            frozenset({"in_review"}),
            "changes_requested",
            "coordinator",
        ),
        Move("approve", "approve", frozenset({"in_review"}), "approved", "coordinator"),
        Move(
            "schedule", "schedule", frozenset({"approved", "scheduled"}), "scheduled", "coordinator"
        ),
        Move(
            "publish", "publish", frozenset({"approved", "scheduled"}), "published", "coordinator"
        ),
        Move(
            "withdraw",
            "withdraw",
            frozenset(STATES) - FINAL_STATES,
            "withdrawn",
            "author_or_coordinator",
        ),
        Move(
            "reassign",
            "reassign",
            frozenset(STATES) - FINAL_STATES - {"scheduled"},
            None,
            "coordinator",
        ),
    )
}


def moves_from(state: str) -> list[Move]:
    return [move for move in MOVES.values() if state in move.sources]


def illegal_move_message(story_id: int, state: str, move_name: str) -> str:
    """The sentence for a move that the story's state does not allow."""
    move = MOVES[move_name]
    possible = [m.name for m in moves_from(state)]
    where = f"Story #{story_id} is {STATE_LABELS[state]}"
    if not possible:
        return f"{where}, so it cannot {move.label} any more: nothing else can happen to it."
    return f"{where}, so you cannot {move.label} it. From here: {', '.join(possible)}."


# --- reviewer assignment --------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    member_id: int
    name: str
    open_reviews: int
    last_assigned_at: datetime | None
    away: Sequence[tuple[date, date]] = ()


@dataclass(frozen=True)
class Assignment:
    member_id: int | None
    reason: str


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def is_away(candidate: Candidate, first: date, last: date) -> bool:
    return any(start <= last and first <= end for start, end in candidate.away)


def choose_reviewer(
    candidates: Iterable[Candidate], author_id: int, first_day: date, last_day: date
) -> Assignment:
    """Fewest open reviews first; ties to whoever was assigned least recently.

    Never the author; never someone away between `first_day` and `last_day`.
    """
    eligible: list[Candidate] = []
    excluded: list[str] = []
    for candidate in candidates:
        if candidate.member_id == author_id:
            excluded.append(f"{candidate.name} is the author")
        elif is_away(candidate, first_day, last_day):
            back = max(end for start, end in candidate.away if start <= last_day)
            excluded.append(f"{candidate.name} is away until {back.isoformat()}")
        else:
            eligible.append(candidate)
    if not eligible:
        why = ("; ".join(excluded) if excluded
               else "the team has none yet; `/story team` says how to start")
        # A colon, not parentheses: the reason is itself shown in parentheses.
        return Assignment(None, f"no coordinator is available: {why}")

    never = datetime.min.replace(tzinfo=UTC)
    eligible.sort(key=lambda c: (c.open_reviews, c.last_assigned_at or never, c.member_id))
    chosen, others = eligible[0], eligible[1:]
    reason = plural(chosen.open_reviews, "open review")
    if others:
        counts = [str(c.open_reviews) for c in others]
        if all(c.open_reviews == chosen.open_reviews for c in others):
            reason += ", like the others; assigned least recently"
        else:
            verb = "has" if len(others) == 1 else "have"
            noun = "the other" if len(others) == 1 else "the others"
            reason += f"; {noun} {verb} {_join(counts)}"
            ties = [c for c in others if c.open_reviews == chosen.open_reviews]
            if ties:
                reason += "; assigned least recently among the tied"
    if excluded:
        reason += f" ({'; '.join(excluded)})"
    return Assignment(chosen.member_id, reason)


# --- publication slots ----------------------------------------------------------------


@dataclass(frozen=True)
class CadenceSlot:
    weekday: int  # 0 = Monday
    at: time


def local_datetime(day: date, at: time, zone: ZoneInfo) -> datetime | None:
    """The aware datetime for a local wall-clock time, or None if the clock skips it.

    In the spring daylight-saving gap (02:30 on the last Sunday of March in Berlin) the
    wall-clock time does not exist; a round trip through UTC reveals it.
    """
    candidate = datetime.combine(day, at, tzinfo=zone)
    round_trip = candidate.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != candidate.replace(tzinfo=None):
        return None
    return candidate


def cadence_slots(
    start: datetime, end: datetime, cadence: Sequence[CadenceSlot], zone: ZoneInfo
) -> list[datetime]:
    """Every cadence slot with start <= slot < end, as aware UTC datetimes, in order."""
    slots: list[datetime] = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last_day:
        for slot in cadence:
            if slot.weekday == day.weekday():
                local = local_datetime(day, slot.at, zone)
                if local is None:
                    continue
                instant = local.astimezone(UTC)
                if start <= instant < end:
                    slots.append(instant)
        day += timedelta(days=1)
    return sorted(slots)


def next_free_slot(
    after: datetime,
    cadence: Sequence[CadenceSlot],
    zone: ZoneInfo,
    taken: Iterable[datetime],
    extra_slots: Iterable[datetime] = (),
    horizon_days: int = 366,
) -> datetime | None:
    """The first publication slot strictly after `after` with no story in it."""
    taken_set = {t.astimezone(UTC) for t in taken}
    end = after + timedelta(days=horizon_days)
    candidates = cadence_slots(after, end, cadence, zone)
    candidates += [s.astimezone(UTC) for s in extra_slots if after < s < end]
    for slot in sorted(set(candidates)):
        if slot > after and slot not in taken_set:
            return slot
    return None


def same_local_day(a: datetime, b: datetime, zone: ZoneInfo) -> bool:
    return a.astimezone(zone).date() == b.astimezone(zone).date()
