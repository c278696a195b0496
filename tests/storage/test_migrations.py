"""The migrations build exactly the tables the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic import command
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


@pytest.mark.parametrize("reached", ["0007_publication", "0008_crowd", "0009_calendars"])
def test_a_database_at_an_earlier_head_gets_every_table(db_url_engine: Engine,
                                                        reached: str) -> None:
    """A database upgraded by an earlier release stopped at one of the three revisions
    written on 0004_requests; the next upgrade must add the other two."""
    config = migrate.alembic_config(db_url_engine.url.render_as_string(hide_password=False))
    with db_url_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, reached)
    assert not migrate.is_up_to_date(db_url_engine)
    migrate.upgrade(db_url_engine)
    assert migrate.is_up_to_date(db_url_engine)
    assert set(SQLModel.metadata.tables) <= set(inspect(db_url_engine).get_table_names())
