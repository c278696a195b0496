"""The inbox: requests acknowledged before their transaction could commit, kept on disk.

Almost every request is answered after its transaction committed, in the acknowledgement
itself. When the database is slow (a SQLite write lock held by a long job, a PostgreSQL
failover), a platform's deadline (Slack's three seconds) comes first: the request is then
written here before it is acknowledged (a slash command with "Working on it…"), and the
answer follows once the work has committed. The inbox lives in a file of its own
(`STORYDESK_INBOX_PATH`, SQLite in WAL mode), so that writing to it never waits for the
database that is slow.

An entry is leased by the process working on it. If that process dies, its entries'
leases run out (or, on the same host, its process is gone) and any process that shares
the file drains them at its next start or tick: it runs the request again under the same
request key, so a request whose transaction did commit before the crash is not applied
twice but only answered. Entries that were answered are deleted; one whose answer could
not be posted (the platform unreachable) stays, and is tried again once its lease runs out.
An answer is owed only while it can still reach the person: an entry older than
GIVE_UP_AFTER (the life of Slack's response URL) or tried MAX_ATTEMPTS times is dropped
with an error in the log naming its request. The person is not left believing it went
through: their platform's notifier (registered beside its replayers) tells them by direct
message that it could not be confirmed, and why, once; if that fails too, the log says so,
for the operator to follow up.

A request the inbox cannot hold (a full disk, an unwritable or locked file) lives only in
the process working on it, so it is never answered "Working on it…": the platform adapter
waits for the work until its last moment, and says plainly what is not yet certain if the
work is still not done (`WriteFailures` reports the cause to the operator).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from handlers.reply import Reply

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
# A response URL takes answers for 30 minutes: after that, the person cannot be answered.
GIVE_UP_AFTER = timedelta(minutes=30)
# A request that failed this often (about every lease) will not go through on the next try.
MAX_ATTEMPTS = 10
# How long a write waits for another process's lock on the file, unless told otherwise.
BUSY_TIMEOUT_SECONDS = 10
_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    platform TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL,
    owner TEXT,
    lease_until TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_failure TEXT
)
"""
# Why the last try failed, in words for the person (see `give_up`); a file written before
# the column existed gets it when opened.
_ADD_LAST_FAILURE = "ALTER TABLE inbox ADD COLUMN last_failure TEXT"

# Why a request was given up on, as the person is told it.
INTERRUPTED = "Storydesk was interrupted before it was done"
NOT_DELIVERED = "its answer could not be delivered"
DATABASE_UNREACHABLE = "the database was unreachable"
FAILED_HERE = "it failed on our side"
CHECK_AND_RESEND = "Check whether it took effect, and send it again if it did not."


@dataclass(frozen=True)
class Entry:
    id: int
    key: str
    platform: str
    kind: str
    payload: dict[str, Any]
    received_at: datetime
    attempts: int
    last_failure: str | None = None

    @property
    def tries(self) -> int:
        """How often it was run before this claim: the first run, then each replay."""
        return self.attempts - 1

    def failure(self) -> str:
        """Why it was not answered, in words for the person."""
        if self.last_failure:
            return self.last_failure
        return INTERRUPTED  # never replayed: whoever held it stopped, and nobody took over


# Runs an entry's request again and answers it: False if the answer could not be given.
Replayer = Callable[[Entry], bool]
# Tells the person behind an entry given up on, by direct message on its platform, that it
# could not be confirmed and why (the reason, in their words): False if that failed too.
Notifier = Callable[[Entry, str], bool]


# Tells this process from a predecessor with the same host name and process id: a
# restarted container keeps its host name and often gets the same pid (1) again.
_PROCESS_TOKEN = secrets.token_hex(6)


def _owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{_PROCESS_TOKEN}"


