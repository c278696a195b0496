"""Reach import of real-world files: decimal commas, German exports, UTF-16, days not over."""

from __future__ import annotations

import codecs
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.cli import main
from bot.cli.reach import run_import
from bot.reach.csv_import import (
    CONTENT_KIND,
    DAILY_KIND,
    META_DAILY_KIND,
    ImportProblem,
    Progress,
    import_file,
)
from config.settings import Settings
from handlers.context import Policy
from storage.db import read_session
from storage.reach import ReachDaily, ReachPost

FIXTURES = Path(__file__).with_name("fixtures")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
DECIMAL = "a decimal, and counts are whole numbers"


def quiet(total: int, label: str) -> Progress:
    return Progress(total, label, io.StringIO(), tty=False)


def posts(engine: Engine) -> dict[str, ReachPost]:
    with read_session(engine) as session:
        return {post.media_id: post for post in session.exec(select(ReachPost)).all()}


def daily(engine: Engine) -> dict[tuple[date, str], int]:
    with read_session(engine) as session:
        return {(row.day, row.metric): row.value for row in session.exec(select(ReachDaily))}


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- decimal commas ------------------------------------------------------------------------


def test_decimal_commas_in_an_english_file_are_rejected_not_multiplied(
        engine: Engine, policy: Policy, tmp_path: Path) -> None:
    path = write(tmp_path, "export.csv", 'Post ID,Reach,Views\n'
                                         '17990000000000001,"12,5",100\n'
                                         '17990000000000002,"1,23",100\n'
                                         '17990000000000003,"1,234","12,345,678"\n')
    result = import_file(path, engine, policy, NOW, progress=quiet)

    assert result.rejected == [
        (2, "Reach '12,5' cannot be read: this file writes numbers as 1,234.5, and '12,5' "
            "is not written that way"),
        (3, "Reach '1,23' cannot be read: this file writes numbers as 1,234.5, and '1,23' "
            "is not written that way"),
    ]
    stored = posts(engine)
    assert set(stored) == {"17990000000000003"}  # neither 125 nor 123 was stored
    assert (stored["17990000000000003"].reach, stored["17990000000000003"].views) == (
        1234, 12345678)


def test_a_german_file_with_decimal_commas_is_refused_by_line(tmp_path: Path) -> None:
    path = write(tmp_path, "konto.csv", "Datum;Erreichte Konten;Aufrufe;Follower\n"
                                        "16.11.2026;12,5;3,0;1,2\n")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'import.db'}")
    out, err = io.StringIO(), io.StringIO()

    assert run_import(settings, [str(path)], NOW, out, err) == 1
    text = out.getvalue()
    assert "konto.csv (daily account file, German): 1 row read, 0 stored, 1 rejected." in text
    assert "Numbers read as 1.234,5 (a point for thousands, a comma for decimals): German " \
           "column names, semicolons." in text
    assert f"  line 2: Erreichte Konten is not a whole number ('12,5': {DECIMAL})" in text


def test_the_values_decide_when_header_and_delimiter_disagree(
        engine: Engine, policy: Policy, tmp_path: Path) -> None:
    # English column names between semicolons: an English export re-saved by a German
    # spreadsheet. "7,5" can only be German, so "1.234" is 1234 and "7,5" a decimal.
    path = write(tmp_path, "resaved.csv", "date;accounts reached;views\n"
                                          "2026-11-16;1.234;20.000\n"
                                          "2026-11-17;7,5;100\n")
    result = import_file(path, engine, policy, NOW, progress=quiet)

    assert result.numbers == ("Numbers read as 1.234,5 (a point for thousands, a comma for "
                              "decimals): values such as 12,5 (English column names but "
                              "semicolons).")
    assert result.rejected == [(3, f"accounts reached is not a whole number ('7,5': {DECIMAL})")]
    assert daily(engine) == {(date(2026, 11, 16), "accounts_reached"): 1234,
                             (date(2026, 11, 16), "views"): 20000}


def test_a_number_the_file_leaves_ambiguous_is_rejected(
        engine: Engine, policy: Policy, tmp_path: Path) -> None:
    path = write(tmp_path, "unclear.csv", "date;accounts reached\n"
                                          "2026-11-16;1,234\n"
                                          "2026-11-17;950\n")
    result = import_file(path, engine, policy, NOW, progress=quiet)

    assert result.rejected == [
        (2, "accounts reached '1,234' could be 1234 or 1.234: the file does not say whether "
            "a comma marks thousands or decimals; write it without separators")]
    assert "values such as 1,234 or 1.234 are rejected" in result.numbers
    assert daily(engine) == {(date(2026, 11, 17), "accounts_reached"): 950}


