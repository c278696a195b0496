"""The command runner with a request key: a copy of a request already handled does nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.commands import Caller, CommandRunner
from handlers.context import Policy
from handlers.stories import SAME_PITCH_WITHIN
from storage.db import read_session
from storage.models import Story

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
DANA = Caller("console", "dana", "Dana")


def titles(engine: Engine) -> list[str]:
    with read_session(engine) as session:
        return [s.title for s in session.exec(select(Story).order_by(Story.id)).all()]


def test_a_copy_gets_the_first_answer_and_changes_nothing(engine: Engine, policy: Policy) -> None:
    runner = CommandRunner(engine, policy)
    first = runner.run(DANA, "pitch", "Muons #scicomm", NOW, request_key="slack:view:V1:h1")
    again = runner.run(DANA, "pitch", "Muons #scicomm", NOW, request_key="slack:view:V1:h1")
    assert first.ok and not first.data.get("repeated")
    assert again.text == first.text and again.data["repeated"] is True
    assert titles(engine) == ["Muons"]
    # Another request (a form opened anew) is not a copy; the same pitch in it is still the
    # same pitch (handlers.stories.pitching), answered as such.
    other = runner.run(DANA, "pitch", "Muons #scicomm", NOW, request_key="slack:view:V2:h1")
    assert other.ok and not other.data.get("repeated")
    assert other.text.startswith("You pitched this a moment ago") and titles(engine) == ["Muons"]
    third = runner.run(DANA, "pitch", "Muons #outreach", NOW + SAME_PITCH_WITHIN * 2,
                       request_key="slack:view:V3:h1")
    assert third.ok and titles(engine) == ["Muons", "Muons"]


def test_a_refused_request_can_be_sent_again_with_the_same_key(
    engine: Engine, policy: Policy
) -> None:
    runner = CommandRunner(engine, policy)
    refused = runner.run(DANA, "story", "accept 1", NOW, request_key="k")
    assert not refused.ok
    assert runner.run(DANA, "pitch", "Muons", NOW, request_key="k").ok
    assert titles(engine) == ["Muons"]


def test_without_a_key_nothing_is_recorded(engine: Engine, policy: Policy) -> None:
    runner = CommandRunner(engine, policy)
    runner.run(DANA, "pitch", "Muons", NOW)
    runner.run(DANA, "pitch", "Muons", NOW + SAME_PITCH_WITHIN * 2)  # not the same pitch
    assert titles(engine) == ["Muons", "Muons"]
