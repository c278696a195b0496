"""Shared fixtures: every storage and handler test runs on SQLite and on PostgreSQL.

PostgreSQL is used when it answers at STORYDESK_TEST_PG (default 127.0.0.1:5432, database
`test`); each test gets a schema of its own. On a laptop without PostgreSQL those cases are
skipped; in CI (CI=true) an unreachable PostgreSQL fails the run instead.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import storage.tables  # noqa: F401
from bot.logs import CHATTY_LIBRARIES
from handlers.context import Policy
from handlers.decisions import CadenceSlot
from handlers.members import COORDINATOR
from storage.db import make_engine, write_session
from storage.models import Member

T = TypeVar("T")


def at_once(count: int, work: Callable[[], T]) -> list[T]:
    """`work` run by `count` threads released together (replicas, say); what each
    returned, in the order they finished. The first error any of them raised is raised."""
    start = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            results.append(work())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results

PG_URL = os.environ.get("STORYDESK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, bool] = {}


def postgres_available() -> bool:
    if "up" not in _pg_state:
        import psycopg

        try:
            dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(dsn, connect_timeout=3):
                _pg_state["up"] = True
        except Exception:
            _pg_state["up"] = False
    return _pg_state["up"]


def require_postgres() -> None:
    if postgres_available():
        return
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"PostgreSQL must be reachable in CI ({PG_URL})")
    pytest.skip("PostgreSQL is not reachable here")


def pg_engine_with_schema() -> tuple[Engine, str]:
    """A PostgreSQL engine whose connections all use a fresh schema."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL, pool_size=1)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = make_engine(PG_URL, pool_size=5)

    @event.listens_for(engine, "connect")
    def set_search_path(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET search_path TO "{schema}"')
        cursor.close()
        dbapi_connection.commit()

    return engine, schema


def drop_schema(schema: str) -> None:
    admin = make_engine(PG_URL, pool_size=1)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The root logger as it was before the test: a test that runs the command line sets
    it up on the stream pytest captured for that test, which is closed after it, and a
    server thread of a later test would write there ("I/O operation on closed file")."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in CHATTY_LIBRARIES}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database (no tables) on each backend."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'storydesk.db'}")
        yield engine
        engine.dispose()
        return
    require_postgres()
    engine, schema = pg_engine_with_schema()
    yield engine
    engine.dispose()
    drop_schema(schema)


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A PostgreSQL database with every table, for what only PostgreSQL can show (two
    write transactions at once); it fails in CI when PostgreSQL is down, as the others do."""
    require_postgres()
    engine, schema = pg_engine_with_schema()
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()
    drop_schema(schema)


@pytest.fixture
def engine(db_url_engine: Engine) -> Engine:
    """A database with every table, on SQLite and on PostgreSQL."""
    SQLModel.metadata.create_all(db_url_engine)
    return db_url_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with write_session(engine) as session:
        yield session


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday


@pytest.fixture
def policy() -> Policy:
    return Policy(
        timezone="Europe/Berlin",
        cadence=(CadenceSlot(1, time(18, 0)), CadenceSlot(3, time(18, 0))),
        draft_days=14,
        channel_platforms=("console",),
    )


def add_member(
    session: Session,
    name: str,
    *,
    coordinator: bool = False,
    platform: str = "console",
    created: datetime | None = None,
) -> Member:
    member = Member(
        platform=platform,
        user_id=name.lower(),
        display_name=name,
        role=COORDINATOR if coordinator else "contributor",
        created_at=created or datetime(2026, 1, 1, tzinfo=UTC),
    )
    session.add(member)
    session.flush()
    return member


@pytest.fixture
def team(session: Session) -> dict[str, Member]:
    """Three coordinators and three contributors."""
    people = {name: add_member(session, name, coordinator=True) for name in ("Ada", "Ben", "Chloe")}
    people.update({name: add_member(session, name) for name in ("Dana", "Emil", "Farah")})
    return people


BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_bench(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A benchmark script of bench/ as a module, with bench/ importable as it is when run."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module
