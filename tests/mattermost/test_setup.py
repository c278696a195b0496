"""`storydesk mattermost setup`: registers or updates /pitch and /story, prints the tokens."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import main
from tests.mattermost.conftest import BOT_TOKEN, World


@pytest.fixture
def env(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("MATTERMOST_COMMAND_TOKENS", "STORYDESK_PUBLIC_URL", "SLACK_BOT_TOKEN",
                 "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MATTERMOST_URL", world.server.url)
    monkeypatch.setenv("MATTERMOST_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    return tmp_path / "absent.env"


def run_setup(env_file: Path, *extra: str, url: str = "https://storydesk.lab.example") -> int:
    return main(["--env-file", str(env_file), "mattermost", "setup", "--team", "lab",
                 "--url", url, *extra])


def printed_tokens(out: str) -> list[str]:
    match = re.search(r"^MATTERMOST_COMMAND_TOKENS=(.+)$", out, re.MULTILINE)
    assert match, out
    return match.group(1).split(",")


def test_setup_registers_both_commands_and_prints_their_tokens(
    world: World, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_setup(env) == 0
    out = capsys.readouterr().out
    commands = {c["trigger"]: c for c in world.server.state.commands.values()}
    assert set(commands) == {"pitch", "story"}
    for command in commands.values():
        assert command["url"] == "https://storydesk.lab.example/mattermost/command"
        assert command["method"] == "P" and command["team_id"] == world.team
        assert command["auto_complete"] is True and command["auto_complete_hint"]
    assert printed_tokens(out) == [commands["pitch"]["token"], commands["story"]["token"]]
    assert "STORYDESK_PUBLIC_URL=https://storydesk.lab.example" in out
    assert world.server.violations == []


def test_setup_again_updates_in_place_and_keeps_the_tokens(
    world: World, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_setup(env)
    first = printed_tokens(capsys.readouterr().out)
    assert run_setup(env, url="https://bot.lab.example/") == 0
    out = capsys.readouterr().out
    assert printed_tokens(out) == first
    assert len(world.server.calls("POST", "/api/v4/commands")) == 2
    assert len(world.server.calls("PUT", r"/api/v4/commands/\w+")) == 2
    assert {c["url"] for c in world.server.state.commands.values()} == {
        "https://bot.lab.example/mattermost/command"}
    assert run_setup(env, url="https://bot.lab.example") == 0
    assert "already registered" in capsys.readouterr().out
    assert len(world.server.calls("PUT", r"/api/v4/commands/\w+")) == 2


def test_a_command_of_another_integration_is_not_taken_silently(
    world: World, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.server.state.commands["c" * 26] = {
        "id": "c" * 26, "token": "t" * 26, "team_id": world.team, "trigger": "pitch",
        "method": "P", "url": "https://other.example/hook", "creator_id": world.user("ada"),
        "create_at": 1, "update_at": 1, "delete_at": 0}
    assert run_setup(env) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--replace" in err
    assert world.server.calls("POST", "/api/v4/commands") == []
    assert run_setup(env, "--replace") == 0
    assert world.server.state.commands["c" * 26]["url"].endswith("/mattermost/command")


def test_a_wrong_token_is_one_clear_line(
    world: World, env: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MATTERMOST_BOT_TOKEN", "notthetoken0000000000000000")
    assert run_setup(env) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MATTERMOST_BOT_TOKEN" in err


def test_missing_permission_says_how_to_get_it(
    world: World, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.server.fail("POST", "/api/v4/commands", 403)
    assert run_setup(env) == 2
    assert "--token" in capsys.readouterr().err


def test_an_unknown_team_is_named(world: World, env: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env-file", str(env), "mattermost", "setup", "--team", "nolab",
                 "--url", "https://x.example"]) == 2
    assert "no team 'nolab'" in capsys.readouterr().err
