"""`storydesk export` and `storydesk import`: a round trip loses nothing, on either database.

A database with the demo group (stories in every state with their history, slots, events,
three months of reach figures, the outbox) plus a row in every other table is exported
with the command line and imported into a new database; every row of every table is then
compared. SQLite -> PostgreSQL is the move a growing team makes, so it is tested too.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from bot.backup import (
    BackupError,
    column_kind,
    decode,
    encode,
    export_database,
    import_database,
    tables,
)
from bot.cli import main
from bot.console.demo import seed_demo
from handlers import personal_calendar, stories
from handlers.context import Policy
from handlers.outbox import without_secret
from handlers.stories import PitchForm
from storage import migrate
from storage.calendars import CalendarToken
from storage.db import make_engine, write_session
from storage.delivery import ReminderSnooze
from storage.models import Member, Outbound, Story, StoryCard, SystemState
from storage.reach import ReachWeekly
from storage.requests import HandledRequest
from tests.conftest import PG_URL, drop_schema, require_postgres

NOW = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
# Tables that hold rows in the filled database: a round trip of an empty table proves little.
FILLED = (
    "member", "story", "story_event", "away_period", "calendar_event", "outbound",
    "story_card", "system_state", "reminder_snooze", "delivery_notice", "reach_daily",
    "reach_weekly", "reach_post", "audience_snapshot", "handled_request", "calendar_token",
)


@contextmanager
def empty_database(kind: str, tmp_path: Path, name: str) -> Iterator[tuple[Engine, str]]:
    """A new, empty database and its DATABASE_URL (PostgreSQL: a schema of its own)."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / name}.db"
        engine = make_engine(url)
        yield engine, url
        engine.dispose()
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL, pool_size=1)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url, pool_size=2)
    try:
        yield engine, url
    finally:
        engine.dispose()
        drop_schema(schema)


def fill(engine: Engine, policy: Policy) -> None:
    """The demo group, and a row in each table the demo leaves empty."""
    migrate.upgrade(engine)
    with write_session(engine) as session:
        seed_demo(session, policy, NOW)
        zoe = Member(
            platform="slack",
            user_id="U0ZOE",
            display_name="Zoë \"Z\" O'Brien, 🧪 <tab>\there",
            timezone="Asia/Kolkata",
            created_at=NOW,
        )
        session.add(zoe)
        session.flush()
        story = session.exec(select(Story).order_by(col(Story.id))).first()
        assert story is not None and story.id is not None and zoe.id is not None
        assert personal_calendar.calendar_link(
            session, zoe, NOW, replace(policy, public_url="https://storydesk.lab.example")
        ).ok
        session.add(ReminderSnooze(member_id=zoe.id, story_id=story.id,
                                   until=NOW + timedelta(days=3), created_at=NOW))
        session.add(StoryCard(platform="slack", story_id=story.id, channel_id="C0123TEAM",
                              message_id="1700000000.000100"))
        session.add(HandledRequest(key="slack:view:V1:abc", platform="slack", kind="view",
                                   reply='{"text": "done"}', created_at=NOW))
        session.add(SystemState(key="team-seeded", value=NOW.isoformat()))
        session.add(ReachWeekly(week_start=date(2026, 11, 16), metric="accounts_reached",
                                value=12_345_678_901, source="graph_api", recorded_at=NOW))


