"""What a `/pitch` commits, row by row, through the command runner both platforms use.

The expected rows in pitch_commits.json were recorded from the pitch as it was before its
transaction was made shorter: the story, its history, the reviewer's choice and its reason,
the outbox rows and their texts, the request's stored answer. Any change to how the pitch
does its work must leave them exactly as they are.
"""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from bot.commands import Caller, CommandRunner, Request
from handlers.context import Policy
from handlers.stories import hand_over_waiting_reviews, pitching, reviewers
from storage.db import read_session, write_session
from storage.models import AwayPeriod, Member, Outbound, Story, StoryEvent
from storage.requests import HandledRequest
from tests.conftest import add_member, at_once

EXPECTED = Path(__file__).with_name("pitch_commits.json")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday
POLICY = Policy(channel_platforms=("slack", "mattermost"))
TABLES = (Member, Story, StoryEvent, Outbound, HandledRequest)


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables a pitch writes, as JSON would keep them."""
    with read_session(engine) as session:
        return {
            model.__tablename__: [  # type: ignore[misc]
                json.loads(json.dumps(row.model_dump(), default=str, sort_keys=True))
                for row in sorted(session.exec(select(model)).all(),
                                  key=lambda row: str(row.id if hasattr(row, "id") else row.key))
            ]
            for model in TABLES
        }


def a_team(session: Session) -> None:
    """Four coordinators: Ben away, Emil with an open review, Chloe about to pitch."""
    people = {name: add_member(session, name, coordinator=True, platform="slack")
              for name in ("Ada", "Ben", "Chloe", "Emil")}
    people["Dana"] = add_member(session, "Dana", platform="slack")
    ids = {name: member.id for name, member in people.items() if member.id is not None}
    session.add(AwayPeriod(member_id=ids["Ben"], first_day=date(2026, 11, 20),
                           last_day=date(2026, 12, 11)))
    session.add(Story(title="An open review", author_id=ids["Dana"], reviewer_id=ids["Emil"],
                      state="pitched", created_at=NOW, state_changed_at=NOW))


def pitch(engine: Engine, who: str, text: str) -> str:
    runner = CommandRunner(engine, POLICY)
    outcome = runner.run_request(Caller("slack", who.lower(), who), "pitch", text, NOW,
                                 Request(key=f"slack:command:{who}.1700000000.1"))
    assert outcome.recorded
    return outcome.reply.text


@pytest.mark.parametrize("case", ["reviewed", "nobody"])
def test_a_pitch_commits_exactly_these_rows(engine: Engine, case: str) -> None:
    with write_session(engine) as session:
        if case == "reviewed":
            a_team(session)
        else:  # the only coordinator pitches: nobody can review
            add_member(session, "Ada", coordinator=True, platform="slack")

    text = "Muon tomography #outreach #reel -- Cosmic rays see inside a volcano"
    answer = pitch(engine, "Chloe" if case == "reviewed" else "Ada", text)

    expected = json.loads(EXPECTED.read_text())[case]
    assert answer == expected["answer"]
    assert snapshot(engine) == expected["rows"]


def test_a_pitch_writes_in_few_statements_and_one_flush(engine: Engine) -> None:
    """Every statement of the pitch runs while it holds the write lock, which on SQLite the
    pitches behind it wait for: the story goes in whole (its reviewer chosen first, in one
    query), its history lines in one statement, its card and the reviewer's message in
    another, and the request's answer in one UPDATE."""
    with write_session(engine) as session:
        a_team(session)
    statements: list[str] = []
    flushes: list[int] = []

    def on_statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if sql.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT"):
            statements.append(sql.split(None, 1)[0].upper())

    def on_flush(*_args: Any) -> None:
        flushes.append(1)

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(OrmSession, "after_flush", on_flush)
    try:
        pitch(engine, "Chloe", "Muon tomography #outreach")
    finally:
        event.remove(OrmSession, "after_flush", on_flush)
        event.remove(engine, "before_cursor_execute", on_statement)

    # the claim, the author, a copy of this pitch?, the team; the reviewer and the story;
    # the history; the outbox; the answer. On PostgreSQL the author's pitch lock and the
    # review lock are a SELECT each (SQLite's write lock already covers both).
    locks = ["SELECT", "SELECT"] if engine.dialect.name == "postgresql" else []
    assert statements == ["INSERT", "SELECT", *locks[:1], "SELECT", *locks[1:], "SELECT",
                          "UPDATE", "INSERT", "INSERT", "INSERT", "UPDATE"]
    assert len(flushes) == 1


