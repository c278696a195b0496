"""The answer never waits for the Web API, and a slow database never makes Slack wait past
its three seconds: checked by order of events and by what was committed, not by timing."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlmodel import select

from bot.inbox import Inbox
from storage.db import read_session
from storage.models import Member
from tests.slack.conftest import SlackBench


def test_answers_come_in_the_ack_while_every_web_api_call_is_held(bench: SlackBench) -> None:
    """users.info for a first-time person may delay their profile, never their answer."""
    before = len(bench.fake.calls)  # auth.test, when the app was built
    bench.fake.hold()  # the Web API answers nothing until released
    bench.fake.add_user("U0NEW", "Nadia", tz="Asia/Tokyo")
    acks = [bench.command(f"Held pitch {n}", user="U0NEW", response=f"held{n}")
            for n in range(4)]
    assert [ack.status_code for ack in acks] == [200] * 4
    assert all("is pitched" in ack.json()["text"] for ack in acks)
    assert bench.interact_pitch_form().status_code == 200
    assert len(bench.stories()) == 5  # every answer was given after its commit
    assert not any(call.finished.is_set() for call in bench.fake.calls[before:])
    with read_session(bench.engine) as session:
        nadia = session.exec(select(Member).where(Member.user_id == "U0NEW")).one()
        assert (nadia.display_name, nadia.timezone) == ("u0new", None)  # as in the request
    bench.fake.release()
    bench.settle()
    with read_session(bench.engine) as session:
        nadia = session.exec(select(Member).where(Member.user_id == "U0NEW")).one()
        assert nadia.timezone == "Asia/Tokyo"  # filled in after the answer


def test_a_known_person_is_answered_without_any_web_api_call(bench: SlackBench) -> None:
    before = len(bench.fake.calls)
    bench.fake.delay = 2.0
    answer = bench.command("Slow API pitch", response="slow")
    assert "Story #1 is pitched" in answer.json()["text"]
    assert [c for c in bench.fake.calls[before:] if c.finished.is_set()] == []
    bench.fake.delay = 0.0
    bench.settle()


@pytest.mark.parametrize("db_url_engine", ["sqlite"], indirect=True)
def test_a_locked_database_gets_working_on_it_and_the_answer_follows(
        bench: SlackBench, tmp_path: object) -> None:
    """A held write lock: the ack says "Working on it…" after the deadline, the request is
    on disk in the inbox meanwhile, and the answer follows on the response_url."""
    inbox = Inbox(str(tmp_path) + "/inbox.db")
    bench.slack.deps.inbox = inbox
    bench.slack.deps.answer_deadline = 0.2
    database = str(bench.engine.url.database)
    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # someone else holds the write lock
    release = threading.Timer(1.0, lambda: blocker.execute("COMMIT"))
    release.start()
    try:
        ack = bench.command("Pitched while the database was busy", response="busy")
        assert ack.json()["text"].startswith("Working on it")
        assert inbox.pending() == 1  # durable before Slack heard anything
    finally:
        release.join()
    [late] = bench.fake.wait_for("response_url", timeout=30)
    assert "is pitched" in late.params["text"]
    bench.settle()
    assert [s.title for s in bench.stories()] == ["Pitched while the database was busy"]
    assert inbox.pending() == 0
    blocker.close()
