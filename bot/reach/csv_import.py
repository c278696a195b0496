"""`storydesk reach import FILE.csv ...`: reach figures from files, for teams without the API.

Three layouts are recognised by their header, in English or German (column order does not
matter, nor case; `bot/reach/columns.py` lists the names and where they come from):

- the content export of Meta Business Suite: one row per post (`Post ID` / `Beitrags-ID`);
- Meta Business Suite's daily figures: one file per figure, its name on the line before
  the header `Date`, `Primary` (`Datum`, `Primär`);
- Storydesk's daily account file: `date` and any of `accounts_reached`,
  `non_followers_reached`, `views`, `impressions`, `followers`, `new_followers`.

Each file's number convention (`1,234.5` or `1.234,5`) is decided from the file
(`bot/reach/locales.py`). The file is read as a stream and its good rows are stored in
batches (a day or a post imported again replaces the earlier figures); each rejected row is
named with its line number and the reason; a day that is not over yet, in the team's time
zone or on Instagram's clock (Pacific time), is skipped with a note. The exit status is 1
if any row was rejected.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from bot.reach.columns import (
    CONTENT_FIGURES,
    CONTENT_KIND,
    DAILY_KIND,
    META_DAILY_KIND,
    Layout,
    LayoutProblem,
    detect,
)
from bot.reach.csv_stream import FileProblem, Table, open_table
from bot.reach.locales import (
    Convention,
    NumberProblem,
    decide,
    read_count,
    read_day,
    read_time,
)
from handlers.context import Policy
from handlers.reach.store import DailyFigure, PostFigures, store_daily, store_posts
from handlers.reply import plural
from storage.db import write_session
from storage.reach import DAILY_METRICS

__all__ = ["CONTENT_KIND", "DAILY_KIND", "META_DAILY_KIND", "ImportProblem", "ImportResult",
           "Progress", "import_file", "parse_count"]

SOURCE = "csv"
BATCH = 1000
BAR_AFTER_ROWS = 1000  # a progress bar on a terminal for files at least this long
LINES_AFTER_ROWS = 10_000  # progress lines in logs (no terminal) for files this long
INSTAGRAM_ZONE = ZoneInfo("America/Los_Angeles")
"""Instagram closes its days at midnight Pacific time (see bot/reach/instagram.py)."""


class ImportProblem(Exception):
    """The file as a whole cannot be read (missing, not a CSV, header not recognised)."""


RowProblem = NumberProblem
"""One row is rejected; the message says why."""


class DayNotOver(Exception):
    """The row's day is still running: skipped, not an error."""


@dataclass
class ImportResult:
    path: str
    kind: str = ""
    label: str = ""
    read: int = 0
    stored: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    rate_columns: list[str] = field(default_factory=list)
    numbers: str = ""
    encoding: str = ""

    def lines(self) -> list[str]:
        skipped = f"{len(self.skipped)} skipped, " if self.skipped else ""
        lines = [f"{self.path} ({self.label or self.kind}): {plural(self.read, 'row')} read, "
                 f"{self.stored} stored, {skipped}{len(self.rejected)} rejected."]
        if self.encoding.startswith("utf-16"):
            lines.append("  Read as UTF-16.")
        if self.numbers:
            lines.append(f"  {self.numbers}")
        if self.ignored_columns:
            lines.append(f"  Columns not recognised, ignored: {', '.join(self.ignored_columns)}")
        if self.rate_columns:
            lines.append("  Rates not imported (Storydesk works them out from the counts): "
                         + ", ".join(self.rate_columns))
        notes = sorted(self.rejected + self.skipped)
        lines += [f"  line {line}: {reason}" for line, reason in notes]
        return lines


def parse_count(raw: str, column: str) -> int | None:
    """`"1,234"` -> 1234 in an English file; an empty cell -> None (unknown)."""
    return read_count(raw, column)


# --- rows ----------------------------------------------------------------------------------


