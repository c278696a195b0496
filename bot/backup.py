"""Export the whole database to a folder of JSON files, and import such a folder.

The export covers every table that SQLModel knows (so a table added to Storydesk is
exported without anyone touching this module): one JSON file per table with its rows,
values typed by their column (datetimes as ISO 8601 in UTC, dates, decimals as strings),
plus a CSV copy of the tables people open in a spreadsheet, and `manifest.json` naming the
schema revision and the row count of every table. A message not sent yet that carries a
secret (a personal calendar link) is written without it: an export hands out no link.

The import restores such a folder into an empty database: it applies the migrations,
refuses a database that holds any row, inserts the tables parents first (foreign-key
order) in one transaction, and on PostgreSQL moves each id sequence past the ids it
inserted, so that the next story gets the next number. SQLite to PostgreSQL and back works
the same way, which is how a team moves up from SQLite.
"""

from __future__ import annotations

import base64
import csv
import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (every table registered in the metadata)
from handlers.outbox import without_secret
from storage import migrate
from storage.db import write_session
from storage.models import Outbound

FORMAT = "storydesk-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# Tables people open in a spreadsheet get a CSV copy too (the JSON files stay the backup).
SPREADSHEET_TABLES = (
    "member",
    "story",
    "reach_daily",
    "reach_weekly",
    "reach_post",
    "audience_snapshot",
)
INSERT_BATCH = 500


class BackupError(Exception):
    """Something about the folder or the database that stops an export or an import."""


class DatabaseNotEmpty(BackupError):
    pass


@dataclass
class Summary:
    """What an export or an import did: rows per table, in foreign-key order."""

    rows: dict[str, int] = field(default_factory=dict)
    spreadsheets: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def tables() -> list[sa.Table]:
    """Every table Storydesk defines, parents before children."""
    return list(SQLModel.metadata.sorted_tables)


# --- values ------------------------------------------------------------------------------


def column_kind(column: sa.Column[Any]) -> str:
    """The JSON encoding a column's values get: from its type, not from its values."""
    type_: TypeEngine[Any] = column.type
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    checks: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
        (sa.Boolean, "bool"),
        (sa.DateTime, "datetime"),
        (sa.Date, "date"),
        (sa.Time, "time"),
        (sa.Interval, "interval"),
        (sa.Float, "float"),
        (sa.Numeric, "decimal"),
        (sa.Integer, "int"),
        (sa.LargeBinary, "bytes"),
        (sa.JSON, "json"),
        (sa.String, "str"),
    )
    for kind_type, kind in checks:
        if isinstance(type_, kind_type):
            return kind
    return "raw"


def encode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        assert isinstance(value, datetime)
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if kind in {"date", "time"}:
        return value.isoformat()
    if kind == "decimal":
        return str(value)
    if kind == "float":
        return value if math.isfinite(value) else str(value)
    if kind == "interval":
        assert isinstance(value, timedelta)
        return value // timedelta(microseconds=1)  # whole microseconds: exact
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    return value


def decode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "time":
        return time.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    if kind == "float":
        return float(value)
    if kind == "interval":
        return timedelta(microseconds=value)
    if kind == "bytes":
        return base64.b64decode(value)
    return value


def spreadsheet_text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    return str(encode(value, kind))


# --- export ------------------------------------------------------------------------------


