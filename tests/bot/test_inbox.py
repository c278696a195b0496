"""The inbox on its own: which entries a drain takes, and when it stops trying."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import bot.inbox
from bot.inbox import GIVE_UP_AFTER, LEASE_SECONDS, MAX_ATTEMPTS, Entry, Inbox

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
LEASE = timedelta(seconds=LEASE_SECONDS)


class Replays:
    """A replayer that records what it ran and answers as told."""

    def __init__(self, answered: bool = True) -> None:
        self.answered = answered
        self.ran: list[Entry] = []

    def __call__(self, entry: Entry) -> bool:
        self.ran.append(entry)
        return self.answered


def inbox_with(tmp_path: Path, replays: Replays) -> Inbox:
    inbox = Inbox(tmp_path / "inbox.db")
    inbox.register("slack", "command", replays)
    return inbox


def gave_up(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.ERROR and "gave up" in r.getMessage()]


def test_an_entry_older_than_a_response_url_lives_is_dropped_with_an_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    replays = Replays()
    inbox = inbox_with(tmp_path, replays)
    inbox.hold("slack:command:7.1700000000.old", "slack", "command", {}, NOW)
    with caplog.at_level(logging.ERROR, logger="bot.inbox"):
        assert inbox.drain(NOW + GIVE_UP_AFTER + timedelta(minutes=1)) == 0
    assert replays.ran == [] and inbox.pending() == 0
    [message] = gave_up(caplog)
    assert "slack:command:7.1700000000.old" in message and "held 31 min" in message


def test_an_entry_is_replayed_at_most_max_attempts_times(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The first run counts: it is the one that held the entry."""
    replays = Replays(answered=False)  # the platform never takes the answer
    inbox = inbox_with(tmp_path, replays)
    inbox.hold("slack:command:8.1700000000.stuck", "slack", "command", {}, NOW)
    with caplog.at_level(logging.ERROR, logger="bot.inbox"):
        for n in range(1, MAX_ATTEMPTS + 1):  # a drain after each lease, within the half hour
            inbox.drain(NOW + n * (LEASE + timedelta(seconds=1)))
    assert len(replays.ran) == MAX_ATTEMPTS - 1
    assert [entry.attempts for entry in replays.ran] == list(range(2, MAX_ATTEMPTS + 1))
    assert inbox.pending() == 0
    [message] = gave_up(caplog)
    assert f"tried {MAX_ATTEMPTS} times" in message


def test_a_restarted_process_with_the_same_host_and_pid_takes_over_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container restarted keeps its host name and often its pid: only the per-process
    token tells the new process that the entry's owner is gone."""
    Inbox(tmp_path / "inbox.db").hold("slack:command:9.left", "slack", "command", {}, NOW)
    monkeypatch.setattr(bot.inbox, "_PROCESS_TOKEN", "restarted", raising=False)
    replays = Replays()
    assert inbox_with(tmp_path, replays).drain(NOW + timedelta(seconds=10)) == 1
    assert [entry.key for entry in replays.ran] == ["slack:command:9.left"]


def test_an_entry_of_this_process_is_left_to_it_while_leased(tmp_path: Path) -> None:
    replays = Replays()
    inbox = inbox_with(tmp_path, replays)
    inbox.hold("slack:command:10.mine", "slack", "command", {}, NOW)
    assert inbox.drain(NOW + timedelta(seconds=10)) == 0  # still being worked on, here
    assert inbox.drain(NOW + LEASE + timedelta(seconds=1)) == 1


def test_a_drain_that_finds_nothing_to_take_takes_no_write_lock(tmp_path: Path) -> None:
    """Every tick drains: an empty inbox, or one whose entries are being worked on, is only
    read (no BEGIN IMMEDIATE, no synced commit)."""
    inbox = inbox_with(tmp_path, Replays())
    statements: list[str] = []
    inbox._connection().set_trace_callback(statements.append)

    def writes() -> list[str]:
        return [s for s in statements if s.startswith(("BEGIN", "COMMIT"))]

    assert inbox.drain(NOW) == 0
    assert statements and writes() == []
    inbox.hold("slack:command:11.busy", "slack", "command", {}, NOW)
    statements.clear()
    assert inbox.drain(NOW + timedelta(seconds=10)) == 0
    assert statements and writes() == []


def test_a_drain_takes_only_what_it_can_replay(tmp_path: Path) -> None:
    inbox = inbox_with(tmp_path, Replays())
    inbox.hold("mattermost:dialog:1", "mattermost", "dialog", {}, NOW)
    inbox.drain(NOW + 2 * LEASE)
    [row] = inbox._connection().execute("SELECT attempts FROM inbox").fetchall()
    assert row == (1,)  # left to a process that knows the platform, untouched


class CommitFails:
    """The inbox's connection, whose next COMMIT fails as on a full disk while the
    transaction stays open (as SQLite leaves it after some failed commits)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.failing = True

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and self.failing:
            self.failing = False
            raise sqlite3.OperationalError("database or disk is full")
        return self.connection.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


def test_a_failed_commit_is_rolled_back_so_the_thread_writes_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = Inbox(tmp_path / "inbox.db")
    connection = CommitFails(inbox._connection())
    monkeypatch.setattr(inbox, "_connection", lambda: connection)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        inbox.hold("slack:command:1.lost", "slack", "command", {}, NOW)
    assert not connection.in_transaction
    assert inbox.hold("slack:command:2.kept", "slack", "command", {}, NOW) is not None
    assert inbox.pending() == 1  # the failed one left nothing behind


class Notices:
    """A platform's notifier that records whom it told, and succeeds as told."""

    def __init__(self, told: bool = True, error: Exception | None = None) -> None:
        self.told = told
        self.error = error
        self.sent: list[tuple[str, str]] = []  # (entry key, reason)

    def __call__(self, entry: Entry, reason: str) -> bool:
        self.sent.append((entry.key, reason))
        if self.error is not None:
            raise self.error
        return self.told


