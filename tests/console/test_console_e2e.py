"""End to end: scripts piped through the real `storydesk console` and `storydesk demo`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

STORYDESK = shutil.which("storydesk", path=str(Path(sys.executable).parent)) or "storydesk"


def run_cli(
    args: list[str], script: str, cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "STORYDESK_LOG_LEVEL": "WARNING",
        **env,
    }
    return subprocess.run(
        [STORYDESK, *args],
        input=script,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=120,
    )


@pytest.mark.slow
def test_from_pitch_to_published_in_the_console(tmp_path: Path) -> None:
    due = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    script = f"""\
/story team add @Ben
/as Dana
/pitch Muon tomography of a volcano #outreach #reel -- how cosmic rays see inside
/as Ada
/story accept 1 due {due}
/as Dana
/story draft 1 https://docs.example.org/muon-draft
/as Ada
/story approve 1
/story published 1 https://www.instagram.com/p/abc123/
/story show 1
"""
    # Every hour of every day is working time, so that the DMs show now, whenever the
    # suite runs (by default they wait for the recipient's next working morning).
    result = run_cli(
        ["console", "--as", "Ada"], script, tmp_path, STORYDESK_COORDINATORS="console:ada",
        STORYDESK_QUIET_HOURS="", STORYDESK_WORKING_DAYS="mon-sun",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Ben is now a coordinator." in out
    assert "Story #1 is pitched. Reviewer: Ada" in out
    assert "[#team] Story #1: Muon tomography of a volcano (pitched)" in out
    assert "[DM @Ada] You are reviewing story #1" in out
    assert f"Story #1 accepted; draft due {due}." in out
    assert "[DM @Dana] Good news: story #1" in out
    assert "[#team] (card updated) Story #1: Muon tomography of a volcano (in review)" in out
    assert "Story #1 approved and scheduled for" in out  # approval schedules
    assert "Story #1 is published: https://www.instagram.com/p/abc123/" in out
    history = out[out.rindex("== History ==") :]
    for action in ("pitched", "assigned", "accept", "draft", "approve", "schedule", "publish"):
        assert f"— {action}" in history
    assert "Traceback" not in out + result.stderr
    assert (tmp_path / "storydesk.db").exists()


@pytest.mark.slow
def test_the_demo_runs_and_leaves_cleanly_at_end_of_input(tmp_path: Path) -> None:
    script = "/story list\n/story calendar\n/as Lucia\n/story show 1\n:advance 1d\n"
    result = run_cli(["demo"], script, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Welcome to the Storydesk demo" in out
    assert "Open stories:" in out
    for state in (
        "pitched",
        "accepted",
        "drafting",
        "in review",
        "changes requested",
        "approved",
        "scheduled",
    ):
        assert f"— {state}," in out, state
    assert "Open day at the lab" in out and "free slot" in out
    assert "You are now Lucia." in out and "It is now" in out
    assert "Traceback" not in out + result.stderr
    assert list(tmp_path.iterdir()) == []  # the demo's database was thrown away


@pytest.mark.slow
def test_unknown_lines_and_odd_input_keep_the_console_alive(tmp_path: Path) -> None:
    script = (
        "hello\n/bogus\n/story \x00\x1b[2J\n/as \n:advance forever\n/pitch\n:quit\n/story list\n"
    )
    result = run_cli(["console"], script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Commands start with /pitch" in result.stdout
    assert "Usage: :advance 2d" in result.stdout
    assert "I don't know `[2J`" in result.stdout
    assert "Usage: /as NAME" in result.stdout
    assert "Open stories" not in result.stdout  # :quit stopped before the last line


@pytest.mark.slow
def test_db_upgrade_then_status(tmp_path: Path) -> None:
    status = run_cli(["db", "status"], "", tmp_path)
    assert status.returncode == 1 and "Run `storydesk db upgrade`" in status.stdout
    upgrade = run_cli(["db", "upgrade"], "", tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stdout.startswith("Database is at ")
    status = run_cli(["db", "status"], "", tmp_path)
    assert status.returncode == 0 and status.stdout.startswith("Up to date")


@pytest.mark.slow
def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run_cli(
        ["db", "upgrade"], "", tmp_path, DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storydesk: cannot use the database")
