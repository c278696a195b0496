"""The fan-out benchmark's Slack-like server counts refused calls against its limits, as the
dispatcher's pause after a 429 assumes the platforms do."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.conftest import load_bench


@pytest.fixture
def fanout(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_bench("fanout", monkeypatch)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def call(limits: Any, clock: Clock, moment: float, channel: str) -> str:
    clock.now = moment
    verdict: str = limits.decide(channel, None)
    return verdict


def test_a_call_refused_over_the_rate_still_fills_its_second(fanout: ModuleType) -> None:
    clock = Clock()
    limits = fanout.Limits(rate=1, throttle_share=0.0, seed=1, clock=clock)
    assert call(limits, clock, 100.0, "U1") == "ok"
    assert call(limits, clock, 100.5, "U2") == "429"
    # the accepted call is over a second old, the refused one is not: still over the rate
    assert call(limits, clock, 101.2, "U3") == "429"
    assert call(limits, clock, 102.3, "U4") == "ok"
    assert limits.calls["rate_429"] == 2


def test_a_call_refused_at_random_counts_against_its_channel(fanout: ModuleType) -> None:
    clock = Clock()
    limits = fanout.Limits(rate=50, throttle_share=1.0, seed=1, clock=clock)
    assert call(limits, clock, 100.0, "U1") == "429"
    limits.throttle_share = 0.0
    assert call(limits, clock, 100.5, "U1") == "429"
    assert limits.calls["channel_429"] == 1
    assert call(limits, clock, 101.6, "U1") == "ok"
