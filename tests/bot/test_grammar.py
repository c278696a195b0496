"""The command grammar and the runner: every input gets a reply, never a traceback."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.commands import Caller, CommandRunner
from bot.grammar import SUBCOMMANDS, clean_text, parse_pitch
from handlers.context import Policy
from storage.db import read_session, write_session
from storage.models import Member, Story

ADA = Caller("console", "ada", "Ada")
DANA = Caller("console", "dana", "Dana")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@pytest.fixture
def runner(engine: Engine, policy: Policy) -> CommandRunner:
    with write_session(engine) as session:
        for name in ("ada", "ben"):
            session.add(
                Member(
                    platform="console",
                    user_id=name,
                    display_name=name.title(),
                    role="coordinator",
                    created_at=NOW,
                )
            )
    return CommandRunner(engine, policy)


def test_hashtags_fill_objective_and_format_and_others_stay_in_the_title() -> None:
    form = parse_pitch("Muon #tomography of a #Volcano #outreach #reel -- how cosmic rays see")
    assert form.title == "Muon #tomography of a #Volcano"
    assert (form.objective, form.format) == ("outreach", "reel")
    assert form.summary == "how cosmic rays see"


def test_only_the_first_objective_counts_and_a_second_stays_in_the_title() -> None:
    form = parse_pitch("Lab life #recruitment #scicomm #collab")
    assert (form.title, form.objective, form.format) == (
        "Lab life #scicomm",
        "recruitment",
        "collab",
    )


def test_control_characters_are_dropped() -> None:
    assert clean_text("a\x00b\x1b[31mc\u200bd\ne") == "ab[31mcd e"


def test_quick_pitch_through_the_runner(runner: CommandRunner, engine: Engine) -> None:
    reply = runner.run(DANA, "pitch", "Muon tomography #outreach -- a summary", NOW)
    assert reply.ok and "Story #1 is pitched. Reviewer: Ada" in reply.text
    with read_session(engine) as session:
        story = session.exec(select(Story)).one()
    assert (story.title, story.objective, story.summary) == (
        "Muon tomography",
        "outreach",
        "a summary",
    )


def test_pitch_alone_asks_for_the_form(runner: CommandRunner) -> None:
    assert runner.run(DANA, "pitch", "   ", NOW).form == "pitch"


def test_a_pitch_with_only_hashtags_shows_the_usage(runner: CommandRunner) -> None:
    reply = runner.run(DANA, "pitch", "#outreach #reel", NOW)
    assert reply.tone == "error" and "A pitch needs a title" in reply.text
    assert "/pitch <title>" in reply.text


@freeze_time("2026-11-23 09:30:00")
def test_a_whole_story_through_the_grammar(runner: CommandRunner) -> None:
    now = datetime.now(UTC)
    assert runner.run(DANA, "pitch", "Cloud chamber #outreach #reel", now).ok
    for caller, text in (
        (ADA, "accept #1 due 2026-12-04"),
        (DANA, "start 1"),
        (DANA, "draft 1 <https://docs.example.org/d|docs.example.org/d>"),
        (ADA, "changes 1 Shorter captions"),
        (DANA, "draft 1 https://docs.example.org/d2"),
        (ADA, "approve 1"),
        (ADA, "schedule 1 2026-11-26 18:00"),
        (ADA, "published 1 https://www.instagram.com/p/abc/ 17900000000000001"),
    ):
        reply = runner.run(caller, "story", text, now)
        assert reply.ok, (text, reply.text)
    shown = runner.run(DANA, "story", "show 1", now)
    assert "published" in str(shown.blocks)


@pytest.mark.parametrize("word", ["unscheduled", "UNSCHEDULED"])
def test_approve_unscheduled_through_the_grammar_keeps_the_story_out_of_the_calendar(
    runner: CommandRunner, engine: Engine, word: str
) -> None:
    assert runner.run(DANA, "pitch", "Cloud chamber #outreach #reel", NOW).ok
    for caller, text in ((ADA, "accept 1"), (DANA, "draft 1 https://docs.example.org/d")):
        assert runner.run(caller, "story", text, NOW).ok, text
    reply = runner.run(ADA, "story", f"approve #1 {word}", NOW)
    assert reply.ok and "kept out of the calendar" in reply.text, reply.text
    with read_session(engine) as session:
        story = session.exec(select(Story)).one()
    assert (story.state, story.scheduled_at) == ("approved", None)


def test_approve_takes_no_other_word_after_the_number(
    runner: CommandRunner, engine: Engine
) -> None:
    runner.run(DANA, "pitch", "Cloud chamber", NOW)
    runner.run(ADA, "story", "accept 1", NOW)
    runner.run(DANA, "story", "draft 1 https://docs.example.org/d", NOW)
    reply = runner.run(ADA, "story", "approve 1 later", NOW)
    assert reply.text == ("After the number, only `unscheduled` may follow. "
                          "Usage: /story approve N [unscheduled]")
    with read_session(engine) as session:
        assert session.exec(select(Story)).one().state == "in_review"


def test_refusals_roll_back_and_say_why(runner: CommandRunner, engine: Engine) -> None:
    runner.run(DANA, "pitch", "A story", NOW)
    reply = runner.run(DANA, "story", "accept 1", NOW)
    assert reply.tone == "error"
    assert reply.text.startswith("Only coordinators can accept story #1")
    with read_session(engine) as session:
        assert session.exec(select(Story)).one().state == "pitched"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Storydesk commands"),
        ("help accept", "Usage: /story accept N [due YYYY-MM-DD]"),
        ("help pitch", "Usage: /pitch <title>"),
        ("frobnicate 3", "I don't know `frobnicate`"),
        ("accept", "Which story? Give its number. Usage: /story accept"),
        ("accept twelve", "'twelve' is not a story number"),
        ("accept 1 due tomorrow", "'tomorrow' is not a date"),
        ("show 424242", "There is no story #424242"),
        ("schedule 1 2026-03-29 02:30", "does not exist in Europe/Berlin"),
        ("schedule 1 2026-02-30 18:00", "'2026-02-30' is not a date"),
        ("schedule 1 2026-12-01 25:00", "'25:00' is not a time of day"),
        ("list everything", "Choose mine, open or all"),
        ("calendar 99", "Show between 1 and 26 weeks"),
        ("team add", "Use `team`, `team add @person`"),
        ("away 2026-12-10 2026-12-01", "ends (2026-12-01) before it starts"),
        ("decline 1", "Say why the pitch is declined"),
    ],
)
def test_malformed_input_gets_the_usage(runner: CommandRunner, text: str, expected: str) -> None:
    runner.run(DANA, "pitch", "A story", NOW)
    reply = runner.run(ADA, "story", text, NOW)
    assert expected in reply.text, reply.text


def test_every_subcommand_has_help(runner: CommandRunner) -> None:
    for name in SUBCOMMANDS:
        reply = runner.run(DANA, "story", f"help {name}", NOW)
        assert reply.text.startswith("Usage: /story"), name


def help_text(runner: CommandRunner, topic: str = "") -> str:
    reply = runner.run(DANA, "story", f"help {topic}", NOW)
    return " ".join([reply.text, *(str(getattr(b, "text", getattr(b, "items", "")))
                                   for b in reply.blocks)])


@pytest.mark.parametrize(("hours", "said"), [(24, "24 hours"), (48, "48 hours"), (1, "1 hour")])
def test_help_gives_the_lead_the_team_set(
    engine: Engine, policy: Policy, hours: int, said: str
) -> None:
    runner = CommandRunner(engine, replace(policy, min_lead_hours=hours))
    assert f"it goes into the next free slot at least {said} ahead." in help_text(runner,
                                                                               "approve")
    assert f"`next` takes the first free slot at least {said} ahead" in help_text(runner,
                                                                                 "schedule")
    listing = help_text(runner)
    assert f"the next free slot at least {said} ahead" in listing
    assert "{lead}" not in listing and "a day ahead" not in listing


@pytest.mark.parametrize(("days", "said"), [(14, "14 days"), (10, "10 days"), (1, "1 day")])
def test_help_gives_the_draft_days_the_team_set(
    engine: Engine, policy: Policy, days: int, said: str
) -> None:
    runner = CommandRunner(engine, replace(policy, draft_days=days))
    assert f"the draft is due in {said} unless given" in help_text(runner, "accept")
    listing = help_text(runner)
    assert f"the draft is due in {said} unless given" in listing
    assert "{draft_days}" not in listing and "two weeks" not in listing


def test_ten_thousand_characters_are_refused_politely(runner: CommandRunner) -> None:
    reply = runner.run(DANA, "pitch", "x" * 10_000, NOW)
    assert reply.tone == "error" and "at most 4,000" in reply.text
    long_title = runner.run(DANA, "pitch", "y" * 3000, NOW)
    assert long_title.tone == "error" and "Keep the title under 150" in long_title.text


def test_mentions_become_members(runner: CommandRunner, engine: Engine) -> None:
    reply = runner.run(ADA, "story", "team add @Farah", NOW)
    assert reply.ok and "Farah is now a coordinator" in reply.text
    slack = Caller("slack", "U0ADA", "ada")
    with write_session(engine) as session:
        session.add(
            Member(
                platform="slack",
                user_id="U0ADA",
                display_name="ada",
                role="coordinator",
                created_at=NOW,
            )
        )
    reply = runner.run(slack, "story", "team add <@U0BEN|ben>", NOW)
    assert reply.ok and "ben is now a coordinator" in reply.text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=300), command=st.sampled_from(["pitch", "story"]))
def test_no_input_ever_raises(runner: CommandRunner, text: str, command: str) -> None:
    reply = runner.run(DANA, command, text, NOW)
    assert reply.text
    assert "Something went wrong" not in reply.text


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sub=st.sampled_from(sorted(SUBCOMMANDS)),
    args=st.lists(
        st.one_of(
            st.text(max_size=20),
            st.sampled_from(
                ["1", "#1", "next", "2026-12-01", "18:00", "@ben", "<@U1|x>", "due", "on", "add"]
            ),
        ),
        max_size=5,
    ),
)
def test_no_subcommand_arguments_ever_raise(
    runner: CommandRunner, sub: str, args: list[str]
) -> None:
    reply = runner.run(ADA, "story", " ".join([sub, *args]), NOW)
    assert reply.text and "Something went wrong" not in reply.text