def _alive(owner: str | None) -> bool:
    """Whether the process that owns an entry may still be working on it."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid, _, token = rest.partition(":")
    if host != socket.gethostname()[:40] or not pid.isdigit():
        return True  # another host: only its lease can tell
    if int(pid) == os.getpid():
        return token == _PROCESS_TOKEN  # else a predecessor that had this pid
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Inbox:
    """Acknowledged requests waiting for their answer, in a SQLite file of their own."""

    def __init__(self, path: str | Path, *, lease_seconds: int = LEASE_SECONDS) -> None:
        self.path = str(path)
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = _owner()
        self.replayers: dict[tuple[str, str], Replayer] = {}
        self.notifiers: dict[str, Notifier] = {}
        self._local = threading.local()
        with self._transaction() as db:
            db.execute(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(inbox)")}
            if "last_failure" not in columns:
                db.execute(_ADD_LAST_FAILURE)

    # --- connections ---------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS,
                                         isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            # FULL: an entry is on disk before the platform hears "Working on it…".
            connection.execute("PRAGMA synchronous=FULL")
            self._local.connection = connection
        return connection

    @contextmanager
    def _transaction(self, wait: float | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction. Whatever fails, the COMMIT included (a full disk), it
        is rolled back: else the thread's connection stays inside it, and every later
        BEGIN on that thread fails."""
        db = self._connection()
        self._begin(db, wait)
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @staticmethod
    def _begin(db: sqlite3.Connection, wait: float | None) -> None:
        """Take the write lock, waiting at most `wait` seconds for another process's."""
        if wait is None:
            db.execute("BEGIN IMMEDIATE")
            return
        db.execute(f"PRAGMA busy_timeout={max(0, int(wait * 1000))}")
        try:
            db.execute("BEGIN IMMEDIATE")
        finally:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")

    # --- the life of an entry ------------------------------------------------------------

    def hold(self, key: str, platform: str, kind: str, payload: dict[str, Any],
             now: datetime, *, wait: float | None = None) -> int | None:
        """Keep a request until `done`; None if an entry with this key is already held.

        `wait` bounds the wait for a lock another process holds on the file: a platform's
        deadline is no longer than that, and past it the entry would be of no use.
        """
        with self._transaction(wait) as db:
            cursor = db.execute(
                "INSERT INTO inbox (key, platform, kind, payload, received_at, owner, "
                "lease_until, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, 1) "
                "ON CONFLICT(key) DO NOTHING",
                (key, platform, kind, json.dumps(payload), now.isoformat(), self.owner,
                 (now + self.lease).isoformat()),
            )
            return cursor.lastrowid if cursor.rowcount else None

    def done(self, entry_id: int) -> None:
        """The request's answer has been given: forget it."""
        with self._transaction() as db:
            db.execute("DELETE FROM inbox WHERE id = ?", (entry_id,))

    def pending(self) -> int:
        row = self._connection().execute("SELECT count(*) FROM inbox").fetchone()
        return int(row[0])

    def claim_abandoned(self, now: datetime) -> list[Entry]:
        """Entries whose owner died or whose lease ran out, now leased to this process;
        only those it can replay (another process, with their platform, takes the rest).

        Looked for first without a lock: the inbox is nearly always empty, and every tick
        drains it, so finding nothing should cost no write lock and no synced commit.
        """
        if not self._abandoned(self._connection(), now):
            return []
        with self._transaction() as db:
            taken = [replace(entry, attempts=entry.attempts + 1)
                     for entry in self._abandoned(db, now)]
            for entry in taken:
                db.execute(
                    "UPDATE inbox SET owner = ?, lease_until = ?, attempts = attempts + 1 "
                    "WHERE id = ?", (self.owner, (now + self.lease).isoformat(), entry.id))
        return taken

    def _abandoned(self, db: sqlite3.Connection, now: datetime) -> list[Entry]:
        rows = db.execute(
            "SELECT id, key, platform, kind, payload, received_at, attempts, owner, "
            "lease_until, last_failure FROM inbox ORDER BY id").fetchall()
        found: list[Entry] = []
        for (entry_id, key, platform, kind, payload, received, attempts, owner,
             lease_until, last_failure) in rows:
            if (platform, kind) not in self.replayers:
                continue
            expired = lease_until is None or datetime.fromisoformat(lease_until) < now
            if not expired and _alive(owner):
                continue  # still being worked on, here or by a process that is alive
            found.append(Entry(entry_id, key, platform, kind, json.loads(payload),
                               datetime.fromisoformat(received), attempts, last_failure))
        return found

    def failed(self, entry_id: int, reason: str) -> None:
        """Remember why the entry's last try failed, for the person if it is given up on."""
        with self._transaction() as db:
            db.execute("UPDATE inbox SET last_failure = ? WHERE id = ?", (reason, entry_id))

    # --- draining ------------------------------------------------------------------------

    def register(self, platform: str, kind: str, replayer: Replayer) -> None:
        """`replayer(entry)` runs an abandoned request again and answers it (see Replayer)."""
        self.replayers[(platform, kind)] = replayer

    def register_notifier(self, platform: str, notifier: Notifier) -> None:
        """`notifier(entry, reason)` tells the person that their request, given up on,
        could not be confirmed (see Notifier)."""
        self.notifiers[platform] = notifier

    def drain(self, now: datetime | None = None) -> int:
        """Run every abandoned request this process knows how to run; how many were answered.
        One not answered stays leased to this process, so it is tried again a lease later."""
        now = now or datetime.now(UTC)
        handled = 0
        for entry in self.claim_abandoned(now):
            if now - entry.received_at > GIVE_UP_AFTER or entry.attempts > MAX_ATTEMPTS:
                self.give_up(entry, now)
                continue
            try:
                answered = self.replayers[(entry.platform, entry.kind)](entry)
            except Exception as error:
                log.exception("inbox entry %s (%s %s) failed again; it stays for the next try",
                              entry.id, entry.platform, entry.kind)
                self.failed(entry.id, failure_of(error))
                continue
            if answered:
                self.done(entry.id)
                handled += 1
            else:
                self.failed(entry.id, NOT_DELIVERED)
        if handled:
            log.info("answered %d request(s) left unanswered by a stopped process", handled)
        return handled

    def give_up(self, entry: Entry, now: datetime) -> None:
        """Drop an entry whose answer can no longer reach the person, telling the operator
        and, by direct message, the person. The message is tried once: whatever becomes of
        it, the entry is dropped, so a platform that refuses it is never asked again."""
        minutes = (now - entry.received_at).total_seconds() / 60
        log.error(
            "gave up on the %s %s %s (held %.0f min, tried %d times): its answer can no "
            "longer reach the person. If it did not take effect, ask them to send it again.",
            entry.platform, entry.kind, entry.key, minutes, entry.tries)
        reason = entry.failure()
        notifier = self.notifiers.get(entry.platform)
        told = False
        if notifier is not None:
            try:
                told = notifier(entry, reason)
            except Exception:
                log.exception("telling the person behind %s raised", entry.key)
        if told:
            log.info("told the person behind the %s %s %s by direct message that it could "
                     "not be confirmed (%s)", entry.platform, entry.kind, entry.key, reason)
        else:
            log.error(
                "could not tell the person behind the %s %s %s by direct message either "
                "(%s): ask them to check it and send it again.",
                entry.platform, entry.kind, entry.key,
                "no notifier for the platform" if notifier is None else "the message failed")
        self.done(entry.id)

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def unconfirmed(what: str, at: str, reason: str, advice: str = CHECK_AND_RESEND) -> Reply:
    """What a person is told about their request given up on: `what` it was ("your
    `/pitch Muon tomography`"), sent `at` (a time of day), `reason` (see Entry.failure),
    and how to find out whether it took effect."""
    return Reply(text=f"Storydesk could not confirm {what} of {at} ({reason}). {advice}",
                 tone="warning")


