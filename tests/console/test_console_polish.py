"""What a person at the console reads: messages with their reply, usage once, no nested
parentheses, singular and plural, no empty sections, lines that fit the terminal."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.console.adapter import Console, ConsoleTransport
from bot.console.render_text import render_text
from bot.reach.csv_import import ImportResult
from bot.reach.fetch import FetchReport
from bot.runtime import build_runtime
from config.settings import Settings
from handlers.reply import Bullets, Fields, Heading, Paragraph, Reply

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class PipeLike(io.StringIO):
    """Remembers what was written since the last flush, as a pipe's buffer would hold it."""

    def __init__(self) -> None:
        super().__init__()
        self.unflushed = ""

    def write(self, text: str) -> int:
        self.unflushed += text
        return super().write(text)

    def flush(self) -> None:
        self.unflushed = ""
        super().flush()


@pytest.fixture
def console(tmp_path: Path) -> Console:
    out = PipeLike()
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}"),
                            platforms=("console",),
                            transports={"console": ConsoleTransport(out)})
    return Console(runtime, "Ada", NOW, out)


def said(console: Console, *lines: str) -> str:
    out = console.out
    assert isinstance(out, PipeLike)
    start = len(out.getvalue())
    for line in lines:
        console.handle(line)
    return out.getvalue()[start:]


def test_the_messages_a_command_causes_are_flushed_with_its_reply(console: Console) -> None:
    text = said(console, "/pitch Muon tomography of a volcano")
    assert "[#team] Story #1: Muon tomography of a volcano (pitched)" in text
    assert isinstance(console.out, PipeLike) and console.out.unflushed == ""


def test_usage_is_printed_once(console: Console) -> None:
    for command, usage in (("/story accept", "/story accept N [due YYYY-MM-DD]"),
                           ("/story help team", "/story team [add|remove @person | claim]"),
                           ("/story help pitch", "/pitch <title>")):
        assert said(console, command).count(usage) == 1, command


def test_no_nested_parentheses_when_nobody_can_review(console: Console) -> None:
    flat = " ".join(said(console, "/pitch Muons").split())
    first = flat.split(").")[0] + ")."
    assert "Reviewer: nobody yet (no coordinator is available: the team has none yet" in first
    depth = 0
    for char in first:
        depth += {"(": 1, ")": -1}.get(char, 0)
        assert depth <= 1, first


def test_counts_of_one_are_singular() -> None:
    report = ImportResult(path="day.csv", kind="daily account file", read=1, stored=1)
    assert report.lines()[0] == "day.csv (daily account file): 1 row read, 1 stored, 0 rejected."
    fetched = FetchReport(since=date(2026, 11, 1), until=date(2026, 11, 2), daily=1, posts=1,
                          audience=1, requests=1)
    assert ": 1 daily figure, 0 weekly, 1 post, 1 audience value (1 request)." in \
        fetched.lines()[0]


def test_the_calendar_counts_in_the_singular_too(console: Console) -> None:
    first = said(console, "/story calendar 1").splitlines()[0]
    assert first.endswith("in the next 1 week."), first
    assert re.search(r"\b1 free slots\b", first) is None


def test_a_summary_without_data_says_so_without_an_empty_header(console: Console) -> None:
    text = said(console, "/story reach")
    assert text.startswith("No reach figures for ")
    assert "== Reach, week" not in text


def test_a_heading_is_shown_when_something_follows_it() -> None:
    reply = Reply(text="Summary", blocks=(Heading("Empty"), Heading("Full"),
                                          Bullets(("one",)), Heading("Trailing")))
    assert render_text(reply).splitlines() == ["Summary", "  == Full ==", "  • one"]


def test_long_help_lines_wrap_with_a_hanging_indent(console: Console) -> None:
    text = said(console, "/story help")
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 88
    reach = next(i for i, line in enumerate(lines) if line.startswith("  • /story reach"))
    assert lines[reach + 1].startswith("    ") and not lines[reach + 1].startswith("    •")


def test_fields_and_long_words_wrap_without_breaking_links() -> None:
    link = "https://docs.example.org/" + "a" * 90
    reply = Reply(text="Story", blocks=(
        Fields((("Summary", "word " * 30), ("Draft", link))),
        Paragraph("x"),
    ))
    lines = render_text(reply, width=60).splitlines()
    summary = [line for line in lines if "word" in line]
    indent = " " * len("  Summary  ")  # under the value, past the label
    assert len(summary) > 1 and all(line.startswith(indent) for line in summary[1:])
    assert any(line.endswith(link) for line in lines)


def test_a_direct_message_held_for_working_hours_is_said_to_wait(tmp_path: Path) -> None:
    """At 21:00 the reviewer's news waits for her next working morning: the console says
    so once, and `:advance` brings it."""
    out = PipeLike()
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}",
                                     coordinators=("console:ada",)),
                            platforms=("console",),
                            transports={"console": ConsoleTransport(out)})
    evening = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # Monday, 21:00 in Berlin
    console = Console(runtime, "Ada", evening, out)
    said(console, "/story team add @Ben", "/as Dana")
    text = said(console, "/pitch Muon tomography of a volcano")
    assert "[#team] Story #1: Muon tomography of a volcano (pitched)" in text
    [line] = [line for line in text.splitlines() if line.startswith("[DM ")]
    assert re.fullmatch(r"\[DM (Ada|Ben), waiting until Tue 24 Nov 09:00\] You are reviewing "
                        r"story #1: Muon tomography of a volcano.*", line), line
    assert "waiting until" not in said(console, "/story list")  # said once
    assert "You are reviewing story #1" in said(console, ":advance 13h")
