"""CSV import: both layouts, columns in any order, thousands separators, bad rows named."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.cli.reach import run_import
from bot.reach.csv_import import (
    CONTENT_KIND,
    DAILY_KIND,
    ImportProblem,
    Progress,
    import_file,
    parse_count,
)
from config.settings import Settings
from handlers.context import Policy
from storage.db import make_engine, read_session, write_session
from storage.models import Story
from storage.reach import ReachDaily, ReachPost
from tests.conftest import add_member

FIXTURES = Path(__file__).with_name("fixtures")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def quiet(total: int, label: str) -> Progress:
    return Progress(total, label, io.StringIO(), tty=False)


def test_content_export_with_reordered_columns_and_bad_rows(engine: Engine,
                                                            policy: Policy) -> None:
    with write_session(engine) as session:
        author = add_member(session, "Dana")
        assert author.id is not None
        session.add(Story(title="Muon tomography", author_id=author.id, state="published",
                          permalink="https://www.instagram.com/reel/C5aaaaaaa01",
                          published_at=NOW))
    result = import_file(FIXTURES / "content_export.csv", engine, policy, NOW, progress=quiet)

    assert result.kind == CONTENT_KIND
    assert (result.read, result.stored) == (7, 3)
    assert result.rejected == [
        (5, "Reach is not a number ('abc')"),
        (6, "Post ID is empty"),
        (7, "Publish time is not a date and time ('31/03/2026 10:00'; this file writes "
            "MM/DD/YYYY HH:MM, month first)"),
        (8, "Post ID 18043960487123451 appears again (first on line 2)"),
    ]
    with read_session(engine) as session:
        posts = {p.media_id: p for p in session.exec(select(ReachPost)).all()}
    first = posts["18043960487123451"]
    assert (first.reach, first.views, first.likes, first.saves, first.follows) == (
        1520, 12034, 310, 38, 7)
    assert first.impressions is None
    # 27 March 2026 06:08 in Berlin is still winter time (UTC+1).
    assert first.published_at == datetime(2026, 3, 27, 5, 8, tzinfo=UTC)
    assert first.post_type == "ig reel" and first.source == "csv"
    assert first.story_id is not None  # linked by its permalink
    second = posts["18043960487123452"]
    assert second.caption == "Life at the lab with a line break"
    assert second.shares is None and second.follows is None  # empty cells: unknown
    assert second.published_at == datetime(2026, 3, 30, 16, 0, tzinfo=UTC)  # summer time
    assert set(posts) == {"18043960487123451", "18043960487123452", "18043960487123456"}


def test_importing_again_replaces_and_never_doubles(engine: Engine, policy: Policy) -> None:
    for _ in range(2):
        import_file(FIXTURES / "content_export.csv", engine, policy, NOW, progress=quiet)
        import_file(FIXTURES / "daily_account.csv", engine, policy, NOW, progress=quiet)
    with read_session(engine) as session:
        assert len(session.exec(select(ReachPost)).all()) == 3
        # 16 Nov: 4 figures, 17 Nov: 2, 19 Nov: 4
        assert len(session.exec(select(ReachDaily)).all()) == 4 + 2 + 4


def test_older_export_keeps_impressions_apart(engine: Engine, policy: Policy) -> None:
    result = import_file(FIXTURES / "content_export_2024.csv", engine, policy, NOW,
                         progress=quiet)
    assert (result.read, result.stored, result.rejected) == (2, 2, [])
    with read_session(engine) as session:
        post = session.exec(select(ReachPost).where(
            ReachPost.media_id == "17990000000000002")).one()
    assert (post.impressions, post.views, post.reach, post.shares) == (10200, None, 4100, 25)


def test_daily_file_any_order_empty_cells_unknown(engine: Engine, policy: Policy) -> None:
    result = import_file(FIXTURES / "daily_account.csv", engine, policy, NOW, progress=quiet)

    assert result.kind == DAILY_KIND
    assert (result.read, result.stored) == (10, 3)
    assert result.rejected == [
        (5, "2026-11-19 appears again (first on line 4)"),
        (6, "non_followers_reached (900) is more than accounts_reached (800)"),
        (7, "date is not YYYY-MM-DD ('20.11.2026')"),
        (8, "views is negative (-5)"),
        (9, "non_followers_reached is not a whole number ('1.5': a decimal, and counts are "
            "whole numbers)"),
        (10, "no figures for 2026-11-15"),
    ]
    # An export made during the day includes today: skipped with a note, not an error.
    assert result.skipped == [
        (11, "2026-11-23 skipped: the day is not over yet in Europe/Berlin")]
    with read_session(engine) as session:
        rows = {(r.day, r.metric): (r.value, r.source)
                for r in session.exec(select(ReachDaily)).all()}
    assert rows[(date(2026, 11, 16), "views")] == (12000, "csv")
    assert rows[(date(2026, 11, 16), "accounts_reached")] == (1000, "csv")
    assert rows[(date(2026, 11, 16), "followers")] == (1500, "csv")
    assert (date(2026, 11, 17), "views") not in rows  # an empty cell is not a zero
    assert (date(2026, 11, 17), "followers") not in rows
    assert rows[(date(2026, 11, 19), "non_followers_reached")] == (300, "csv")


def test_an_unknown_header_is_refused_as_a_whole(engine: Engine, policy: Policy) -> None:
    with pytest.raises(ImportProblem, match="header is not one Storydesk knows"):
        import_file(FIXTURES / "unknown_header.csv", engine, policy, NOW, progress=quiet)
    with pytest.raises(ImportProblem, match="cannot read it"):
        import_file(FIXTURES / "missing.csv", engine, policy, NOW, progress=quiet)


def test_parse_count() -> None:
    assert parse_count('1,234', "Reach") == 1234
    assert parse_count("12\u202f345", "Reach") == 12345
    assert parse_count("  ", "Reach") is None
    for bad in ("1.5", "abc", "-3", "12e3"):
        with pytest.raises(ValueError):
            parse_count(bad, "Reach")


def test_progress_bar_on_a_terminal_for_long_files() -> None:
    stream = io.StringIO()
    bar = Progress(2000, "big.csv", stream, tty=True)
    for line in range(1, 2001):
        bar.update(line)
    bar.finish()
    shown = stream.getvalue()
    assert shown.count("\r") == 101  # 0 % to 100 %, once each
    assert "100% 2,000/2,000 lines" in shown and shown.endswith("\n")

    short = io.StringIO()
    small = Progress(50, "small.csv", short, tty=True)
    small.update(50)
    small.finish()
    assert short.getvalue() == ""

    log = io.StringIO()
    logged = Progress(20_000, "huge.csv", log, tty=False)
    for line in range(1, 20_001):
        logged.update(line)
    assert log.getvalue().count("\n") == 10 and "\r" not in log.getvalue()


def test_command_exit_status_and_summary(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cli.db'}")
    out, err = io.StringIO(), io.StringIO()
    status = run_import(settings, [str(FIXTURES / "content_export_2024.csv")], NOW, out, err)
    assert status == 0
    assert "2 rows read, 2 stored, 0 rejected." in out.getvalue()

    out, err = io.StringIO(), io.StringIO()
    status = run_import(settings, [str(FIXTURES / "daily_account.csv"),
                                   str(FIXTURES / "unknown_header.csv")], NOW, out, err)
    assert status == 1
    text = out.getvalue()
    assert ("daily_account.csv (daily account file, English): 10 rows read, 3 stored, "
            "1 skipped, 6 rejected.") in text
    assert "  line 6: non_followers_reached (900) is more than accounts_reached (800)" in text
    assert "unknown_header.csv: not imported: the header is not one" in err.getvalue()
    engine = make_engine(settings.database_url)
    with read_session(engine) as session:
        assert len(session.exec(select(ReachDaily)).all()) == 4 + 2 + 4
    engine.dispose()
