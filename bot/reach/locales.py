"""How an exported file writes its numbers and dates, in English and in German.

A German export writes `1.234,5` (a point groups thousands, a comma marks decimals); an
English one writes `1,234.5`. Read with the wrong convention, `12,5` becomes 125 and
`1,23` becomes 123, so a file's convention is decided from the file itself (its delimiter,
the language of its header, and the values in it) and every number is read by it. A value
that the convention cannot read, or that could mean two things when the file does not
say which, rejects its row with the reason; a decimal is never turned into a larger whole
number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from handlers.reach.store import MAX_FIGURE

ENGLISH = "en"
GERMAN = "de"

_GROUPING = re.compile(r"[\u00a0\u202f' _]")
_PLAIN = re.compile(r"\d+")
_ONE_SEPARATOR = re.compile(r"(\d+)([.,])(\d+)")


class NumberProblem(ValueError):
    """A cell is not a number this file's convention can read; the message says why."""


@dataclass(frozen=True)
class Convention:
    """How a file writes numbers: `decimal` is "," or ".", or None when undecided."""

    decimal: str | None
    reason: str

    @property
    def language(self) -> str | None:
        if self.decimal == ",":
            return GERMAN
        if self.decimal == ".":
            return ENGLISH
        return None

    @property
    def thousands(self) -> str | None:
        if self.decimal is None:
            return None
        return "." if self.decimal == "," else ","

    def show(self, value: int) -> str:
        """A whole number as the file writes it: 1.234 in a German file."""
        text = f"{value:,}"
        return text.replace(",", ".") if self.decimal == "," else text

    def describe(self) -> str:
        """The line the import prints about it."""
        if self.decimal == ",":
            shown = "1.234,5 (a point for thousands, a comma for decimals)"
        elif self.decimal == ".":
            shown = "1,234.5 (a comma for thousands, a point for decimals)"
        else:
            return (f"Numbers: the file does not say whether a comma marks thousands or "
                    f"decimals ({self.reason}); values such as 1,234 or 1.234 are rejected.")
        return f"Numbers read as {shown}: {self.reason}."


ENGLISH_NUMBERS = Convention(".", "English")
GERMAN_NUMBERS = Convention(",", "German")


def delimiter_language(delimiter: str) -> str | None:
    """A semicolon is what spreadsheets write where the comma is the decimal mark."""
    return {";": GERMAN, ",": ENGLISH}.get(delimiter)


def value_language(text: str) -> str | None:
    """The convention a single value proves on its own, if any.

    `12,5`, `1,23`, `1.234.567`, `1.234,5` can only be German; `1.5`, `1,234,567`,
    `1,234.5` only English; `1,234`, `1.234` and `1234` prove nothing.
    """
    value = _GROUPING.sub("", text.strip().lstrip("+-\u2212").rstrip("%").strip())
    if "," in value and "." in value:
        return GERMAN if value.rfind(",") > value.rfind(".") else ENGLISH
    for mark, other_side in ((",", ENGLISH), (".", GERMAN)):
        count = value.count(mark)
        if count > 1 and re.fullmatch(rf"\d{{1,3}}(\{mark}\d{{3}})+", value):
            return other_side  # several marks can only group thousands
        if count == 1:
            match = _ONE_SEPARATOR.fullmatch(value)
            if match and len(match[3]) != 3:
                return GERMAN if mark == "," else ENGLISH  # a decimal mark
    return None


def decide(delimiter: str, header_language: str | None, values: Iterable[str] = ()
           ) -> Convention:
    """The file's number convention, from its delimiter, header and (if need be) values.

    `values` is only read when the delimiter and the header do not settle it: when they
    disagree (English column names between semicolons), or when neither says anything.
    """
    by_delimiter = delimiter_language(delimiter)
    names = {GERMAN: "German column names", ENGLISH: "English column names"}
    marks = {";": "semicolons", ",": "commas between columns", "\t": "tabs"}
    if header_language and by_delimiter in (None, header_language):
        parts = [names[header_language]]
        if by_delimiter:
            parts.append(marks[delimiter])
        return _convention(header_language, ", ".join(parts))
    if by_delimiter and header_language is None:
        return _convention(by_delimiter, marks[delimiter])
    seen = {value_language(value) for value in values} - {None}
    if header_language:
        clue = f"{names[header_language]} but {marks[delimiter]}"
    else:
        clue = "neither the column names nor the delimiter tell"
    if len(seen) == 1:
        language = seen.pop()
        example = "12,5" if language == GERMAN else "1.5"
        assert language is not None
        return _convention(language, f"values such as {example} ({clue})")
    if seen:
        return Convention(None, f"{clue}, and values written both ways")
    return Convention(None, clue)


def _convention(language: str, reason: str) -> Convention:
    return Convention("," if language == GERMAN else ".", reason)


def read_number(text: str, column: str, convention: Convention) -> Decimal:
    """A number as the file writes it: `1.234,5` in a German file is 1234.5."""
    raw = text.strip()
    value = raw.replace("\u2212", "-")
    negative = value.startswith("-")
    value = value.lstrip("+-").strip()
    grouped = _GROUPING.sub("", value)
    if grouped != value and not re.fullmatch(r"\d{1,3}([\u00a0\u202f' _]\d{3})+([.,]\d+)?",
                                             value):
        raise NumberProblem(f"{column} is not a number ({raw[:30]!r})")
    value = grouped
    if _PLAIN.fullmatch(value):
        number = Decimal(value)
    else:
        number = _separated(value, raw, column, convention)
    return -number if negative else number


