"""Numbers and dates as English and German exports write them (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.reach.locales import (
    ENGLISH,
    ENGLISH_NUMBERS,
    GERMAN,
    GERMAN_NUMBERS,
    Convention,
    NumberProblem,
    decide,
    read_count,
    read_day,
    read_rate,
    read_time,
    value_language,
)

UNDECIDED = Convention(None, "nothing tells")
BERLIN = ZoneInfo("Europe/Berlin")


def english(value: int) -> str:
    return f"{value:,}"


def german(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def decimal_in(language: str, whole: int, fraction: str) -> str:
    if language == ENGLISH:
        return f"{english(whole)}.{fraction}"
    return f"{german(whole)},{fraction}"


counts = st.integers(min_value=0, max_value=10**12)
fractions = st.from_regex(r"\d{0,4}[1-9]", fullmatch=True)


@given(counts)
def test_a_count_reads_back_in_its_own_convention(value: int) -> None:
    assert read_count(english(value), "Reach", ENGLISH_NUMBERS) == value
    assert read_count(german(value), "Reach", GERMAN_NUMBERS) == value
    assert read_count(str(value), "Reach", UNDECIDED) == value


@given(counts, st.sampled_from([english, german]))
def test_an_undecided_file_never_reads_a_wrong_value(value: int, render: object) -> None:
    assert callable(render)
    text = render(value)
    try:
        assert read_count(text, "Reach", UNDECIDED) == value
    except NumberProblem as problem:
        assert "could be" in str(problem)  # only the truly ambiguous 1,234 / 1.234


@given(st.integers(min_value=0, max_value=10**9), fractions, st.sampled_from([ENGLISH, GERMAN]))
def test_a_decimal_never_becomes_a_whole_number(whole: int, fraction: str,
                                                language: str) -> None:
    text = decimal_in(language, whole, fraction)
    own = ENGLISH_NUMBERS if language == ENGLISH else GERMAN_NUMBERS
    for convention in (own, UNDECIDED):
        with pytest.raises(NumberProblem):
            read_count(text, "Reach", convention)


@given(st.integers(min_value=0, max_value=10**12), fractions)
def test_a_value_never_proves_the_wrong_convention(whole: int, fraction: str) -> None:
    assert value_language(english(whole)) in (ENGLISH, None)
    assert value_language(german(whole)) in (GERMAN, None)
    assert value_language(decimal_in(ENGLISH, whole, fraction)) in (ENGLISH, None)
    assert value_language(decimal_in(GERMAN, whole, fraction)) in (GERMAN, None)


@pytest.mark.parametrize(("text", "language"), [
    ("12,5", GERMAN), ("1,23", GERMAN), ("1.234.567", GERMAN), ("1.234,5", GERMAN),
    ("1.5", ENGLISH), ("1,234,567", ENGLISH), ("1,234.5", ENGLISH),
    ("1,234", None), ("1.234", None), ("1234", None), ("", None),
])
def test_which_values_prove_a_convention(text: str, language: str | None) -> None:
    assert value_language(text) == language


def test_the_examples_that_were_stored_wrongly() -> None:
    with pytest.raises(NumberProblem, match="a decimal, and counts are whole numbers"):
        read_count("12,5", "Reach", GERMAN_NUMBERS)
    with pytest.raises(NumberProblem, match="cannot be read: this file writes numbers as"):
        read_count("12,5", "Reach", ENGLISH_NUMBERS)
    with pytest.raises(NumberProblem, match="cannot be read"):
        read_count("1,23", "Reach", ENGLISH_NUMBERS)
    assert read_count("3,0", "Reach", GERMAN_NUMBERS) == 3  # a zero fraction is exact
    with pytest.raises(NumberProblem, match="a decimal"):
        read_count("1,2", "Reach", GERMAN_NUMBERS)
    assert read_count("1.234", "Reach", GERMAN_NUMBERS) == 1234
    assert read_count("1,234", "Reach", ENGLISH_NUMBERS) == 1234
    with pytest.raises(NumberProblem, match="a decimal"):
        read_count("1.234", "Reach", ENGLISH_NUMBERS)
    with pytest.raises(NumberProblem, match="a decimal"):
        read_count("1,234", "Reach", GERMAN_NUMBERS)


@pytest.mark.parametrize(("text", "message"), [
    ("-5", "Reach is negative (-5)"),
    ("\u22125", "Reach is negative (\u22125)"),
    ("abc", "Reach is not a number ('abc')"),
    ("12e3", "Reach is not a number ('12e3')"),
    ("12 34", "Reach is not a number ('12 34')"),
    ("35 %", "Reach is a percentage (35 %), not a count"),
    ("2000000000000", "Reach is too large (2000000000000)"),
])
def test_counts_refused_with_their_reason(text: str, message: str) -> None:
    with pytest.raises(NumberProblem) as problem:
        read_count(text, "Reach", ENGLISH_NUMBERS)
    assert str(problem.value) == message


def test_spaces_and_apostrophes_group_thousands_in_every_convention() -> None:
    for convention in (ENGLISH_NUMBERS, GERMAN_NUMBERS, UNDECIDED):
        assert read_count("12\u202f345", "Reach", convention) == 12345
        assert read_count("1'234'567", "Reach", convention) == 1234567
    assert read_count("  ", "Reach", GERMAN_NUMBERS) is None


def test_rates_keep_their_decimals() -> None:
    assert read_rate("37,5 %", "Quote", GERMAN_NUMBERS) == Decimal("37.5")
    assert read_rate("0.375", "Ratio", ENGLISH_NUMBERS) == Decimal("0.375")
    assert read_rate("", "Ratio", ENGLISH_NUMBERS) is None


@pytest.mark.parametrize(("delimiter", "header", "values", "decimal"), [
    (";", GERMAN, [], ","),
    (",", ENGLISH, [], "."),
    ("\t", GERMAN, [], ","),  # a tab says nothing; the header does
    (";", None, [], ","),  # Storydesk's own column names: the delimiter decides
    ("", ENGLISH, [], "."),  # a `sep=` line: the header decides
    (";", ENGLISH, ["100", "7,5"], ","),  # they disagree: the values decide
    (",", GERMAN, ["1.5"], "."),
    (";", ENGLISH, ["1,234"], None),  # nothing decides
    (";", ENGLISH, ["12,5", "1.5"], None),  # values both ways
    ("\t", None, ["1.234.567"], ","),
])
def test_deciding_a_files_convention(delimiter: str, header: str | None, values: list[str],
                                     decimal: str | None) -> None:
    assert decide(delimiter, header, values).decimal == decimal


def test_values_are_not_read_when_the_file_already_says() -> None:
    def untouchable() -> list[str]:
        raise AssertionError("the values were read")

    assert decide(";", GERMAN, iter(untouchable, None)).decimal == ","


@pytest.mark.parametrize(("text", "convention", "day"), [
    ("2026-11-16", ENGLISH_NUMBERS, date(2026, 11, 16)),
    ("2026-11-16T00:00:00", GERMAN_NUMBERS, date(2026, 11, 16)),
    ("16.11.2026", GERMAN_NUMBERS, date(2026, 11, 16)),
    ("1.2.2026", UNDECIDED, date(2026, 2, 1)),
])
def test_days(text: str, convention: Convention, day: date) -> None:
    assert read_day(text, convention) == day


@pytest.mark.parametrize(("text", "convention", "message"), [
    ("16.11.2026", ENGLISH_NUMBERS, "date is not YYYY-MM-DD ('16.11.2026')"),
    ("11/16/2026", GERMAN_NUMBERS, "date is not TT.MM.JJJJ or YYYY-MM-DD ('11/16/2026')"),
    ("31.02.2026", GERMAN_NUMBERS, "date is not a day of the calendar ('31.02.2026')"),
    ("", GERMAN_NUMBERS, "date is empty"),
])
def test_days_refused(text: str, convention: Convention, message: str) -> None:
    with pytest.raises(NumberProblem) as problem:
        read_day(text, convention)
    assert str(problem.value) == message


def test_publication_times_month_first_in_english_day_first_in_german() -> None:
    assert read_time("03/04/2026 18:00", ENGLISH_NUMBERS, BERLIN, "Publish time") == datetime(
        2026, 3, 4, 17, 0, tzinfo=UTC)
    assert read_time("03.04.2026 18:00", GERMAN_NUMBERS, BERLIN, "Publish time") == datetime(
        2026, 4, 3, 16, 0, tzinfo=UTC)
    assert read_time("2026-04-03T18:00:00+02:00", GERMAN_NUMBERS, BERLIN, "x") == datetime(
        2026, 4, 3, 16, 0, tzinfo=UTC)
    with pytest.raises(NumberProblem, match="this file writes MM/DD/YYYY HH:MM, month first"):
        read_time("03.04.2026 18:00", ENGLISH_NUMBERS, BERLIN, "Publish time")
    with pytest.raises(NumberProblem, match=r"this file writes TT\.MM\.JJJJ HH:MM"):
        read_time("03/04/2026 18:00", GERMAN_NUMBERS, BERLIN, "Publish time")