def two_at_once(engine: Engine) -> list[str]:
    """Dana and Emil pitch at the same moment; the answers."""
    with write_session(engine) as session:
        for name in ("Ada", "Ben", "Chloe"):
            add_member(session, name, coordinator=True, platform="slack")
        for name in ("Dana", "Emil"):
            add_member(session, name, platform="slack")
    authors = iter(["Dana", "Emil"])
    lock = threading.Lock()

    def one_pitch() -> str:
        with lock:
            who = next(authors)
        return pitch(engine, who, f"A pitch by {who}")

    answers = at_once(2, one_pitch)
    assert all("is pitched" in answer for answer in answers), answers
    return answers


def reviewers_of(engine: Engine) -> list[int | None]:
    with read_session(engine) as session:
        return [story.reviewer_id for story in session.exec(select(Story)).all()]


def test_two_pitches_at_once_go_to_two_coordinators(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas take a pitch each at the same moment. Unless the choices run one after
    the other, both read the open reviews before either commits and both choose the
    coordinator with the fewest: each pitch waits here, after its choice, for the other to
    have chosen too (at most 2 s). On SQLite the second waits for the first's write lock;
    on PostgreSQL for the review lock the choice takes until commit."""
    both_chose = threading.Barrier(2)
    choose = pitching.choose_reviewer

    def choose_then_wait(*args: Any, **kwargs: Any) -> Any:
        chosen = choose(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_chose.wait(timeout=2)
        return chosen

    monkeypatch.setattr(pitching, "choose_reviewer", choose_then_wait)
    answers = two_at_once(engine)
    assert len(set(reviewers_of(engine))) == 2, answers


def test_an_away_hand_over_and_a_pitch_at_once_go_to_two_coordinators(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one replica's tick hands a pitch over from Ada, who is away, Emil's pitch
    arrives on another. Ben and Chloe have no open review: unless the hand-over's choice
    also runs one after the other with the pitch's, both choose the same of them. Each
    choice waits here for the other to have chosen too (at most 2 s)."""
    with write_session(engine) as session:
        people = {name: add_member(session, name, coordinator=True, platform="slack")
                  for name in ("Ada", "Ben", "Chloe")}
        for name in ("Dana", "Emil"):
            people[name] = add_member(session, name, platform="slack")
        assert people["Ada"].id is not None and people["Dana"].id is not None
        session.add(AwayPeriod(member_id=people["Ada"].id, first_day=date(2026, 11, 20),
                               last_day=date(2026, 12, 11)))
        session.add(Story(title="Waiting for Ada", author_id=people["Dana"].id,
                          reviewer_id=people["Ada"].id, state="pitched", created_at=NOW,
                          state_changed_at=NOW))
    both_chose = threading.Barrier(2)

    def then_wait(choose: Any) -> Any:
        def choose_then_wait(*args: Any, **kwargs: Any) -> Any:
            chosen = choose(*args, **kwargs)
            with contextlib.suppress(threading.BrokenBarrierError):
                both_chose.wait(timeout=2)
            return chosen
        return choose_then_wait

    monkeypatch.setattr(pitching, "choose_reviewer", then_wait(pitching.choose_reviewer))
    monkeypatch.setattr(reviewers, "choose_reviewer", then_wait(reviewers.choose_reviewer))

    def hand_over() -> str:
        with write_session(engine) as session:
            return f"handed over {hand_over_waiting_reviews(session, NOW, POLICY)}"

    work = iter([hand_over, lambda: pitch(engine, "Emil", "A pitch by Emil")])
    lock = threading.Lock()

    def next_work() -> str:
        with lock:
            job = next(work)
        return job()

    answers = at_once(2, next_work)
    chosen = reviewers_of(engine)
    assert len(chosen) == 2 and people["Ada"].id not in chosen, answers
    assert len(set(chosen)) == 2, answers
