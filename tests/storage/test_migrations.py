"""The migrations build exactly the tables the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import storage.tables  # noqa: F401
from storage import migrate


def test_upgrade_creates_every_table_and_models_agree(db_url_engine: Engine) -> None:
    migrate.upgrade(db_url_engine)
    assert migrate.is_up_to_date(db_url_engine)
    tables = set(inspect(db_url_engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    with db_url_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == [], f"models and migrations disagree: {differences}"


def test_upgrade_twice_is_harmless(db_url_engine: Engine) -> None:
    migrate.upgrade(db_url_engine)
    migrate.upgrade(db_url_engine)
    assert migrate.current_revisions(db_url_engine) == migrate.head_revisions()


def test_the_history_has_exactly_one_head() -> None:
    """Two heads would let two branches of the schema drift apart unnoticed."""
    assert len(migrate.head_revisions()) == 1
