"""`storydesk outbox` lists messages with ids and causes; `storydesk jobs` shows what is due."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from freezegun import freeze_time

from bot.cli import main
from bot.runtime import policy_from
from config.settings import Settings
from handlers import stories
from handlers.stories import PitchForm
from storage.db import make_engine, write_session
from storage.migrate import upgrade
from storage.models import Outbound
from tests.conftest import add_member

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def storydesk(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str,
              now: datetime = NOW) -> str:
    with freeze_time(now):
        assert main(["--env-file", str(tmp_path / "none.env"), *args]) == 0
    return capsys.readouterr().out


def test_outbox_lists_failed_and_waiting_messages_with_ids_and_causes(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with write_session(engine) as session:
        dana = add_member(session, "Dana")
        rows = [
            Outbound(unique_key="f", platform="slack", channel="team", text="Story #4: Muons",
                     due_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC), status="failed",
                     attempts=1, last_error="channel_not_found: no Slack channel 'newsroom'"),
            Outbound(unique_key="w", platform="mattermost", member_id=dana.id,
                     text="Friendly reminder: the draft of story #4 is due on Thursday",
                     due_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC), status="pending",
                     attempts=2, last_error="429 rate limited; retry in 7 s"),
            Outbound(unique_key="s", platform="slack", channel="group", text="sent already",
                     due_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC), status="sent"),
        ]
        session.add_all(rows)
        session.flush()
        failed_id, waiting_id = rows[0].id, rows[1].id
    engine.dispose()
    out = storydesk(tmp_path, capsys, "outbox")
    assert "Outbox: 1 pending, 0 sending, 1 sent, 1 failed" in out
    failed, waiting = out.split("Failed, not retried")[1].split("Waiting to be sent")
    assert f"#{failed_id}" in failed and "slack" in failed and "team channel" in failed
    assert "cause: channel_not_found: no Slack channel 'newsroom'" in failed
    assert "1 attempt " in failed and '"Story #4: Muons"' in failed
    assert f"#{waiting_id}" in waiting and "DM Dana" in waiting
    assert "due 30 min ago, 2 attempts" in waiting
    assert "cause: 429 rate limited; retry in 7 s" in waiting
    assert "sent already" not in out
    # The id shown is the one `outbox retry` takes.
    assert storydesk(tmp_path, capsys, "outbox", "retry", str(failed_id)).startswith(
        "Queued 1 message again")


def test_outbox_with_nothing_to_list_says_so(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = storydesk(tmp_path, capsys, "outbox")
    assert "Nothing is waiting to be sent." in out
    assert "Failed" not in out and "Waiting to be sent" not in out


def test_jobs_shows_what_is_already_due(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    policy = policy_from(Settings(database_url=db_url), ("console",))
    accepted = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
    with write_session(engine) as session:
        ada = add_member(session, "Ada", coordinator=True)
        dana = add_member(session, "Dana")
        reply = stories.pitch(session, dana, accepted, policy, PitchForm(title="Muons"))
        assert reply.story_id is not None
        # Due on Friday 20 November: by Monday 23rd its reminders are due, none queued.
        stories.accept(session, ada, accepted, policy, reply.story_id, date(2026, 11, 20))
        session.add(Outbound(unique_key="w", platform="console", channel="group",
                             text="Call for pitches", status="pending",
                             due_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC)))
    engine.dispose()
    out = storydesk(tmp_path, capsys, "jobs")
    due = out.split("Due now (")[1].split("Next:")[0]
    lines = due.splitlines()
    overdue = next(line for line in lines if "draft overdue" in line)
    assert "story #1" in overdue and "DM Dana (console)" in overdue
    assert overdue.endswith("the next tick queues it")
    # The reminder of Tuesday 17th is past the late cutoff: the tick records it as expired.
    early = next(line for line in lines if "draft reminder: story #1" in line)
    assert "Tue 2026-11-17" in early and early.endswith("records it as expired")
    week = next(line for line in lines if "coming-week post" in line)
    assert "Mon 2026-11-23 09:00" in week and week.endswith("the next tick queues it")
    assert "Call for pitches" in due and "group channel (console)" in due
    assert "queued, not sent yet" in due
    assert "coming-week post" in out.split("Next:")[1]
    shown = storydesk(tmp_path, capsys, "jobs", "--limit", "2").split("Next:")[0]
    total = len([line for line in due.splitlines() if line.startswith("  ")])
    assert f"Due now (2 of {total} items):" in shown
    assert f"… and {total - 2} more (`storydesk jobs --limit N` shows more)" in shown


def test_jobs_with_nothing_due_says_so(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A Sunday: last Monday's posts are past their cutoff, this one's not yet due.
    out = storydesk(tmp_path, capsys, "jobs", now=datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    assert "Due now: nothing." in out


def test_jobs_shows_when_an_abandoned_draft_is_released(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    policy = policy_from(Settings(database_url=db_url), ("console",))
    accepted = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
    with write_session(engine) as session:
        ada = add_member(session, "Ada", coordinator=True)
        dana = add_member(session, "Dana")
        for title, due in (("Muons", date(2026, 11, 2)), ("Pions", date(2026, 11, 10))):
            reply = stories.pitch(session, dana, accepted, policy, PitchForm(title=title))
            assert reply.story_id is not None
            stories.accept(session, ada, accepted, policy, reply.story_id, due)
    engine.dispose()
    out = storydesk(tmp_path, capsys, "jobs", "--limit", "50")
    due, following = out.split("Due now (")[1].split("Next:")
    # Muons was due 2 November: released on the 23rd, and the bot was not running then.
    released = next(line for line in due.splitlines() if "release" in line)
    assert "Mon 2026-11-23 00:00" in released and "story #1 (accepted)" in released
    assert "DM Dana and Ada" in released and released.endswith("the next tick releases it")
    coming = next(line for line in following.splitlines() if "release" in line)
    assert coming.startswith("  Tue 2026-12-01 00:00  release, no draft 21 days after due: "
                             "story #2 (accepted)")