def export_database(engine: Engine, out: Path, *, force: bool, now: datetime) -> Summary:
    """Write every table into `out`; refuses a folder with files in it unless `force`."""
    if out.exists() and not out.is_dir():
        raise BackupError(f"{out} is a file, not a folder.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise BackupError(
            f"{out} is not empty; give an empty or new folder, or --force to write into it."
        )
    if not migrate.is_up_to_date(engine):
        raise BackupError(
            "the database is not at the newest schema; run `storydesk db upgrade` first."
        )
    out.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    with _snapshot(engine) as connection:
        for table in tables():
            summary.rows[table.name] = _write_table(connection, table, out)
            if table.name in SPREADSHEET_TABLES:
                _write_spreadsheet(connection, table, out)
                summary.spreadsheets.append(f"{table.name}.csv")
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": now.astimezone(UTC).isoformat(),
        "source_database": engine.dialect.name,
        "schema_revisions": sorted(migrate.current_revisions(engine)),
        "tables": [
            {"name": name, "file": f"{name}.json", "rows": count}
            for name, count in summary.rows.items()
        ],
        "spreadsheets": summary.spreadsheets,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return summary


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction for the whole export, so that the tables agree with each other."""
    options: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect() as connection:
        connection = connection.execution_options(**options)
        with connection.begin() as transaction:
            yield connection
            transaction.rollback()


def _ordered_rows(connection: Connection, table: sa.Table) -> Iterator[sa.Row[Any]]:
    order = list(table.primary_key.columns) or list(table.columns)
    result = connection.execution_options(yield_per=1000).execute(
        sa.select(table).order_by(*order)
    )
    yield from result


def _write_table(connection: Connection, table: sa.Table, out: Path) -> int:
    kinds = {column.name: column_kind(column) for column in table.columns}
    count = 0
    with (out / f"{table.name}.json").open("w", encoding="utf-8") as handle:
        head = json.dumps({"table": table.name, "columns": kinds})
        handle.write(head[:-1] + ', "rows": [')
        for row in _ordered_rows(connection, table):
            values = {name: encode(row._mapping[name], kind) for name, kind in kinds.items()}
            if table.name == Outbound.__tablename__:  # a link not sent yet stays behind
                values["text"], values["payload"] = without_secret(values["text"],
                                                                   values["payload"])
            handle.write(("\n" if count == 0 else ",\n") + json.dumps(values, ensure_ascii=False))
            count += 1
        handle.write("\n]}\n")
    return count


def _write_spreadsheet(connection: Connection, table: sa.Table, out: Path) -> None:
    kinds = {column.name: column_kind(column) for column in table.columns}
    # UTF-8 with a byte-order mark: spreadsheet programs then read accents right.
    with (out / f"{table.name}.csv").open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(kinds))
        for row in _ordered_rows(connection, table):
            writer.writerow(
                [spreadsheet_text(row._mapping[name], kind) for name, kind in kinds.items()]
            )


# --- import ------------------------------------------------------------------------------


def read_manifest(source: Path) -> dict[str, Any]:
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} holds no {MANIFEST}: it is not a Storydesk export.")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BackupError(f"{path} cannot be read: {error}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not the manifest of a Storydesk export.")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is export format {manifest.get('version')}; this Storydesk reads "
            f"format {FORMAT_VERSION}."
        )
    return manifest


def import_database(engine: Engine, source: Path) -> Summary:
    """Restore the export in `source` into `engine`'s database, which must be empty."""
    manifest = read_manifest(source)
    known = {table.name: table for table in tables()}
    listed: dict[str, int] = {}
    for entry in manifest.get("tables", []):
        name = entry["name"]
        if name not in known:
            raise BackupError(
                f"the export has a table {name!r} that this version of Storydesk does not "
                "know; import it with the version that wrote it, or a newer one."
            )
        listed[name] = int(entry["rows"])
    migrate.upgrade(engine)
    summary = Summary()
    with write_session(engine) as session:
        connection = session.connection()
        _require_empty(connection)
        for table in tables():
            if table.name not in listed:
                continue  # written before this table existed: it starts empty
            rows = list(_read_rows(source, table))
            if len(rows) != listed[table.name]:
                raise BackupError(
                    f"{table.name}.json has {len(rows)} rows; the manifest says "
                    f"{listed[table.name]}. The export is incomplete."
                )
            for batch in _batches(rows, INSERT_BATCH):
                try:
                    connection.execute(table.insert(), batch)
                except sa.exc.StatementError as error:
                    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
                    raise BackupError(
                        f"the rows of {table.name} do not fit this database: {reason}"
                    ) from None
            summary.rows[table.name] = len(rows)
        if connection.dialect.name == "postgresql":
            _reset_sequences(connection)
    return summary


def _require_empty(connection: Connection) -> None:
    for table in tables():
        count = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        if count:
            raise DatabaseNotEmpty(
                f"the database is not empty ({table.name} has {count} "
                f"row{'s' if count != 1 else ''}); "
                "import only into a new, empty database."
            )


def _read_rows(source: Path, table: sa.Table) -> Iterator[dict[str, Any]]:
    path = source / f"{table.name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{path} is missing; the export is incomplete.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BackupError(f"{path} cannot be read: {error}") from None
    if not isinstance(data, dict) or data.get("table") != table.name:
        raise BackupError(f"{path} does not hold the table {table.name}.")
    kinds = {column.name: column_kind(column) for column in table.columns}
    for number, row in enumerate(data.get("rows", []), start=1):
        unknown = set(row) - set(kinds)
        if unknown:
            raise BackupError(
                f"{path}, row {number}: columns this version of Storydesk does not know: "
                f"{', '.join(sorted(unknown))}."
            )
        try:
            yield {name: decode(value, kinds[name]) for name, value in row.items()}
        except (ValueError, TypeError, ArithmeticError) as error:
            raise BackupError(f"{path}, row {number}: {error}") from None


def _batches(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _reset_sequences(connection: Connection) -> None:
    """Move each serial id's sequence past the largest id inserted with an explicit value."""
    quote = connection.dialect.identifier_preparer.quote
    for table in tables():
        for column in table.primary_key.columns:
            if column_kind(column) != "int":
                continue
            sequence = connection.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": quote(table.name), "column": column.name},
            ).scalar()
            if sequence is None:
                continue
            connection.execute(
                sa.text(
                    f"SELECT setval(:sequence, COALESCE((SELECT MAX({quote(column.name)}) "
                    f"FROM {quote(table.name)}), 0) + 1, false)"
                ),
                {"sequence": sequence},
            )


def describe(summary: Summary, out: TextIO, verb: str, where: str) -> None:
    tables_with_rows = sum(1 for count in summary.rows.values() if count)
    out.write(
        f"{verb} {summary.total:,} rows of {len(summary.rows)} tables "
        f"({tables_with_rows} with rows) {where}.\n"
    )
    for name, count in sorted(summary.rows.items()):
        out.write(f"  {name:<20} {count:>8,}\n")
