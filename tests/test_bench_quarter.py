"""The quarter benchmark's floor: what its own draws cost per published story, derived from
its rates, agrees with playing those draws out one story at a time."""

from __future__ import annotations

import random
from collections import Counter
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import load_bench


@pytest.fixture
def quarter(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_bench("quarter", monkeypatch)


def played_out(rates: Any, instagram: bool, lazy: bool) -> dict[str, float]:
    """Coordinator commands per published story over many pitches, drawn as the quarter
    draws them (decline, then the author's profile, then changes on every review)."""
    rng = random.Random(4)
    commands: Counter[str] = Counter()
    published = 0
    for _ in range(200_000):
        if rng.random() < rates.decline:
            commands["decline"] += 1
            continue
        if not lazy:
            commands["accept"] += 1
        if rng.random() < rates.never:
            continue
        while rng.random() < rates.changes:
            commands["changes"] += 1
        commands["approve"] += 1
        published += 1
        if not instagram:
            commands["published"] += 1
        elif rng.random() < rates.unsure:
            commands["confirm_post"] += 1
    return {name: count / published for name, count in commands.items()}


def test_the_floor_uses_the_rates_the_quarter_draws_with(quarter: ModuleType) -> None:
    drawn = quarter.Rates(quarter.DECLINE, dict(quarter.PROFILES)["never"], quarter.CHANGES,
                          quarter.UNSURE_CAPTION)
    assert drawn == quarter.SIMULATED


@pytest.mark.parametrize("group", ["simulated", "gentler", "gentlest"])
@pytest.mark.parametrize("instagram", [False, True])
@pytest.mark.parametrize("lazy", [False, True])
def test_floor_matches_the_draws_played_out(quarter: ModuleType, instagram: bool,
                                            lazy: bool, group: str) -> None:
    rates = {"simulated": quarter.SIMULATED, "gentler": quarter.GENTLER[0],
             "gentlest": quarter.GENTLER[1]}[group]
    derived = {k: v for k, v in quarter.floor(instagram, lazy, rates).items() if v}
    played = played_out(rates, instagram, lazy)
    assert derived.keys() == played.keys()
    for name, cost in derived.items():
        assert played[name] == pytest.approx(cost, rel=0.03), name


def test_a_missed_target_says_whether_the_draws_alone_exceed_it(quarter: ModuleType) -> None:
    explicit = quarter.Result("by hand, coordinators record", published=10)
    lazy = quarter.Result("lazy acceptance", published=10, lazy=True)
    for result in (explicit, lazy):
        result.commands["approve"] = 40
    assert quarter.verdict([explicit], 3.5).endswith(
        "4.00, NOT met (out of reach: the draws alone cost 3.72)")
    assert quarter.verdict([lazy], 3.5) == "lazy acceptance: 4.00, NOT met"
    lazy.commands["approve"] = 25
    assert quarter.verdict([lazy], 3.5) == "lazy acceptance: 2.50, met"


def test_the_report_says_what_acceptance_by_hand_would_need(quarter: ModuleType) -> None:
    """bench/README.md says only a group gentler than GENTLER[0] could meet ≤ 2.5 with
    Instagram by accepting by hand: true of the two gentler groups it names."""
    def by_hand(rates: Any) -> float:
        return float(sum(quarter.floor(True, False, rates).values()))

    assert by_hand(quarter.SIMULATED) > by_hand(quarter.GENTLER[0]) > 2.5
    assert by_hand(quarter.GENTLER[1]) <= 2.5
    line = quarter.gentler_line()
    assert "15% declined, 15% never finished, 25% of reviews asking for changes" in line
    assert f"{by_hand(quarter.GENTLER[0]):.2f} with it" in line
