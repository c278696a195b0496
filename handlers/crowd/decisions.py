"""The pure rules of crowd health: balance against targets, medians, windows, the nudge
rule and the small-group rule. Plain data in, plain data out; no database, no clock."""

from __future__ import annotations

import calendar
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

SMALL_GROUP = 5  # any group smaller than this is shown as "fewer than 5", never counted
FEWER_THAN = f"fewer than {SMALL_GROUP}"
NOT_GIVEN = "not given"
OTHER = "other answers together"
ALL_TOGETHER = "all answers together (no group of 5 or more)"
CAREER_STAGES = ("bachelor", "master", "phd", "postdoc", "staff")
PROFILE_FIELDS = ("career", "country", "gender")
MAX_GENDER_LENGTH = 40
BALANCE_WEEKS = 12  # the coming-week post and the call for pitches look this far back


# --- windows ---------------------------------------------------------------------------


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier (the month's last day if shorter)."""
    year, month_index = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = calendar.monthrange(year, month_index + 1)[1]
    return date(year, month_index + 1, min(day.day, last))


def quarter_label(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def month_starts(first: date, last: date) -> list[date]:
    """The first day of every month from `first`'s month to `last`'s month."""
    result = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        result.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return result


# --- balance against targets -----------------------------------------------------------


@dataclass(frozen=True)
class BalanceRow:
    name: str
    count: int
    share: float | None  # of all counted stories; None when there are none
    target: int | None  # percent

    @property
    def gap(self) -> float | None:
        """Percentage points above (+) or below (-) the target."""
        if self.target is None:
            return None
        return (self.share or 0.0) * 100 - self.target


def balance(counts: Mapping[str, int], names: Sequence[str],
            targets: Sequence[tuple[str, int]]) -> tuple[BalanceRow, ...]:
    """Each name's count and share of the stories counted, beside its target."""
    wanted = dict(targets)
    total = sum(counts.get(name, 0) for name in names)
    return tuple(
        BalanceRow(name, counts.get(name, 0),
                   counts.get(name, 0) / total if total else None, wanted.get(name))
        for name in names
    )


def furthest_below(rows: Sequence[BalanceRow]) -> BalanceRow | None:
    """The row furthest below its target (ties: the larger target, then the name's order);
    None when nothing is below its target or there are no targets."""
    below = [row for row in rows if row.gap is not None and row.gap < 0]
    if not below:
        return None
    order = {row.name: index for index, row in enumerate(rows)}
    return min(below, key=lambda row: (row.gap or 0.0, -(row.target or 0), order[row.name]))


def balance_line(row: BalanceRow) -> str:
    share = "no stories" if row.share is None else f"{row.share * 100:.0f}%"
    if row.target is None:
        return f"{row.name} {row.count} ({share})"
    gap = row.gap or 0.0
    where = "on target" if abs(gap) < 0.5 else (f"{-gap:.0f} points below" if gap < 0
                                                 else f"{gap:.0f} points above")
    return f"{row.name} {row.count} ({share}; target {row.target}%, {where})"


# --- medians and shares ----------------------------------------------------------------


def median_days(spans: Iterable[tuple[datetime, datetime]]) -> float | None:
    """The median of the days from each pair's first to its second moment."""
    days = [(end - start).total_seconds() / 86400 for start, end in spans if end >= start]
    return statistics.median(days) if days else None


def share_text(part: int, whole: int) -> str:
    return f"{part} of {whole} ({part / whole * 100:.0f}%)" if whole else "nobody yet"


# --- the nudge rule ---------------------------------------------------------------------


def nudge_due(today: date, *, joined: date | None, last_pitch: date | None,
              last_nudge: date | None, after_months: int) -> bool:
    """A member is nudged when nothing was pitched for `after_months` months (counting
    from joining if never), and no nudge came in the last three months (so never twice in
    a quarter, nor twice across a quarter's turn)."""
    since = months_before(today, after_months)
    heard = last_pitch or joined
    if heard is None or heard > since:
        return False
    return last_nudge is None or last_nudge <= months_before(today, 3)


# --- the small-group rule -----------------------------------------------------------------


@dataclass(frozen=True)
class GroupCount:
    label: str
    count: int | None  # None: shown as "fewer than 5"
    share: float | None

    def text(self) -> str:
        if self.count is None:
            return f"{self.label}: {FEWER_THAN}"
        return f"{self.label}: {self.count} ({(self.share or 0) * 100:.0f}%)"


def make_up(values: Iterable[str | None]) -> tuple[GroupCount, ...]:
    """Counts by value with no group under SMALL_GROUP shown or deducible.

    Values held by fewer than five people are pooled into one row ("other answers
    together"). If that pool holds fewer than five, the smallest shown value joins it
    ("not given" before an answer of the same size)
    (otherwise it could be worked out from the total), until the pool holds five or more;
    if even everyone together is fewer than five, the one row says "fewer than 5".
    """
    counts = Counter(value if value else NOT_GIVEN for value in values)
    total = sum(counts.values())
    if total == 0:
        return ()
    if total < SMALL_GROUP:
        return (GroupCount("everyone", None, None),)
    # Largest first; of equal groups "not given" is pooled before an answer is.
    shown = sorted(((label, n) for label, n in counts.items() if n >= SMALL_GROUP),
                   key=lambda item: (-item[1], item[0] == NOT_GIVEN, item[0]))
    pooled = total - sum(n for _, n in shown)
    while 0 < pooled < SMALL_GROUP and shown:
        pooled += shown.pop()[1]
    rows = [GroupCount(label, n, n / total) for label, n in shown]
    if pooled:
        rows.append(GroupCount(OTHER if shown else ALL_TOGETHER, pooled, pooled / total))
    return tuple(rows)


# --- profile input ---------------------------------------------------------------------


class ProfileInputError(ValueError):
    """The profile text does not fit; the message says what to write instead."""


_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def parse_profile(words: Sequence[str]) -> dict[str, str | None]:
    """`career=phd country=DE gender=non binary` -> {field: value}; `field=` -> None
    (remove it). Gender may run over several words; the other fields are one word."""
    changes: dict[str, str | None] = {}
    current: str | None = None
    parts: dict[str, list[str]] = {}
    for word in words:
        key, equals, value = word.partition("=")
        if equals and key.lower() in PROFILE_FIELDS:
            current = key.lower()
            if current in parts:
                raise ProfileInputError(f"{current} is given twice.")
            parts[current] = [value] if value else []
        elif current == "gender":
            parts[current].append(word)
        else:
            raise ProfileInputError(
                f"I don't understand {word[:30]!r}: write career=, country= or gender=.")
    for name, pieces in parts.items():
        text = " ".join(pieces).strip()
        changes[name] = normalise(name, text) if text else None
    return changes


def normalise(name: str, value: str) -> str:
    if name == "career":
        if value.lower() not in CAREER_STAGES:
            raise ProfileInputError(
                f"career={value[:20]} is not one of {', '.join(CAREER_STAGES)}.")
        return value.lower()
    if name == "country":
        if not _COUNTRY.match(value):
            raise ProfileInputError(
                f"country={value[:20]} is not a two-letter country code such as DE or IT.")
        return value.upper()
    if len(value) > MAX_GENDER_LENGTH:
        raise ProfileInputError(f"gender= takes at most {MAX_GENDER_LENGTH} characters.")
    return value


def gender_key(value: str | None) -> str | None:
    """Genders are compared without regard to case or spacing."""
    return " ".join(value.casefold().split()) if value else None