# --- German exports, one fixture per file kind ---------------------------------------------


def test_german_content_export(engine: Engine, policy: Policy) -> None:
    result = import_file(FIXTURES / "content_export_de.csv", engine, policy, NOW,
                         progress=quiet)

    assert (result.kind, result.label) == (CONTENT_KIND,
                                           "Meta Business Suite content export, German")
    assert (result.read, result.stored) == (6, 3)
    assert result.rejected == [
        (5, f"Reichweite is not a whole number ('12,5': {DECIMAL})"),
        (7, "Veröffentlichungszeitpunkt is not a date and time ('03/31/2026 10:00'; this "
            "file writes TT.MM.JJJJ HH:MM)"),
        (8, f"Reichweite is not a whole number ('1,2': {DECIMAL})"),
    ]
    assert result.ignored_columns == []  # Konto-ID, Dauer (Sek.), Datum ... are known
    stored = posts(engine)
    first = stored["18043960487123461"]
    assert (first.reach, first.views, first.likes, first.shares, first.saves) == (
        1520, 12034, 310, 45, 38)
    assert first.published_at == datetime(2026, 3, 27, 5, 8, tzinfo=UTC)  # day first
    assert first.post_type == "ig reel"
    assert stored["18043960487123462"].caption == "Ein Tag im Labor mit Zeilenumbruch"
    assert stored["18043960487123462"].shares is None  # an empty cell stays unknown
    big = stored["18043960487123464"]
    assert (big.views, big.reach, big.likes) == (1234567, 98765, 4321)


def test_german_daily_account_file(engine: Engine, policy: Policy) -> None:
    result = import_file(FIXTURES / "daily_account_de.csv", engine, policy, NOW,
                         progress=quiet)

    assert (result.kind, result.read, result.stored) == (DAILY_KIND, 6, 3)
    assert result.rejected == [
        (3, f"Erreichte Konten is not a whole number ('12,5': {DECIMAL})"),
        (5, "Erreichte Nicht-Follower (1.234) is more than Erreichte Konten (800)"),
    ]
    assert result.skipped == [(7, "2026-11-23 skipped: the day is not over yet in "
                                  "Europe/Berlin")]
    figures = daily(engine)
    assert figures[(date(2026, 11, 16), "accounts_reached")] == 1000
    assert figures[(date(2026, 11, 16), "views")] == 12000
    assert figures[(date(2026, 11, 16), "followers")] == 1500
    assert figures[(date(2026, 11, 20), "followers")] == 1510  # ISO days are read too
    assert (date(2026, 11, 18), "views") not in figures
    assert not any(day == date(2026, 11, 17) for day, _metric in figures)


@pytest.mark.parametrize(("name", "title", "language", "metric", "values"), [
    ("meta_daily_reach_en.csv", "Instagram reach", "English", "accounts_reached",
     [1234, 1180, 990]),
    ("meta_daily_views_de.csv", "Instagram-Aufrufe", "German", "views",
     [15000, 14200, 9800]),
])
def test_meta_daily_figures_in_utf16(engine: Engine, policy: Policy, name: str, title: str,
                                     language: str, metric: str, values: list[int]) -> None:
    assert (FIXTURES / name).read_bytes().startswith(codecs.BOM_UTF16_LE)
    result = import_file(FIXTURES / name, engine, policy, NOW, progress=quiet)

    assert result.kind == META_DAILY_KIND
    assert result.label == f"Meta Business Suite daily figures: {title}, {language}"
    assert (result.read, result.stored, result.rejected) == (4, 3, [])
    assert result.skipped == [(7, "2026-11-23 skipped: the day is not over yet in "
                                  "Europe/Berlin")]
    assert "  Read as UTF-16." in result.lines()
    assert daily(engine) == {(date(2026, 11, day), metric): value
                             for day, value in zip((20, 21, 22), values, strict=True)}


def test_utf16_tab_separated_export_is_read_not_called_unknown(
        engine: Engine, policy: Policy) -> None:
    path = FIXTURES / "content_export_de_utf16.csv"
    assert path.read_bytes().startswith(codecs.BOM_UTF16_LE)
    result = import_file(path, engine, policy, NOW, progress=quiet)

    assert (result.kind, result.read, result.stored, result.rejected) == (
        CONTENT_KIND, 2, 2, [])
    assert result.encoding == "utf-16"
    stored = posts(engine)
    assert (stored["18043960487123461"].views, stored["18043960487123461"].reach) == (
        12034, 1520)