def _cell(cells: Sequence[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    if index is None or index >= len(cells):
        return ""
    return cells[index]


def content_row(cells: Sequence[str], layout: Layout, convention: Convention,
                policy: Policy) -> PostFigures:
    columns = layout.columns
    media_id = _cell(cells, columns, "media_id").strip().lstrip("'")
    id_column = _column_name(layout, "media_id")
    if not media_id:
        raise RowProblem(f"{id_column} is empty")
    if not re.fullmatch(r"\d{1,40}(_\d{1,40})?", media_id):
        raise RowProblem(f"{id_column} is not a number ({media_id[:30]!r})")
    figures: dict[str, Any] = {}
    for name in CONTENT_FIGURES:
        if name in columns:
            figures[name] = read_count(_cell(cells, columns, name),
                                       _column_name(layout, name), convention)
    if all(value is None for value in figures.values()):
        raise RowProblem("no figures in this row")
    permalink = _cell(cells, columns, "permalink").strip() or None
    post_type = _cell(cells, columns, "post_type").strip().lower() or None
    published = read_time(_cell(cells, columns, "published_at"), convention, policy.zone,
                          _column_name(layout, "published_at"))
    return PostFigures(
        media_id=media_id.split("_")[-1],
        permalink=permalink,
        published_at=published,
        post_type=post_type[:40] if post_type else None,
        caption=_cell(cells, columns, "caption").strip() or None,
        **figures,
    )


def _column_name(layout: Layout, name: str) -> str:
    """How rejections name a column: as the file does (`Reichweite`)."""
    index = layout.columns.get(name)
    if index is not None and index < len(layout.header):
        return layout.header[index].strip()
    return name


def daily_row(cells: Sequence[str], layout: Layout, convention: Convention, now: datetime,
              policy: Policy) -> list[DailyFigure]:
    columns = layout.columns
    day = read_day(_cell(cells, columns, "date"), convention)
    check_day_over(day, now, policy)
    if layout.kind == META_DAILY_KIND:
        value = read_count(_cell(cells, columns, "value"), layout.metric, convention)
        if value is None:
            raise RowProblem(f"no figure for {day}")
        return [DailyFigure(day, layout.metric, value)]
    values = {name: read_count(_cell(cells, columns, name), _column_name(layout, name),
                               convention)
              for name in DAILY_METRICS if name in columns}
    known = {name: value for name, value in values.items() if value is not None}
    if not known:
        raise RowProblem(f"no figures for {day}")
    reached, non = known.get("accounts_reached"), known.get("non_followers_reached")
    if reached is not None and non is not None and non > reached:
        raise RowProblem(f"{_column_name(layout, 'non_followers_reached')} "
                         f"({convention.show(non)}) is more than "
                         f"{_column_name(layout, 'accounts_reached')} "
                         f"({convention.show(reached)})")
    return [DailyFigure(day, name, value) for name, value in known.items()]


def check_day_over(day: date, now: datetime, policy: Policy) -> None:
    """A day counts once it is over both in the team's time zone and on Instagram's clock.

    An export made during the day includes that day with the figures so far; storing them
    would replace them later only if the file were imported again, so the day is skipped.
    """
    team_today = now.astimezone(policy.zone).date()
    instagram_today = now.astimezone(INSTAGRAM_ZONE).date()
    if day > max(team_today, instagram_today):
        raise RowProblem(f"{day} is in the future")
    if day >= team_today:
        raise DayNotOver(f"{day} skipped: the day is not over yet in {policy.timezone}")
    if day >= instagram_today:
        raise DayNotOver(f"{day} skipped: the day is not over yet on Instagram's clock "
                         f"(Pacific time), which closes its days after {policy.timezone}")


# --- progress ------------------------------------------------------------------------------


class Progress:
    """A bar on a terminal for long files, or a line per tenth when stderr is a log."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None,
                 tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = max(total, 1)
        self.label = label
        self.enabled = total >= (BAR_AFTER_ROWS if self.tty else LINES_AFTER_ROWS)
        self.shown = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self.tty:
            step = done * 100 // self.total
            if step != self.shown:
                self.shown = step
                filled = step * 30 // 100
                self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] "
                                  f"{step:3d}% {done:,}/{self.total:,} lines")
                self.stream.flush()
        else:
            step = done * 10 // self.total
            if step != self.shown and step > 0:
                self.shown = step
                self.stream.write(f"{self.label}: {done:,} of {self.total:,} lines\n")

    def finish(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --- the import ----------------------------------------------------------------------------


def _count_cells(table: Table, layout: Layout) -> Iterator[str]:
    """The cells of the figure columns, read again from the file, for `decide` to look at."""
    indexes = [index for name, index in layout.columns.items()
               if name in (*CONTENT_FIGURES, *DAILY_METRICS, "value")]
    for _line, cells in table.rows():
        for index in indexes:
            if index < len(cells):
                yield cells[index]


def import_file(
    path: str | Path, engine: Engine, policy: Policy, now: datetime,
    progress: Callable[[int, str], Progress] | None = None,
) -> ImportResult:
    """Read one file as a stream, store its good rows in batches, say what was rejected."""
    result = ImportResult(str(path))
    try:
        table = open_table(path)
        layout = detect(table.header, table.title)
    except (FileProblem, LayoutProblem) as problem:
        raise ImportProblem(str(problem)) from None
    # A delimiter named by a `sep=` line is the exporting program's choice, not a locale's.
    convention = decide("" if table.declared else table.delimiter, layout.language,
                        _count_cells(table, layout))
    result.kind, result.label = layout.kind, layout.label
    result.ignored_columns, result.rate_columns = layout.not_recognised, layout.rates
    result.numbers, result.encoding = convention.describe(), table.encoding
    bar = (progress or (lambda n, label: Progress(n, label)))(table.lines, Path(path).name)
    first_line: dict[int | date, int] = {}
    batch_posts: list[PostFigures] = []
    batch_days: list[DailyFigure] = []

    def flush() -> None:
        if not batch_posts and not batch_days:
            return
        with write_session(engine) as session:
            store_posts(session, batch_posts, source=SOURCE, now=now)
            store_daily(session, batch_days, source=SOURCE, now=now)
        batch_posts.clear()
        batch_days.clear()

    for line, cells in table.rows():
        result.read += 1
        try:
            if cells and cells[0].startswith("\0"):
                raise RowProblem(f"not a CSV row ({cells[0][1:]})")
            if layout.kind == CONTENT_KIND:
                post = content_row(cells, layout, convention, policy)
                key: int | date = int(post.media_id)
                if key in first_line:
                    raise RowProblem(f"{_column_name(layout, 'media_id')} {post.media_id} "
                                     f"appears again (first on line {first_line[key]})")
                first_line[key] = line
                batch_posts.append(post)
            else:
                figures = daily_row(cells, layout, convention, now, policy)
                key = figures[0].day
                if key in first_line:
                    raise RowProblem(f"{key} appears again (first on line {first_line[key]})")
                first_line[key] = line
                batch_days.extend(figures)
            result.stored += 1
        except RowProblem as problem:
            result.rejected.append((line, str(problem)))
        except DayNotOver as note:
            result.skipped.append((line, str(note)))
        if len(batch_posts) + len(batch_days) >= BATCH:
            flush()
        bar.update(line)
    flush()
    bar.finish()
    return result