def _separated(value: str, raw: str, column: str, convention: Convention) -> Decimal:
    decimal, thousands = convention.decimal, convention.thousands
    if decimal is None:
        language = value_language(value)
        if language is None:
            if re.fullmatch(r"\d{1,3}[.,]\d{3}", value):
                raise NumberProblem(
                    f"{column} {raw!r} could be {value.replace(',', '').replace('.', '')} or "
                    f"{value.replace(',', '.')}: the file does not say whether a comma marks "
                    f"thousands or decimals; write it without separators")
            raise NumberProblem(f"{column} is not a number ({raw[:30]!r})")
        decimal = "," if language == GERMAN else "."
        thousands = "." if decimal == "," else ","
    assert thousands is not None
    pattern = rf"(\d{{1,3}}(?:\{thousands}\d{{3}})+|\d+)(?:\{decimal}(\d+))?"
    match = re.fullmatch(pattern, value)
    if not match:
        if re.fullmatch(r"[\d.,]+", value):
            example = "1.234,5" if decimal == "," else "1,234.5"
            raise NumberProblem(
                f"{column} {raw!r} cannot be read: this file writes numbers as {example}, "
                f"and {raw!r} is not written that way")
        raise NumberProblem(f"{column} is not a number ({raw[:30]!r})")
    whole = match[1].replace(thousands, "")
    try:
        return Decimal(f"{whole}.{match[2]}" if match[2] else whole)
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        raise NumberProblem(f"{column} is not a number ({raw[:30]!r})") from None


def read_count(text: str, column: str, convention: Convention = ENGLISH_NUMBERS
               ) -> int | None:
    """A whole number (reach, views, likes ...); an empty cell is None (unknown).

    A decimal is refused, never rounded and never read as a larger whole number; a zero
    fraction (`3,0` in a German file) is the whole number it shows.
    """
    raw = text.strip()
    if not raw:
        return None
    if raw.endswith("%"):
        raise NumberProblem(f"{column} is a percentage ({raw[:30]}), not a count")
    number = read_number(raw, column, convention)
    if number != number.to_integral_value():
        raise NumberProblem(f"{column} is not a whole number ({raw[:30]!r}: a decimal, and "
                            f"counts are whole numbers)")
    if number < 0:
        raise NumberProblem(f"{column} is negative ({raw[:30]})")
    value = int(number)
    if value > MAX_FIGURE:
        raise NumberProblem(f"{column} is too large ({raw[:30]})")
    return value


def read_rate(text: str, column: str, convention: Convention) -> Decimal | None:
    """A rate or a percentage (`37,5 %` in a German file): decimals are its nature."""
    raw = text.strip()
    if not raw:
        return None
    return read_number(raw.rstrip("%").strip(), column, convention)


# --- dates ---------------------------------------------------------------------------------

_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]00:00(?::00)?)?")
_GERMAN_DAY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_US_TIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_GERMAN_TIME = re.compile(
    r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*Uhr)?)?")


def read_day(text: str, convention: Convention, column: str = "date") -> date:
    """`YYYY-MM-DD` (also Meta's `2026-11-16T00:00:00`); `TT.MM.JJJJ` unless English."""
    raw = text.strip()
    if not raw:
        raise NumberProblem(f"{column} is empty")
    iso = _ISO_DAY.fullmatch(raw)
    german = _GERMAN_DAY.fullmatch(raw) if convention.language != ENGLISH else None
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        if german:
            return date(int(german[3]), int(german[2]), int(german[1]))
    except ValueError:
        raise NumberProblem(f"{column} is not a day of the calendar ({raw[:30]!r})") from None
    wanted = "YYYY-MM-DD" if convention.language == ENGLISH else "TT.MM.JJJJ or YYYY-MM-DD"
    raise NumberProblem(f"{column} is not {wanted} ({raw[:30]!r})")


def read_time(text: str, convention: Convention, zone: ZoneInfo, column: str
              ) -> datetime | None:
    """A publication time in the team's zone, as aware UTC; ISO 8601 is always accepted.

    English exports write `03/27/2026 06:08` (month first), German ones `27.03.2026 06:08`.
    """
    raw = text.strip()
    if not raw:
        return None
    english = _US_TIME.fullmatch(raw) if convention.language != GERMAN else None
    german = _GERMAN_TIME.fullmatch(raw) if convention.language != ENGLISH else None
    wanted = {ENGLISH: "MM/DD/YYYY HH:MM, month first", GERMAN: "TT.MM.JJJJ HH:MM"}.get(
        convention.language or "", "MM/DD/YYYY HH:MM or TT.MM.JJJJ HH:MM")
    try:
        if english or german:
            match = english or german
            assert match is not None
            first, second = int(match[1]), int(match[2])
            month, day = (first, second) if english else (second, first)
            local = datetime(int(match[3]), month, day, int(match[4] or 0),
                             int(match[5] or 0), int(match[6] or 0), tzinfo=zone)
            return local.astimezone(UTC)
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise NumberProblem(f"{column} is not a date and time ({raw[:30]!r}; this file "
                            f"writes {wanted})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)
