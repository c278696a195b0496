"""The request claim: one copy of a request takes effect, decided by the database's key.

Runs on SQLite and PostgreSQL; the race runs two transactions on two connections, as two
processes would.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.handled import forget_handled_job
from handlers.reply import Action, Reply
from handlers.requests import (
    claim,
    forget_before,
    remember_reply,
    request_key,
    stored_reply,
    was_handled,
)
from storage.db import read_session, write_session
from storage.models import Member
from storage.requests import HandledRequest
from tests.conftest import add_member

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_the_first_claim_wins_and_later_ones_see_the_stored_reply(engine: Engine) -> None:
    reply = Reply(text="Accepted #4.", tone="success", story_id=4,
                  actions=(Action("approve", "Approve", 4, 2, "primary"),))
    with write_session(engine) as session:
        assert claim(session, "dialog:abc", "mattermost", "dialog", NOW)
        remember_reply(session, "dialog:abc", reply)
    with write_session(engine) as session:
        assert not claim(session, "dialog:abc", "mattermost", "dialog", NOW)
        assert stored_reply(session, "dialog:abc") == reply
    with read_session(engine) as session:
        rows = session.exec(select(HandledRequest)).all()
    assert [(r.key, r.platform, r.kind) for r in rows] == [("dialog:abc", "mattermost", "dialog")]


def test_a_rolled_back_claim_releases_the_key(engine: Engine) -> None:
    with pytest.raises(RuntimeError), write_session(engine) as session:
        assert claim(session, "press:1", "slack", "button", NOW)
        raise RuntimeError("the work failed")
    with write_session(engine) as session:
        assert claim(session, "press:1", "slack", "button", NOW)


def test_the_key_commits_with_the_effect_or_not_at_all(engine: Engine) -> None:
    with pytest.raises(RuntimeError), write_session(engine) as session:
        claim(session, "pitch:1", "mattermost", "dialog", NOW)
        add_member(session, "Ada")
        raise RuntimeError("refused")
    with read_session(engine) as session:
        assert not was_handled(session, "pitch:1")
        assert session.exec(select(Member)).all() == []


def test_a_claim_without_a_reply_has_no_stored_reply(session: Session) -> None:
    assert stored_reply(session, "never") is None
    assert claim(session, "quiet", "slack", "event", NOW)
    assert stored_reply(session, "quiet") is None
    assert was_handled(session, "quiet")


def test_remembering_needs_a_claim(session: Session) -> None:
    with pytest.raises(LookupError):
        remember_reply(session, "unclaimed", Reply(text="x"))


def test_keys_are_bounded(session: Session) -> None:
    with pytest.raises(ValueError):
        claim(session, "", "slack", "event", NOW)
    long = request_key("view", "V" * 300, "hash")
    assert len(long) <= 200 and long.startswith("view:sha256:")
    assert long == request_key("view", "V" * 300, "hash")
    assert long != request_key("view", "V" * 300, "hash2")
    assert request_key("press", "p1", "accept") == "press:p1:accept"
    assert claim(session, long, "slack", "view", NOW)


def test_two_transactions_racing_for_one_key_give_one_winner(engine: Engine) -> None:
    """The second claimer waits for the first transaction, then loses to its commit."""
    first_claimed = threading.Event()
    let_first_commit = threading.Event()
    results: dict[str, bool] = {}

    def first() -> None:
        with write_session(engine) as session:
            results["first"] = claim(session, "race", "mattermost", "dialog", NOW)
            first_claimed.set()
            let_first_commit.wait(10)

    def second() -> None:
        first_claimed.wait(10)
        with write_session(engine) as session:
            results["second"] = claim(session, "race", "mattermost", "dialog", NOW)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_claimed.wait(10)
    threads[1].join(0.3)
    assert threads[1].is_alive(), "the second claim did not wait for the first transaction"
    let_first_commit.set()
    for thread in threads:
        thread.join(30)
    assert results == {"first": True, "second": False}


def test_a_waiting_claim_wins_when_the_first_rolls_back(engine: Engine) -> None:
    first_claimed = threading.Event()
    let_first_finish = threading.Event()
    results: dict[str, bool] = {}

    def first() -> None:
        try:
            with write_session(engine) as session:
                results["first"] = claim(session, "race", "mattermost", "dialog", NOW)
                first_claimed.set()
                let_first_finish.wait(10)
                raise RuntimeError("refused")
        except RuntimeError:
            pass

    def second() -> None:
        first_claimed.wait(10)
        with write_session(engine) as session:
            results["second"] = claim(session, "race", "mattermost", "dialog", NOW)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_claimed.wait(10)
    let_first_finish.set()
    for thread in threads:
        thread.join(30)
    assert results == {"first": True, "second": True}


def test_keys_older_than_the_longest_lived_button_are_forgotten(engine: Engine) -> None:
    with write_session(engine) as session:
        claim(session, "old", "mattermost", "button", NOW - timedelta(days=9))
        claim(session, "recent", "mattermost", "button", NOW - timedelta(days=7))
    with write_session(engine) as session:
        assert forget_before(session, NOW) == 1
    with read_session(engine) as session:
        assert not was_handled(session, "old") and was_handled(session, "recent")


def test_the_tick_job_prunes_at_most_once_an_hour(engine: Engine) -> None:
    job = forget_handled_job(engine)
    with write_session(engine) as session:
        claim(session, "a", "slack", "view", NOW - timedelta(days=9))
    assert job(NOW) == 1
    with write_session(engine) as session:
        claim(session, "b", "slack", "view", NOW - timedelta(days=9))
    assert job(NOW + timedelta(minutes=30)) == 0
    assert job(NOW + timedelta(hours=1)) == 1