def told_inbox(tmp_path: Path, replays: Replays, notices: Notices) -> Inbox:
    inbox = inbox_with(tmp_path, replays)
    inbox.register_notifier("slack", notices)
    return inbox


def test_a_request_given_up_on_is_told_to_its_sender_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Nobody ran it again within the half hour (every process was down): the person hears
    that it was interrupted; the operator's error stays, and says the person was told."""
    notices = Notices()
    inbox = told_inbox(tmp_path, Replays(), notices)
    inbox.hold("slack:command:12.down", "slack", "command", {}, NOW)
    with caplog.at_level(logging.INFO, logger="bot.inbox"):
        inbox.drain(NOW + GIVE_UP_AFTER + timedelta(minutes=1))
        inbox.drain(NOW + GIVE_UP_AFTER + 2 * LEASE)
    assert notices.sent == [("slack:command:12.down", bot.inbox.INTERRUPTED)]
    assert inbox.pending() == 0
    assert len(gave_up(caplog)) == 1
    assert any("told the person behind" in r.getMessage() for r in caplog.records)


def test_the_reason_told_is_why_the_last_try_failed(tmp_path: Path) -> None:
    notices = Notices()
    inbox = told_inbox(tmp_path, Replays(answered=False), notices)
    inbox.hold("slack:command:13.unposted", "slack", "command", {}, NOW)
    for n in range(1, MAX_ATTEMPTS + 1):
        inbox.drain(NOW + n * (LEASE + timedelta(seconds=1)))
    assert notices.sent == [("slack:command:13.unposted", bot.inbox.NOT_DELIVERED)]


def test_a_replay_the_database_refused_is_told_as_such(tmp_path: Path) -> None:
    from sqlalchemy.exc import OperationalError

    class Unreachable(Replays):
        def __call__(self, entry: Entry) -> bool:
            super().__call__(entry)
            raise OperationalError("SELECT 1", None, Exception("connection refused"))

    notices = Notices()
    inbox = told_inbox(tmp_path, Unreachable(), notices)
    inbox.hold("slack:command:14.nodb", "slack", "command", {}, NOW)
    inbox.drain(NOW + LEASE + timedelta(seconds=1))  # replayed: the database refuses
    inbox.drain(NOW + GIVE_UP_AFTER + timedelta(minutes=1))
    assert notices.sent == [("slack:command:14.nodb", bot.inbox.DATABASE_UNREACHABLE)]


@pytest.mark.parametrize("raises", [False, True], ids=["refused", "raised"])
def test_a_notice_that_fails_is_logged_and_never_tried_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, raises: bool) -> None:
    notices = Notices(told=False, error=ConnectionError("refused") if raises else None)
    inbox = told_inbox(tmp_path, Replays(), notices)
    inbox.hold("slack:command:15.unreachable", "slack", "command", {}, NOW)
    with caplog.at_level(logging.ERROR, logger="bot.inbox"):
        for n in range(3):  # drains a lease apart after the half hour
            inbox.drain(NOW + GIVE_UP_AFTER + timedelta(minutes=1) + n * 2 * LEASE)
    assert len(notices.sent) == 1 and inbox.pending() == 0
    [error] = [r.getMessage() for r in caplog.records if "could not tell" in r.getMessage()]
    assert "slack:command:15.unreachable" in error and "send it again" in error


def test_without_a_notifier_the_log_says_nobody_was_told(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    inbox = inbox_with(tmp_path, Replays())
    inbox.hold("slack:command:16.untold", "slack", "command", {}, NOW)
    with caplog.at_level(logging.ERROR, logger="bot.inbox"):
        inbox.drain(NOW + GIVE_UP_AFTER + timedelta(minutes=1))
    assert inbox.pending() == 0
    assert any("no notifier" in r.getMessage() for r in caplog.records)


def test_an_inbox_file_from_before_the_failure_column_is_upgraded(tmp_path: Path) -> None:
    """A file written by an earlier version: opened, it gets the column, and its entries
    are drained and given up on as usual."""
    path = tmp_path / "inbox.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, "
        "platform TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL, "
        "received_at TEXT NOT NULL, owner TEXT, lease_until TEXT, "
        "attempts INTEGER NOT NULL DEFAULT 0)")
    old.execute("INSERT INTO inbox (key, platform, kind, payload, received_at, attempts) "
                "VALUES ('slack:command:17.old', 'slack', 'command', '{}', ?, 1)",
                (NOW.isoformat(),))
    old.commit()
    old.close()
    notices = Notices()
    inbox = Inbox(path)
    inbox.register("slack", "command", Replays())
    inbox.register_notifier("slack", notices)
    inbox.drain(NOW + GIVE_UP_AFTER + timedelta(minutes=1))
    assert notices.sent == [("slack:command:17.old", bot.inbox.INTERRUPTED)]


def test_what_the_person_is_told() -> None:
    reply = bot.inbox.unconfirmed("your `/pitch Muon tomography …`", "14:02",
                                  bot.inbox.DATABASE_UNREACHABLE,
                                  "Check with `/story list mine` and send it again if it is "
                                  "not there.")
    assert reply.text == (
        "Storydesk could not confirm your `/pitch Muon tomography …` of 14:02 (the database "
        "was unreachable). Check with `/story list mine` and send it again if it is not "
        "there.")
    assert reply.ok