def every_row(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as connection:
        return {
            table.name: [
                dict(row._mapping)
                for row in connection.execute(
                    sa.select(table).order_by(*table.primary_key.columns)
                )
            ]
            for table in tables()
        }


@pytest.mark.parametrize(
    ("source_kind", "target_kind"),
    [
        ("sqlite", "sqlite"),
        ("postgresql", "postgresql"),
        ("sqlite", "postgresql"),
        ("postgresql", "sqlite"),
    ],
)
def test_export_then_import_loses_nothing(
    source_kind: str,
    target_kind: str,
    tmp_path: Path,
    policy: Policy,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "export"
    no_env = str(tmp_path / "no.env")
    with empty_database(source_kind, tmp_path, "source") as (source, source_url):
        fill(source, policy)
        before = every_row(source)
        monkeypatch.setenv("DATABASE_URL", source_url)
        assert main(["--env-file", no_env, "export", "--out", str(out)]) == 0
    assert "Exported" in capsys.readouterr().out

    with empty_database(target_kind, tmp_path, "target") as (target, target_url):
        monkeypatch.setenv("DATABASE_URL", target_url)
        assert main(["--env-file", no_env, "import", str(out)]) == 0
        assert "Imported" in capsys.readouterr().out
        after = every_row(target)
        assert migrate.is_up_to_date(target)

    assert set(after) == set(SQLModel.metadata.tables)
    for name in FILLED:
        assert before[name], f"{name} should hold rows in the filled database"
    # Everything but the secret of Zoë's calendar link, which waits in the outbox: an
    # export hands out no working link.
    [link] = [row for row in before["outbound"] if row["unique_key"].startswith("calendar-link:")]
    assert "/calendar/" in link["text"]
    link["text"], link["payload"] = without_secret(link["text"], link["payload"])
    assert "/calendar/" not in link["text"] + link["payload"]
    for name, rows in before.items():
        assert after[name] == rows, f"{name} differs after the round trip"


def test_after_importing_into_postgresql_new_rows_get_the_next_ids(
    tmp_path: Path, policy: Policy
) -> None:
    """The sequences moved past the imported ids: the next pitch is the next story."""
    with empty_database("sqlite", tmp_path, "source") as (source, _url):
        fill(source, policy)
        export_database(source, tmp_path / "export", force=False, now=NOW)
        highest = {
            name: max(row["id"] for row in rows)
            for name, rows in every_row(source).items()
            if rows and "id" in rows[0]
        }
    with empty_database("postgresql", tmp_path, "target") as (target, _url):
        import_database(target, tmp_path / "export")
        with write_session(target) as session:
            author = session.exec(select(Member).where(Member.user_id == "U0ZOE")).one()
            reply = stories.pitch(session, author, NOW, policy, PitchForm(title="Dark matter"))
            assert reply.ok
            assert reply.story_id == highest["story"] + 1
            newest = session.exec(select(Outbound).order_by(col(Outbound.id).desc())).first()
            assert newest is not None and newest.id is not None
            assert newest.id > highest["outbound"]
            newcomer = Member(platform="console", user_id="new", display_name="New",
                              created_at=NOW)
            session.add(newcomer)
            session.flush()
            assert newcomer.id == highest["member"] + 1


def test_the_files_keep_types_and_spreadsheets_get_csv(
    engine_with_demo: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    summary = export_database(engine_with_demo, out, force=False, now=NOW)
    manifest = json.loads((out / "manifest.json").read_text())
    assert {entry["name"] for entry in manifest["tables"]} == set(SQLModel.metadata.tables)
    assert manifest["schema_revisions"] == sorted(migrate.head_revisions())
    assert {entry["name"]: entry["rows"] for entry in manifest["tables"]} == summary.rows

    members = json.loads((out / "member.json").read_text())
    assert members["columns"]["created_at"] == "datetime"
    assert members["columns"]["reminders_enabled"] == "bool"
    assert all(row["created_at"].endswith("+00:00") for row in members["rows"])
    story_rows = json.loads((out / "story.json").read_text())["rows"]
    due = [row["draft_due"] for row in story_rows if row["draft_due"]]
    assert due and all(date.fromisoformat(day) for day in due)
    weekly = json.loads((out / "reach_weekly.json").read_text())
    assert weekly["columns"]["value"] == "int" and weekly["rows"][0]["value"] == 12_345_678_901

    for name in ("member", "story", "reach_daily", "reach_post"):
        with (out / f"{name}.csv").open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == summary.rows[name]
    assert not (out / "outbound.csv").exists()
    with (out / "member.csv").open(encoding="utf-8-sig", newline="") as handle:
        zoe = [row for row in csv.DictReader(handle) if row["user_id"] == "U0ZOE"]
    assert zoe[0]["display_name"].startswith("Zoë")
    assert zoe[0]["reminders_enabled"] == "true"


@pytest.fixture
def engine_with_demo(db_url_engine: Engine, policy: Policy) -> Engine:
    fill(db_url_engine, policy)
    return db_url_engine


def test_export_refuses_a_folder_with_files_unless_forced(
    engine_with_demo: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(BackupError, match="not empty"):
        export_database(engine_with_demo, out, force=False, now=NOW)
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt"]
    export_database(engine_with_demo, out, force=True, now=NOW)
    assert (out / "manifest.json").is_file() and (out / "notes.txt").read_text() == "keep me"

    url = engine_with_demo.url.render_as_string(hide_password=False)
    if engine_with_demo.dialect.name == "sqlite":
        monkeypatch.setenv("DATABASE_URL", url)
        assert main(["--env-file", str(tmp_path / "no.env"), "export", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--force" in err


def test_export_refuses_a_database_behind_the_migrations(
    db_url_engine: Engine, tmp_path: Path
) -> None:
    SQLModel.metadata.create_all(db_url_engine)  # the tables, but no migration history
    with pytest.raises(BackupError, match="storydesk db upgrade"):
        export_database(db_url_engine, tmp_path / "export", force=False, now=NOW)


def test_import_refuses_a_database_that_holds_anything(
    engine_with_demo: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "export"
    export_database(engine_with_demo, out, force=False, now=NOW)
    before = every_row(engine_with_demo)
    with pytest.raises(BackupError, match="not empty"):
        import_database(engine_with_demo, out)
    assert every_row(engine_with_demo) == before

    with empty_database("sqlite", tmp_path, "one-member") as (other, url):
        migrate.upgrade(other)
        with Session(other) as session:
            session.add(Member(platform="console", user_id="x", display_name="X",
                               created_at=NOW))
            session.commit()
        monkeypatch.setenv("DATABASE_URL", url)
        assert main(["--env-file", str(tmp_path / "no.env"), "import", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (
            "storydesk: cannot import: the database is not empty (member has 1 row); "
            "import only into a new, empty database."
        )


def test_an_incomplete_or_foreign_export_is_refused_and_nothing_is_written(
    engine_with_demo: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    export_database(engine_with_demo, out, force=False, now=NOW)

    with empty_database("sqlite", tmp_path, "target") as (target, _url):
        story_file = out / "story.json"
        full = story_file.read_text()
        data = json.loads(full)
        data["rows"] = data["rows"][:-1]
        story_file.write_text(json.dumps(data))
        with pytest.raises(BackupError, match=r"story\.json has \d+ rows; the manifest says"):
            import_database(target, out)
        assert all(not rows for rows in every_row(target).values())  # rolled back
        story_file.write_text(full)

        manifest = json.loads((out / "manifest.json").read_text())
        manifest["tables"].append({"name": "from_the_future", "file": "x.json", "rows": 0})
        (out / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(BackupError, match="from_the_future"):
            import_database(target, out)

        manifest["tables"].pop()
        (out / "manifest.json").write_text(json.dumps(manifest))
        members = json.loads((out / "member.json").read_text())
        del members["rows"][0]["display_name"]  # a required value the export lacks
        (out / "member.json").write_text(json.dumps(members))
        with pytest.raises(BackupError, match="the rows of member do not fit this database"):
            import_database(target, out)
        assert all(not rows for rows in every_row(target).values())

    with pytest.raises(BackupError, match="not a Storydesk export"):
        import_database(engine_with_demo, tmp_path)


def test_a_table_missing_from_an_older_export_starts_empty(
    engine_with_demo: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    export_database(engine_with_demo, out, force=False, now=NOW)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["tables"] = [t for t in manifest["tables"] if t["name"] != "calendar_token"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "calendar_token.json").unlink()
    with empty_database("sqlite", tmp_path, "target") as (target, _url):
        summary = import_database(target, out)
        assert "calendar_token" not in summary.rows
        rows = every_row(target)
    assert rows["calendar_token"] == [] and rows["story"] == every_row(engine_with_demo)["story"]


# --- values by column type ---------------------------------------------------------------

KINDS: dict[str, sa.types.TypeEngine[Any]] = {
    "decimal": sa.Numeric(12, 4),
    "float": sa.Float(),
    "date": sa.Date(),
    "bool": sa.Boolean(),
    "int": sa.BigInteger(),
    "bytes": sa.LargeBinary(),
    "str": sa.Text(),
}


def test_column_kinds_follow_the_column_type_through_decorators() -> None:
    assert column_kind(CalendarToken.__table__.c.created_at) == "datetime"  # type: ignore[attr-defined]
    assert column_kind(CalendarToken.__table__.c.token_hash) == "str"  # type: ignore[attr-defined]
    for kind, type_ in KINDS.items():
        assert column_kind(sa.Column("x", type_)) == kind


@given(
    st.one_of(
        st.tuples(st.just("decimal"), st.decimals(allow_nan=False, allow_infinity=False)),
        st.tuples(st.just("float"), st.floats(allow_nan=False)),
        st.tuples(st.just("date"), st.dates()),
        st.tuples(
            st.just("datetime"),
            st.datetimes(timezones=st.just(UTC)),
        ),
        st.tuples(st.just("bytes"), st.binary()),
        st.tuples(st.just("str"), st.text()),
        st.tuples(st.just("int"), st.integers()),
        st.tuples(st.just("interval"), st.timedeltas(min_value=timedelta(days=-9999),
                                                      max_value=timedelta(days=9999))),
    )
)
def test_every_kind_of_value_survives_json(pair: tuple[str, Any]) -> None:
    kind, value = pair
    through = decode(json.loads(json.dumps(encode(value, kind))), kind)
    assert through == value
    assert type(through) is type(value)
    if kind == "decimal":
        assert isinstance(through, Decimal) and str(through) == str(value)
