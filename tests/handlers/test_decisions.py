"""Pure decisions: reviewer choice, legal moves, publication slots. No database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.decisions import (
    MOVES,
    STATES,
    CadenceSlot,
    Candidate,
    cadence_slots,
    choose_reviewer,
    illegal_move_message,
    local_datetime,
    moves_from,
    next_free_slot,
)

BERLIN = ZoneInfo("Europe/Berlin")
TUE_THU_18 = (CadenceSlot(1, time(18, 0)), CadenceSlot(3, time(18, 0)))
TODAY = date(2026, 11, 23)
LATER = date(2026, 12, 7)


def cand(
    member_id: int,
    name: str,
    open_reviews: int,
    last: datetime | None = None,
    away: list[tuple[date, date]] | None = None,
) -> Candidate:
    return Candidate(member_id, name, open_reviews, last, away or [])


def test_fewest_open_reviews_wins_and_the_reason_names_the_others() -> None:
    result = choose_reviewer(
        [cand(1, "Ada", 3), cand(2, "Ben", 2), cand(3, "Chloe", 4)], 9, TODAY, LATER
    )
    assert result.member_id == 2
    assert result.reason == "2 open reviews; the others have 3 and 4"


def test_ties_go_to_whoever_was_assigned_least_recently() -> None:
    earlier = datetime(2026, 11, 1, tzinfo=UTC)
    later = datetime(2026, 11, 20, tzinfo=UTC)
    result = choose_reviewer(
        [cand(1, "Ada", 1, later), cand(2, "Ben", 1, earlier), cand(3, "Chloe", 2)],
        9,
        TODAY,
        LATER,
    )
    assert result.member_id == 2
    assert "assigned least recently among the tied" in result.reason


def test_never_assigned_counts_as_least_recently() -> None:
    result = choose_reviewer(
        [cand(1, "Ada", 0, datetime(2026, 11, 1, tzinfo=UTC)), cand(2, "Ben", 0)],
        9,
        TODAY,
        LATER,
    )
    assert result.member_id == 2


def test_never_the_author() -> None:
    result = choose_reviewer([cand(1, "Ada", 0), cand(2, "Ben", 5)], 1, TODAY, LATER)
    assert result.member_id == 2
    assert "Ada is the author" in result.reason


def test_never_someone_away_for_the_dates_in_question() -> None:
    away = [(date(2026, 12, 1), date(2026, 12, 10))]
    result = choose_reviewer([cand(1, "Ada", 0, away=away), cand(2, "Ben", 3)], 9, TODAY, LATER)
    assert result.member_id == 2
    assert "Ada is away until 2026-12-10" in result.reason


def test_away_outside_the_dates_does_not_count() -> None:
    away = [(date(2027, 1, 1), date(2027, 1, 10))]
    result = choose_reviewer([cand(1, "Ada", 0, away=away), cand(2, "Ben", 3)], 9, TODAY, LATER)
    assert result.member_id == 1


def test_nobody_available_says_why() -> None:
    result = choose_reviewer([cand(1, "Ada", 0)], 1, TODAY, LATER)
    assert result.member_id is None
    assert result.reason == "no coordinator is available: Ada is the author"
    assert choose_reviewer([], 1, TODAY, LATER).reason == (
        "no coordinator is available: the team has none yet; `/story team` says how to start")


def test_every_state_but_the_final_ones_has_a_way_forward() -> None:
    for state in STATES:
        names = {move.name for move in moves_from(state)}
        if state in {"declined", "published", "withdrawn"}:
            assert names == set()
        else:
            assert "withdraw" in names


def test_the_lifecycle_of_the_brief() -> None:
    assert MOVES["accept"].sources == {"pitched"}
    assert MOVES["draft"].sources == {"accepted", "drafting", "changes_requested"}
    assert MOVES["approve"].sources == {"in_review"}
    assert MOVES["changes"].target == "changes_requested"
    assert MOVES["publish"].target == "published"


def test_an_illegal_move_says_what_is_possible() -> None:
    message = illegal_move_message(12, "in_review", "accept")
    assert message == (
        "Story #12 is in review, so you cannot accept it. From here: changes, approve, "
        "withdraw, reassign."
    )
    assert "nothing else can happen" in illegal_move_message(3, "published", "approve")


def test_cadence_slots_are_local_times_in_utc() -> None:
    start = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    slots = cadence_slots(start, start + timedelta(days=7), TUE_THU_18, BERLIN)
    assert slots == [
        datetime(2026, 11, 24, 17, 0, tzinfo=UTC),
        datetime(2026, 11, 26, 17, 0, tzinfo=UTC),
    ]


def test_next_free_slot_skips_taken_ones() -> None:
    after = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    taken = [datetime(2026, 11, 24, 17, 0, tzinfo=UTC)]
    assert next_free_slot(after, TUE_THU_18, BERLIN, taken) == datetime(
        2026, 11, 26, 17, 0, tzinfo=UTC
    )


def test_next_free_slot_uses_extra_slots() -> None:
    after = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    extra = [datetime(2026, 11, 23, 15, 0, tzinfo=UTC)]
    assert next_free_slot(after, TUE_THU_18, BERLIN, [], extra) == extra[0]


def test_next_free_slot_across_the_daylight_saving_change() -> None:
    # Clocks go back on Sunday 2026-10-25 in Berlin: 18:00 is 16:00 UTC before, 17:00 after.
    after = datetime(2026, 10, 22, 17, 0, tzinfo=UTC)  # Thursday 19:00 local, slot passed
    slot = next_free_slot(after, TUE_THU_18, BERLIN, [])
    assert slot == datetime(2026, 10, 27, 17, 0, tzinfo=UTC)
    assert slot is not None and slot.astimezone(BERLIN).hour == 18
    before = next_free_slot(datetime(2026, 10, 19, 0, 0, tzinfo=UTC), TUE_THU_18, BERLIN, [])
    assert before == datetime(2026, 10, 20, 16, 0, tzinfo=UTC)


def test_a_time_the_clock_skips_does_not_exist() -> None:
    assert local_datetime(date(2026, 3, 29), time(2, 30), BERLIN) is None
    assert local_datetime(date(2026, 3, 29), time(3, 30), BERLIN) is not None
    gap_cadence = (CadenceSlot(6, time(2, 30)),)
    slot = next_free_slot(datetime(2026, 3, 27, tzinfo=UTC), gap_cadence, BERLIN, [])
    assert slot == datetime(2026, 4, 5, 0, 30, tzinfo=UTC)