def failure_of(error: Exception) -> str:
    """Why a replay that raised failed, in words for the person."""
    if isinstance(error, (OperationalError, InterfaceError)):
        return DATABASE_UNREACHABLE
    return FAILED_HERE


class WriteFailures:
    """Requests the inbox could not hold, each kind of failure logged once.

    A full disk or an unwritable file fails every slow request the same way: one error
    naming the file and the cause is what an operator needs (the metric
    storydesk_inbox_write_failures_total counts every request it touched). After a write
    succeeds again the slate is clean, so a failure that comes back is reported again.
    """

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def failed(self, path: str, error: Exception) -> None:
        kind = f"{type(error).__name__}: {error}"
        with self._lock:
            first = kind not in self._seen
            self._seen.add(kind)
        if not first:
            log.debug("the inbox %s still fails (%s)", path, kind)
            return
        log.error(
            "could not write a %s request to the inbox %s (%s). Until this is fixed, a "
            "request that outlives the platform's deadline is lost if the process stops "
            "before it finishes. Check the free disk space, that the file and its folder "
            "are writable, and that no other program holds it locked (STORYDESK_INBOX_PATH).",
            self.platform, path, kind, exc_info=error)

    def succeeded(self, path: str) -> None:
        with self._lock:
            if not self._seen:
                return
            self._seen.clear()
        log.info("the inbox %s holds %s requests again", path, self.platform)


def default_inbox_path(database_url: str) -> str:
    """Next to a SQLite database file; else in the working directory."""
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        database = Path(database_url.removeprefix("sqlite:///"))
        return str(database.with_name(database.stem + "-inbox.db"))
    return "storydesk-inbox.db"
