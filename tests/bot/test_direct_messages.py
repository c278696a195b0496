"""A direct message is run as a command once and answered once, even when the platform sends
a copy while the first is still running (Slack retries an event after three seconds)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

import bot.conversation
from bot.commands import Caller, CommandRunner, Outcome
from bot.conversation import answer_direct_message
from handlers.context import Policy
from handlers.reply import Reply

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
DANA = Caller("slack", "U0DANA", "Dana")


def known_runner(engine: Engine, policy: Policy) -> CommandRunner:
    """A runner for whom Dana is a member already, so that her reads take no write lock."""
    runner = CommandRunner(engine, policy)
    assert runner.run(DANA, "pitch", "Muons over the campus", NOW).ok
    return runner


@pytest.mark.parametrize("text", ["list mine", "accept 99", "frobnicate"])
def test_a_copy_arriving_while_the_first_runs_is_answered_once(
        engine: Engine, policy: Policy, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """A read, a refusal and an unknown word record nothing with an effect: the key is
    recorded after the answer, and whichever copy records it second stays silent."""
    runner = known_runner(engine, policy)
    real = runner.run_request
    copies: list[Reply | None] = []

    def slow(*args: Any, **kwargs: Any) -> Outcome:
        outcome = real(*args, **kwargs)
        if not copies:  # the first copy has run; the retry, run alongside, finishes first
            copies.append(None)
            copies[0] = answer_direct_message(runner, DANA, text, NOW, "slack:event:Ev1")
        return outcome

    monkeypatch.setattr(runner, "run_request", slow)
    first = answer_direct_message(runner, DANA, text, NOW, "slack:event:Ev1")
    answers = [reply for reply in (first, *copies) if reply is not None]
    assert len(answers) == 1


def test_a_command_that_writes_records_its_key_in_its_own_transaction(
        engine: Engine, policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = known_runner(engine, policy)
    remembered: list[str] = []
    real = bot.conversation.remember_request

    def remember(*args: Any, **kwargs: Any) -> bool:
        remembered.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(bot.conversation, "remember_request", remember)
    reply = answer_direct_message(runner, DANA, "pitch Cosmic rays", NOW, "slack:event:Ev2")
    assert reply is not None and "is pitched" in reply.text
    assert remembered == []  # no second write transaction after the command's
    assert answer_direct_message(runner, DANA, "pitch Cosmic rays", NOW,
                                 "slack:event:Ev2") is None
    reply = answer_direct_message(runner, DANA, "list mine", NOW, "slack:event:Ev3")
    assert reply is not None and remembered == ["slack:event:Ev3"]  # a read is recorded after