def test_utf16_without_byte_order_mark(engine: Engine, policy: Policy,
                                       tmp_path: Path) -> None:
    path = write(tmp_path, "bare.csv", "date\tviews\r\n2026-11-16\t4200\r\n", "utf-16-le")
    result = import_file(path, engine, policy, NOW, progress=quiet)
    assert (result.stored, result.rejected) == (1, [])
    assert daily(engine) == {(date(2026, 11, 16), "views"): 4200}


def test_windows_1252_and_a_sep_line(engine: Engine, policy: Policy, tmp_path: Path) -> None:
    path = write(tmp_path, "alt.csv", "sep=;\r\nBeitrags-ID;Veröffentlichungszeitpunkt;"
                                      "Beschreibung;Reichweite\r\n"
                                      "17990000000000001;01.04.2026 18:00;Große Geräte;2.500\r\n",
                 "cp1252")
    result = import_file(path, engine, policy, NOW, progress=quiet)

    assert (result.stored, result.rejected, result.encoding) == (1, [], "cp1252")
    # A `sep=` line names the delimiter for the program that opens the file; the German
    # column names decide the numbers.
    assert result.numbers.endswith(": German column names.")
    post = posts(engine)["17990000000000001"]
    assert (post.caption, post.reach) == ("Große Geräte", 2500)
    assert post.published_at == datetime(2026, 4, 1, 16, 0, tzinfo=UTC)


def test_columns_not_recognised_are_named(engine: Engine, policy: Policy,
                                          tmp_path: Path) -> None:
    path = write(tmp_path, "more.csv", "Beitrags-ID;Reichweite;Interaktionen;Interaktionsrate\n"
                                       "17990000000000001;1.500;80;5,3 %\n")
    result = import_file(path, engine, policy, NOW, progress=quiet)

    assert result.rejected == []  # a decimal in a rate column is no reason to refuse a row
    assert "  Columns not recognised, ignored: Interaktionen" in result.lines()
    assert ("  Rates not imported (Storydesk works them out from the counts): "
            "Interaktionsrate") in result.lines()
    assert posts(engine)["17990000000000001"].reach == 1500


@pytest.mark.parametrize(("title", "message"), [
    ("Facebook reach", "'Facebook reach' is a Facebook figure; Storydesk keeps Instagram's"),
    ("Instagram profile visits", "'Instagram profile visits' is not a figure Storydesk "
                                 "keeps (it keeps reach, views, impressions and follows)"),
])
def test_meta_daily_figures_storydesk_does_not_keep(engine: Engine, policy: Policy,
                                                    tmp_path: Path, title: str,
                                                    message: str) -> None:
    path = write(tmp_path, "figure.csv", f'sep=,\n"{title}"\n"Date","Primary"\n'
                                         '"2026-11-16T00:00:00","12"\n', "utf-16")
    with pytest.raises(ImportProblem) as problem:
        import_file(path, engine, policy, NOW, progress=quiet)
    assert str(problem.value) == message


# --- days not over -------------------------------------------------------------------------


def test_a_day_still_running_on_instagrams_clock_is_skipped(
        engine: Engine, policy: Policy, tmp_path: Path) -> None:
    # 03:00 UTC on 23 November: 04:00 in Berlin, but 19:00 on the 22nd in California,
    # where Instagram closes its days.
    early = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    path = write(tmp_path, "days.csv", "date,views\n2026-11-21,100\n2026-11-22,80\n"
                                       "2026-11-23,5\n2026-11-25,1\n")
    result = import_file(path, engine, policy, early, progress=quiet)

    assert result.stored == 1
    assert result.skipped == [
        (3, "2026-11-22 skipped: the day is not over yet on Instagram's clock (Pacific "
            "time), which closes its days after Europe/Berlin"),
        (4, "2026-11-23 skipped: the day is not over yet in Europe/Berlin"),
    ]
    assert result.rejected == [(5, "2026-11-25 is in the future")]
    assert daily(engine) == {(date(2026, 11, 21), "views"): 100}


def test_an_export_made_during_the_day_imports_with_status_0(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    with freeze_time("2026-11-23 15:00:00"):
        status = main(["--env-file", str(tmp_path / "none.env"), "reach", "import",
                       str(FIXTURES / "meta_daily_reach_en.csv")])
    out = capsys.readouterr().out
    assert status == 0
    assert "4 rows read, 3 stored, 1 skipped, 0 rejected." in out
    assert "  line 7: 2026-11-23 skipped: the day is not over yet in Europe/Berlin" in out
