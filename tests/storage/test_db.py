"""Engines and sessions: UTC round trips, and SQLite writers that wait instead of failing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel, select

from storage import db
from storage.db import make_engine, read_session, write_session
from storage.models import Member, SystemState


def test_timestamps_come_back_aware_and_in_utc(engine: Engine) -> None:
    tokyo = timezone(timedelta(hours=9))
    with write_session(engine) as session:
        session.add(
            Member(
                platform="console",
                user_id="a",
                display_name="A",
                created_at=datetime(2026, 3, 29, 10, 0, tzinfo=tokyo),
            )
        )
    with read_session(engine) as session:
        member = session.exec(select(Member)).one()
    assert member.created_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert member.created_at is not None and member.created_at.tzinfo is UTC


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), write_session(engine) as session:
        session.add(
            Member(
                platform="console", user_id="a", display_name="A", created_at=datetime(2026, 1, 1)
            )
        )
        session.flush()


def test_a_failed_unit_of_work_leaves_nothing(engine: Engine) -> None:
    with pytest.raises(RuntimeError), write_session(engine) as session:
        session.add(SystemState(key="k", value="v"))
        session.flush()
        raise RuntimeError("boom")
    with read_session(engine) as session:
        assert session.get(SystemState, "k") is None


def test_sqlite_concurrent_read_then_write_never_sees_database_locked(tmp_path: Path) -> None:
    """Eight threads each read a counter and write it back, 25 times: no lost update, no error.

    Without BEGIN IMMEDIATE, two deferred transactions that both read and then write
    deadlock on the upgrade to a write lock and one fails with "database is locked".
    """
    engine = make_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    SQLModel.metadata.create_all(engine)
    with write_session(engine) as session:
        session.add(SystemState(key="counter", value="0"))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                with write_session(engine) as session:
                    row = session.get(SystemState, "counter")
                    assert row is not None
                    row.value = str(int(row.value) + 1)
                    session.add(row)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with read_session(engine) as session:
        row = session.get(SystemState, "counter")
    assert row is not None and row.value == "200"
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_sqlite_writers_of_one_process_queue_on_one_lock(tmp_path: Path) -> None:
    """A writer waits on the engine's lock, handed over at once, not on SQLite's polling."""
    from storage.db import _writers

    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    inside, leave = threading.Event(), threading.Event()

    def writer() -> None:
        with write_session(engine):
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(10)
    taken = _writers(engine).acquire(blocking=False)  # from another thread: it is held
    leave.set()
    thread.join(10)
    assert taken is False
    assert _writers(engine).acquire(blocking=False)  # free again once the writer is done
    _writers(engine).release()
    engine.dispose()


def test_a_writer_waits_for_this_process_no_longer_than_for_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's own queue gives up like SQLite's busy timeout does, so one stuck
    writer cannot park every command thread without end."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_SECONDS", 0.2)
    engine = make_engine(f"sqlite:///{tmp_path / 'stuck.db'}")
    holding, release = threading.Event(), threading.Event()

    def stuck_writer() -> None:
        with write_session(engine):
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=stuck_writer)
    thread.start()
    assert holding.wait(5)
    try:
        with pytest.raises(OperationalError, match="database is locked"), \
                write_session(engine):
            pass
    finally:
        release.set()
        thread.join()
    with write_session(engine):  # and the queue moves on once the writer is done
        pass
    engine.dispose()
