"""Engines and sessions for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and every session opened for writing starts
with `BEGIN IMMEDIATE`: the write lock is taken up front, so two threads that both read and
then write wait for each other instead of failing with "database is locked".

Writers of one process also queue on a lock of the engine's before they ask SQLite. SQLite
lets a waiting writer poll, sleeping up to 100 ms between tries; with eight requests
writing at once, an unlucky one kept losing and waited seconds. The lock hands the write
over as soon as it is free, so the slowest answer stays close to the typical one. Other
processes sharing the file still wait through the busy timeout.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

SQLITE_BUSY_TIMEOUT_SECONDS = 30
_WRITE_OPTION = "storydesk_write"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        _tune_sqlite(engine)
        return engine
    return create_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size
    )


def _tune_sqlite(engine: Engine) -> None:
    in_memory = ":memory:" in str(engine.url) or str(engine.url) == "sqlite://"

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module, so that BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_WRITERS_LOCK = threading.Lock()
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def _writers(engine: Engine) -> threading.RLock:
    """The lock this process's writers to a SQLite engine queue on."""
    with _WRITERS_LOCK:
        lock = _WRITERS.get(engine)
        if lock is None:
            lock = _WRITERS[engine] = threading.RLock()
        return lock


@contextmanager
def _queued(lock: threading.RLock) -> Iterator[None]:
    """Wait for this process's other writers as long as SQLite would wait for another
    process's (busy_timeout), then give up the same way: "database is locked"."""
    if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_SECONDS):
        raise OperationalError("BEGIN IMMEDIATE", None,
                               Exception("database is locked (this process's writers)"))
    try:
        yield
    finally:
        lock.release()


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One unit of work that writes: committed on success, rolled back on any error."""
    bound = engine.execution_options(**{_WRITE_OPTION: True})
    queue = _queued(_writers(engine)) if is_sqlite(engine) else nullcontext()
    with queue, Session(bound, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# What a transaction lock (`lock_until_commit`) serialises, one number per kind of decision.
PITCH_LOCK = 1  # an author's pitches: is this one a copy of a pitch just taken?
REVIEW_LOCK = 2  # choosing a reviewer: the open reviews counted must include the last choice


def lock_until_commit(session: Session, scope: int, key: int) -> None:
    """Make the write transactions that take the same (scope, key) run one after another,
    from here to their end: a decision that first reads ("is there a copy?") then writes
    sees what the one before it committed.

    On PostgreSQL a transaction-level advisory lock, which locks no row, so it cannot
    close a cycle with the row locks other transactions take in another order (the
    dispatcher locks recipients by id). On SQLite every write transaction already holds
    the database's write lock from its BEGIN IMMEDIATE: nothing to add.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:scope, :key)"),
                        {"scope": scope, "key": key})


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A unit of work that only reads (no write lock is taken on SQLite)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


def database_answers(engine: Engine) -> bool:
    """True when a trivial query succeeds; used by /healthz."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return True
    except Exception:
        return False
