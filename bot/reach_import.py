"""`storydesk reach import FILE.csv ...`: reach figures from files, for teams without the API.

Two layouts are recognised by their header (column order does not matter, nor case):

- the content export of Meta Business Suite: one row per post, with `Post ID` and any of
  `Publish time`, `Permalink`, `Post type`, `Description`, `Views`, `Impressions`, `Reach`,
  `Likes`, `Shares`, `Comments`, `Saves`, `Follows` (other columns are ignored). Numbers may
  be quoted with thousands separators ("1,234"); times look like `03/27/2026 06:08` and are
  read in the team's time zone.
- a daily account file: `date` (YYYY-MM-DD) and any of `accounts_reached`,
  `non_followers_reached`, `views`, `impressions`, `followers`. An empty cell means unknown,
  not zero.

Good rows are stored (a day or a post imported again replaces the earlier figures); each
rejected row is named with its line number and the reason. The exit status is 1 if any row
was rejected.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.engine import Engine

from handlers.context import Policy
from handlers.reach import MAX_FIGURE, DailyFigure, PostFigures, store_daily, store_posts
from handlers.wording import plural
from storage.db import write_session

SOURCE = "csv"
BATCH = 1000
BAR_AFTER_ROWS = 1000  # a progress bar on a terminal for files at least this long
LINES_AFTER_ROWS = 10_000  # progress lines in logs (no terminal) for files this long

CONTENT_KIND = "Meta Business Suite content export"
DAILY_KIND = "daily account file"

CONTENT_COLUMNS = {
    "post id": "media_id",
    "publish time": "published_at",
    "permalink": "permalink",
    "post type": "post_type",
    "description": "caption",
    "views": "views",
    "impressions": "impressions",
    "reach": "reach",
    "likes": "likes",
    "shares": "shares",
    "comments": "comments",
    "saves": "saves",
    "follows": "follows",
}
CONTENT_FIGURES = ("views", "impressions", "reach", "likes", "shares", "comments", "saves",
                   "follows")
DAILY_COLUMNS = ("accounts_reached", "non_followers_reached", "views", "impressions",
                 "followers")
_SEPARATORS = re.compile(r"[,\u00a0\u202f' _]")
_US_TIME = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


class ImportProblem(Exception):
    """The file as a whole cannot be read (missing, not a CSV, header not recognised)."""


class RowProblem(ValueError):
    """One row is rejected; the message says why."""


@dataclass
class ImportResult:
    path: str
    kind: str = ""
    read: int = 0
    stored: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = [f"{self.path} ({self.kind}): {plural(self.read, 'row')} read, "
                 f"{self.stored} stored, {len(self.rejected)} rejected."]
        if self.ignored_columns and self.kind == DAILY_KIND:
            lines.append(f"  Columns not understood, ignored: {', '.join(self.ignored_columns)}")
        lines += [f"  line {line}: {reason}" for line, reason in self.rejected]
        return lines


def normalise(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


def parse_count(raw: str, column: str) -> int | None:
    """`"1,234"` -> 1234; an empty cell -> None (unknown)."""
    text = raw.strip()
    if not text:
        return None
    digits = _SEPARATORS.sub("", text)
    if not digits.isdigit():
        if re.fullmatch(r"-\d+", digits):
            raise RowProblem(f"{column} is negative ({text})")
        raise RowProblem(f"{column} is not a whole number ({text[:30]!r})")
    value = int(digits)
    if value > MAX_FIGURE:
        raise RowProblem(f"{column} is too large ({text[:30]})")
    return value


def parse_publish_time(raw: str, policy: Policy) -> datetime | None:
    """`03/27/2026 06:08` (month first, team's time zone) or ISO 8601 -> aware UTC."""
    text = raw.strip()
    if not text:
        return None
    match = _US_TIME.match(text)
    try:
        if match:
            month, day, year = int(match[1]), int(match[2]), int(match[3])
            hour, minute, second = int(match[4] or 0), int(match[5] or 0), int(match[6] or 0)
            local = datetime(year, month, day, hour, minute, second, tzinfo=policy.zone)
            return local.astimezone(UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RowProblem(f"Publish time is not a date and time ({text[:30]!r})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=policy.zone)
    return parsed.astimezone(UTC)


def parse_day(raw: str) -> date:
    text = raw.strip()
    if not text:
        raise RowProblem("date is empty")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RowProblem(f"date is not YYYY-MM-DD ({text[:30]!r})") from None


# --- reading -------------------------------------------------------------------------------


def _delimiter(first_line: str) -> str:
    """Comma, unless the header line has more semicolons or tabs (some spreadsheet exports)."""
    counts = {delimiter: first_line.count(delimiter) for delimiter in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def read_rows(text: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of (line number in the file, cells) for the rows after it."""
    lines = text.splitlines(keepends=True)
    skip = 0
    if lines and lines[0].strip().lower().startswith("sep="):
        skip = 1
    body = "".join(lines[skip:])
    reader = csv.reader(io.StringIO(body),
                        delimiter=_delimiter(lines[skip] if len(lines) > skip else ""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportProblem("the file is empty") from None
    except csv.Error as error:
        raise ImportProblem(f"not a CSV file ({error})") from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            start = reader.line_num + 1 + skip
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield start, [f"\0{error}"]
                continue
            if any(cell.strip() for cell in cells):
                yield start, cells

    return header, rows()


def detect(header: Sequence[str]) -> tuple[str, dict[str, int], list[str]]:
    """(kind, field name -> column index, ignored column names) for a header."""
    names = [normalise(name) for name in header]
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise ImportProblem(f"the column {name!r} appears twice in the header")
        seen.add(name)
    if "post id" in names:
        columns = {CONTENT_COLUMNS[name]: i for i, name in enumerate(names)
                   if name in CONTENT_COLUMNS}
        if not any(CONTENT_COLUMNS[n] in CONTENT_FIGURES for n in names if n in CONTENT_COLUMNS):
            raise ImportProblem("a content export needs at least one of the columns "
                                + ", ".join(c.title() for c in CONTENT_FIGURES))
        ignored = [header[i] for i, n in enumerate(names) if n not in CONTENT_COLUMNS]
        return CONTENT_KIND, columns, ignored
    if "date" in names:
        wanted = {name.replace(" ", "_").replace("-", "_"): i for i, name in enumerate(names)}
        columns = {name: wanted[name] for name in ("date", *DAILY_COLUMNS) if name in wanted}
        if len(columns) == 1:
            raise ImportProblem("a daily account file needs `date` and at least one of "
                                + ", ".join(DAILY_COLUMNS))
        ignored = [header[i] for i, n in enumerate(names)
                   if n.replace(" ", "_").replace("-", "_") not in columns]
        return DAILY_KIND, columns, ignored
    raise ImportProblem(
        "the header is not one Storydesk knows: expected the Meta Business Suite content "
        "export (with `Post ID`) or a daily account file (with `date` and "
        "accounts_reached, non_followers_reached, views, impressions or followers)"
    )


def _cell(cells: Sequence[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    if index is None or index >= len(cells):
        return ""
    return cells[index]


def content_row(cells: Sequence[str], columns: dict[str, int], policy: Policy) -> PostFigures:
    media_id = _cell(cells, columns, "media_id").strip().lstrip("'")
    if not media_id:
        raise RowProblem("Post ID is empty")
    if not re.fullmatch(r"\d{1,40}(_\d{1,40})?", media_id):
        raise RowProblem(f"Post ID is not a number ({media_id[:30]!r})")
    figures: dict[str, Any] = {}
    for name in CONTENT_FIGURES:
        if name in columns:
            figures[name] = parse_count(_cell(cells, columns, name), name.title())
    if all(value is None for value in figures.values()):
        raise RowProblem("no figures in this row")
    permalink = _cell(cells, columns, "permalink").strip() or None
    post_type = _cell(cells, columns, "post_type").strip().lower() or None
    return PostFigures(
        media_id=media_id.split("_")[-1],
        permalink=permalink,
        published_at=parse_publish_time(_cell(cells, columns, "published_at"), policy),
        post_type=post_type[:40] if post_type else None,
        caption=_cell(cells, columns, "caption").strip() or None,
        **figures,
    )


def daily_row(cells: Sequence[str], columns: dict[str, int], today: date
              ) -> list[DailyFigure]:
    day = parse_day(_cell(cells, columns, "date"))
    if day >= today:
        raise RowProblem(f"{day} is not over yet")
    values = {name: parse_count(_cell(cells, columns, name), name)
              for name in DAILY_COLUMNS if name in columns}
    known = {name: value for name, value in values.items() if value is not None}
    if not known:
        raise RowProblem(f"no figures for {day}")
    reached, non = known.get("accounts_reached"), known.get("non_followers_reached")
    if reached is not None and non is not None and non > reached:
        raise RowProblem(f"non_followers_reached ({non:,}) is more than accounts_reached "
                         f"({reached:,})")
    return [DailyFigure(day, name, value) for name, value in known.items()]


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


def import_file(
    path: str | Path, engine: Engine, policy: Policy, now: datetime,
    progress: Callable[[int, str], Progress] | None = None,
) -> ImportResult:
    """Read one file, store its good rows, and say what was rejected and why."""
    result = ImportResult(str(path))
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise ImportProblem(f"cannot read it ({error.strerror or error})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    header, rows = read_rows(text)
    kind, columns, ignored = detect(header)
    result.kind, result.ignored_columns = kind, ignored
    total = text.count("\n") + (0 if text.endswith("\n") else 1)
    bar = (progress or (lambda n, label: Progress(n, label)))(total, Path(path).name)
    today = now.astimezone(policy.zone).date()
    first_line: dict[str, int] = {}
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

    for line, cells in rows:
        result.read += 1
        try:
            if cells and cells[0].startswith("\0"):
                raise RowProblem(f"not a CSV row ({cells[0][1:]})")
            if kind == CONTENT_KIND:
                post = content_row(cells, columns, policy)
                key = post.media_id
                if key in first_line:
                    raise RowProblem(f"Post ID {key} appears again (first on line "
                                     f"{first_line[key]})")
                first_line[key] = line
                batch_posts.append(post)
            else:
                figures = daily_row(cells, columns, today)
                key = figures[0].day.isoformat()
                if key in first_line:
                    raise RowProblem(f"{key} appears again (first on line {first_line[key]})")
                first_line[key] = line
                batch_days.extend(figures)
            result.stored += 1
        except RowProblem as problem:
            result.rejected.append((line, str(problem)))
        if len(batch_posts) + len(batch_days) >= BATCH:
            flush()
        bar.update(line)
    flush()
    bar.finish()
    return result
