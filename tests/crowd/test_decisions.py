"""The pure rules of crowd health, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.settings import FORMAT_NAMES, OBJECTIVE_NAMES, SettingsError, load_settings
from handlers.crowd.decisions import (
    FEWER_THAN,
    OTHER,
    SMALL_GROUP,
    BalanceRow,
    ProfileInputError,
    balance,
    balance_line,
    furthest_below,
    make_up,
    median_days,
    month_starts,
    months_before,
    nudge_due,
    parse_profile,
    quarter_label,
)
from handlers.decisions import FORMATS, OBJECTIVES

TARGETS = (("outreach", 30), ("scicomm", 30), ("training", 15), ("recruitment", 25))


def test_settings_know_the_same_objectives_and_formats_as_the_handlers() -> None:
    assert OBJECTIVE_NAMES == OBJECTIVES
    assert FORMAT_NAMES == FORMATS


def test_objective_targets_are_read_and_validated_at_start_up() -> None:
    settings = load_settings({"STORYDESK_OBJECTIVE_TARGETS": "scicomm=40, outreach=20,"
                              "recruitment=20,training=20"}, env_file=None)
    assert settings.objective_targets == (("outreach", 20), ("scicomm", 40), ("training", 20),
                                          ("recruitment", 20))
    assert load_settings({}, env_file=None).objective_targets == TARGETS
    assert load_settings({"STORYDESK_FORMAT_TARGETS": "reel=60,post=40"},
                         env_file=None).format_targets == (("reel", 60), ("post", 40))
    for raw, problem in (
        ("outreach=30,scicomm=30,training=15,recruiting=25", "unknown objective 'recruiting'"),
        ("outreach=30,scicomm=30,training=15,recruitment=20", "add up to 95%, not 100%"),
        ("outreach=30,outreach=70", "outreach is given twice"),
        ("outreach:100", "expected objective=percent pairs"),
        ("outreach=lots", "expected a whole number"),
    ):
        with pytest.raises(SettingsError) as caught:
            load_settings({"STORYDESK_OBJECTIVE_TARGETS": raw}, env_file=None)
        assert caught.value.variable == "STORYDESK_OBJECTIVE_TARGETS"
        assert problem in caught.value.problem
    with pytest.raises(SettingsError, match="unknown format 'tiktok'"):
        load_settings({"STORYDESK_FORMAT_TARGETS": "tiktok=100"}, env_file=None)
    with pytest.raises(SettingsError, match="STORYDESK_NUDGE_AFTER_MONTHS"):
        load_settings({"STORYDESK_NUDGE_AFTER_MONTHS": "0"}, env_file=None)


def test_months_before_keeps_the_day_or_takes_the_months_last() -> None:
    assert months_before(date(2026, 11, 23), 6) == date(2026, 5, 23)
    assert months_before(date(2026, 8, 31), 6) == date(2026, 2, 28)
    assert months_before(date(2026, 3, 31), 13) == date(2025, 2, 28)
    assert months_before(date(2026, 1, 15), 1) == date(2025, 12, 15)
    assert month_starts(date(2025, 11, 24), date(2026, 2, 3)) == [
        date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]


def test_quarters() -> None:
    assert [quarter_label(date(2026, m, 1)) for m in (1, 3, 4, 6, 7, 9, 10, 12)] == [
        "2026-Q1", "2026-Q1", "2026-Q2", "2026-Q2", "2026-Q3", "2026-Q3", "2026-Q4",
        "2026-Q4"]


def test_balance_and_the_objective_furthest_below_its_target() -> None:
    rows = balance({"outreach": 6, "scicomm": 3, "recruitment": 1}, OBJECTIVES, TARGETS)
    assert [(r.name, r.count, r.share) for r in rows] == [
        ("outreach", 6, 0.6), ("scicomm", 3, 0.3), ("training", 0, 0.0),
        ("recruitment", 1, 0.1)]
    # training: 0% of 15% (15 below); recruitment: 10% of 25% (15 below): the larger
    # target wins the tie.
    lacking = furthest_below(rows)
    assert lacking is not None and lacking.name == "recruitment"
    assert balance_line(rows[0]) == "outreach 6 (60%; target 30%, 30 points above)"
    assert balance_line(rows[1]) == "scicomm 3 (30%; target 30%, on target)"
    assert balance_line(rows[2]) == "training 0 (0%; target 15%, 15 points below)"
    empty = balance({}, OBJECTIVES, TARGETS)
    assert furthest_below(empty) == BalanceRow("outreach", 0, None, 30)
    assert furthest_below(balance({"reel": 3}, FORMATS, ())) is None
    exact = balance({"outreach": 30, "scicomm": 30, "training": 15, "recruitment": 25},
                    OBJECTIVES, TARGETS)
    assert furthest_below(exact) is None


def test_median_days_from_pitch_to_post() -> None:
    day = datetime(2026, 1, 1, tzinfo=UTC)
    spans = [(day, day.replace(day=11)), (day, day.replace(day=4)),
             (day, day.replace(day=31)), (day, day.replace(day=21))]
    assert median_days(spans) == 15.0  # 3, 10, 20, 30 days
    assert median_days([]) is None


def test_nudge_rule() -> None:
    today = date(2026, 11, 23)
    silent = {"joined": date(2025, 1, 1), "after_months": 6}
    assert nudge_due(today, last_pitch=date(2026, 5, 23), last_nudge=None, **silent)
    assert not nudge_due(today, last_pitch=date(2026, 5, 24), last_nudge=None, **silent)
    assert nudge_due(today, last_pitch=None, last_nudge=None, **silent)
    # never pitched, but joined only four months ago: too early
    assert not nudge_due(today, joined=date(2026, 7, 1), last_pitch=None, last_nudge=None,
                         after_months=6)
    # at most one nudge in three months, also across a quarter's turn
    assert not nudge_due(today, last_pitch=None, last_nudge=date(2026, 9, 30), **silent)
    assert nudge_due(today, last_pitch=None, last_nudge=date(2026, 8, 23), **silent)


def test_small_groups_are_never_shown() -> None:
    values = ["phd"] * 12 + ["postdoc"] * 6 + ["staff"] * 3 + [None] * 5
    rows = make_up(values)
    # staff (3) alone would be deducible from the total, so the smallest shown group
    # ("not given", 5) joins it in the pooled row
    assert [(r.label, r.count) for r in rows] == [("phd", 12), ("postdoc", 6), (OTHER, 8)]
    assert all(r.count is None or r.count >= SMALL_GROUP for r in rows)
    assert make_up(["phd", "phd", "staff"])[0].text() == f"everyone: {FEWER_THAN}"
    assert make_up([]) == ()
    assert [r.text() for r in make_up(["phd"] * 5 + ["staff"] * 5)] == [
        "phd: 5 (50%)", "staff: 5 (50%)"]


@given(st.lists(st.sampled_from(["phd", "postdoc", "staff", "master", None, "x", "y"]),
                max_size=60))
def test_no_shown_count_is_below_five_nor_deducible(values: list[str | None]) -> None:
    rows = make_up(values)
    if not values:
        assert rows == ()
        return
    shown = [r.count for r in rows if r.count is not None]
    assert all(count >= SMALL_GROUP for count in shown)
    if shown:
        assert sum(shown) == len(values)  # nothing left over to be worked out


def test_profile_input() -> None:
    assert parse_profile(["career=PhD", "country=it", "gender=non", "binary"]) == {
        "career": "phd", "country": "IT", "gender": "non binary"}
    assert parse_profile(["gender="]) == {"gender": None}
    for words, problem in (
        (["career=professor"], "not one of bachelor, master, phd, postdoc, staff"),
        (["country=Germany"], "two-letter country code"),
        (["age=30"], "I don't understand 'age=30'"),
        (["career=phd", "career=staff"], "career is given twice"),
        (["gender=" + "x" * 41], "at most 40 characters"),
    ):
        with pytest.raises(ProfileInputError, match=problem):
            parse_profile(words)
