"""Settings: defaults, validation that names the variable, and the CLI's one-line exit 2."""

from __future__ import annotations

import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from bot.runtime import build_runtime, policy_from
from config.settings import QuietHours, SettingsError, WeeklyTime, load_settings
from storage.db import make_engine


def load(**env: str):  # type: ignore[no-untyped-def]
    return load_settings(env, env_file=None)


def test_defaults_need_nothing() -> None:
    settings = load()
    assert settings.database_url == "sqlite:///storydesk.db"
    assert settings.timezone == "Europe/Berlin"
    assert settings.slots == (WeeklyTime(1, time(18)), WeeklyTime(3, time(18)))
    assert settings.quiet_hours == QuietHours(time(20), time(8))
    assert settings.working_days == (0, 1, 2, 3, 4)
    assert not settings.slack_enabled and not settings.mattermost_enabled


def test_values_are_parsed() -> None:
    settings = load(
        STORYDESK_SLOTS="thu 18:30, mon 09:00",
        STORYDESK_COORDINATORS="U1, U2,,U3",
        STORYDESK_WORKING_DAYS="sun-tue",
        STORYDESK_QUIET_HOURS="",
        DATABASE_URL="postgresql://u@h/db",
        STORYDESK_TIMEZONE="America/Chicago",
    )
    assert settings.slots == (WeeklyTime(0, time(9)), WeeklyTime(3, time(18, 30)))
    assert settings.coordinators == ("U1", "U2", "U3")
    assert settings.working_days == (0, 1, 6)
    assert settings.quiet_hours is None
    assert settings.database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("STORYDESK_SLOTS", "tuesday-ish 18:00", "unknown weekday"),
        ("STORYDESK_SLOTS", "tue 25:00", "no such time of day"),
        ("STORYDESK_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("DATABASE_URL", "mysql://x", "expected sqlite:///path.db"),
        ("STORYDESK_HTTP_PORT", "eighty", "expected a whole number"),
        ("STORYDESK_HTTP_PORT", "70000", "between 1 and 65535"),
        ("STORYDESK_QUIET_HOURS", "20:00", "expected a range"),
        ("SLACK_BOT_TOKEN", "xoxb-your-bot-token", "placeholder"),
        ("SLACK_BOT_TOKEN", "abc", "starts with 'xoxb-'"),
        ("MATTERMOST_URL", "not a url", "expected an http(s) URL"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(**{variable: value})
    assert error.value.variable == variable
    assert problem in str(error.value)


def test_abandoned_drafts_are_released_after_21_days_unless_set_otherwise_or_off() -> None:
    assert load().release_after_days == 21
    assert load(STORYDESK_RELEASE_AFTER_DAYS="").release_after_days == 21
    assert load(STORYDESK_RELEASE_AFTER_DAYS=" 30 ").release_after_days == 30
    assert load(STORYDESK_RELEASE_AFTER_DAYS="2",
                STORYDESK_ESCALATE_AFTER_DAYS="1").release_after_days == 2
    assert load(STORYDESK_RELEASE_AFTER_DAYS="365").release_after_days == 365
    assert load(STORYDESK_RELEASE_AFTER_DAYS="off").release_after_days is None
    assert load(STORYDESK_RELEASE_AFTER_DAYS="OFF").release_after_days is None
    assert load(STORYDESK_RELEASE_AFTER_DAYS="0").release_after_days is None
    policy = policy_from(load(STORYDESK_RELEASE_AFTER_DAYS="10"), ("console",))
    assert policy.release_after_days == 10


def test_the_bookkeeping_settings_reach_the_policy_the_runtime_builds(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'storydesk.db'}")
    try:
        default = build_runtime(load(), platforms=("console",), engine=engine)
        assert (default.policy.min_lead_hours, default.policy.changes_days,
                default.policy.auto_accept_hours) == (24, 5, None)
        settings = load(STORYDESK_MIN_LEAD_HOURS="0", STORYDESK_CHANGES_DAYS=" 9 ",
                        STORYDESK_AUTO_ACCEPT_HOURS="16")
        runtime = build_runtime(settings, platforms=("console",), engine=engine)
    finally:
        engine.dispose()
    # The runner answers every command with this policy.
    for policy in (runtime.policy, runtime.runner.policy):
        assert (policy.min_lead_hours, policy.changes_days, policy.auto_accept_hours) == (
            0, 9, 16)
    assert load(STORYDESK_AUTO_ACCEPT_HOURS="").auto_accept_hours is None


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("STORYDESK_MIN_LEAD_HOURS", "a day", "expected a whole number, got 'a day'"),
        ("STORYDESK_MIN_LEAD_HOURS", "-1", "must be between 0 and 1440, got -1"),
        ("STORYDESK_MIN_LEAD_HOURS", "1441", "must be between 0 and 1440, got 1441"),
        ("STORYDESK_CHANGES_DAYS", "0", "must be between 1 and 365, got 0"),
        ("STORYDESK_CHANGES_DAYS", "5 days", "expected a whole number, got '5 days'"),
        ("STORYDESK_AUTO_ACCEPT_HOURS", "0", "expected a number of working hours from 1 to "
         "1440, or nothing to leave lazy acceptance off; got '0'"),
        ("STORYDESK_AUTO_ACCEPT_HOURS", "off", "expected a number of working hours from 1 to "
         "1440, or nothing to leave lazy acceptance off; got 'off'"),
        ("STORYDESK_AUTO_ACCEPT_HOURS", "16h", "expected a number of working hours from 1 to "
         "1440, or nothing to leave lazy acceptance off; got '16h'"),
    ],
)
def test_a_bad_bookkeeping_value_stops_start_up_naming_it(variable: str, value: str,
                                                          problem: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(**{variable: value})
    assert str(error.value) == f"{variable}: {problem}"


@pytest.mark.parametrize(("release", "escalate"), [("4", None), ("3", None), ("7", "7")])
def test_a_release_not_after_the_escalation_stops_start_up(release: str,
                                                           escalate: str | None) -> None:
    """The reviewer hears that a draft is late before the bot gives up on it."""
    extra = {} if escalate is None else {"STORYDESK_ESCALATE_AFTER_DAYS": escalate}
    with pytest.raises(SettingsError) as error:
        load(STORYDESK_RELEASE_AFTER_DAYS=release, **extra)
    assert str(error.value) == (
        f"STORYDESK_RELEASE_AFTER_DAYS: must be more than STORYDESK_ESCALATE_AFTER_DAYS "
        f"({escalate or 4}), or the story is released before its reviewer hears that the "
        f"draft is late; got {release}")
    assert load(STORYDESK_RELEASE_AFTER_DAYS="off", **extra).release_after_days is None


@pytest.mark.parametrize("value", ["366", "-1", "three weeks", "2.5", "never"])
def test_a_release_delay_out_of_range_stops_start_up(value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load(STORYDESK_RELEASE_AFTER_DAYS=value)
    assert str(error.value) == (
        "STORYDESK_RELEASE_AFTER_DAYS: expected a number of days from 1 to 365, or off; "
        f"got {value!r}")


def test_each_platform_may_name_its_own_channels_and_falls_back_to_the_shared() -> None:
    shared = load(STORYDESK_TEAM_CHANNEL="coordinators", STORYDESK_GROUP_CHANNEL="all")
    assert shared.channels_for("slack") == {"team": "coordinators", "group": "all"}
    assert shared.channels_for("mattermost") == {"team": "coordinators", "group": "all"}
    apart = load(STORYDESK_TEAM_CHANNEL="coordinators", STORYDESK_GROUP_CHANNEL="all",
                 SLACK_TEAM_CHANNEL="C0TEAM", MATTERMOST_GROUP_CHANNEL="physics/town-square")
    assert apart.channels_for("slack") == {"team": "C0TEAM", "group": "all"}
    assert apart.channels_for("mattermost") == {"team": "coordinators",
                                                "group": "physics/town-square"}


def test_log_format_is_text_or_json() -> None:
    assert load().log_format == "text"
    assert load(STORYDESK_LOG_FORMAT="JSON").log_format == "json"
    with pytest.raises(SettingsError, match="STORYDESK_LOG_FORMAT"):
        load(STORYDESK_LOG_FORMAT="xml")


def test_combinations_are_checked() -> None:
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET"):
        load(SLACK_BOT_TOKEN="xoxb-1-2-abc")
    with pytest.raises(SettingsError, match="MATTERMOST_BOT_TOKEN"):
        load(MATTERMOST_URL="https://chat.lab.org")


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("STORYDESK_TIMEZONE=Asia/Tokyo\nSTORYDESK_DRAFT_DAYS=10\n")
    settings = load_settings({"STORYDESK_DRAFT_DAYS": "7"}, env_file=env_file)
    assert settings.timezone == "Asia/Tokyo" and settings.draft_days == 7


def test_the_command_line_stops_with_one_line_and_status_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "status"],
        env={"STORYDESK_SLOTS": "someday", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "storydesk: configuration error: STORYDESK_SLOTS: expected a weekday and a time like "
        "'tue 18:00', got 'someday'"
    ]
    assert "Traceback" not in result.stderr


def test_the_example_file_documents_every_variable() -> None:
    example = (Path(__file__).parents[2] / "config" / ".env.example").read_text()
    source = (Path(__file__).parents[2] / "config" / "settings.py").read_text()
    import re

    read = set(re.findall(r'read\.get\(\s*"([A-Z_]+)"', source))
    documented = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    compose = (Path(__file__).parents[2] / "docker-compose.yml").read_text()
    compose_only = set(re.findall(r"\$\{([A-Z_]+)", compose)) - read
    assert read and read == documented - compose_only


@pytest.mark.parametrize("variable", ["SLACK_SIGNING_SECRET", "MATTERMOST_ACTION_SECRET",
                                      "MATTERMOST_COMMAND_TOKENS"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("8f74223", "is 7 characters long"),
        ("k3Yf9q2LmZpX7wR", "is 15 characters long"),
        ("changeme-changeme-changeme", "placeholder"),
        ("your-signing-secret-here", "placeholder"),
        ("xxxxxxxxxxxxxxxxxxxxxxxx", "placeholder"),
        ("secretsecretsecret", "placeholder"),
        ("my_slack_signing_secret", "placeholder"),
        ("test-token-1234567890", "placeholder"),
        ("1234567890123456", "placeholder"),
        ("abababababababababab", "placeholder"),
    ],
)
def test_a_guessable_secret_is_refused(variable: str, value: str, problem: str) -> None:
    env = {variable: value}
    if variable == "SLACK_SIGNING_SECRET":
        env["SLACK_BOT_TOKEN"] = "xoxb-1-2-abc"
    with pytest.raises(SettingsError) as error:
        load(**env)
    assert error.value.variable == variable
    assert problem in str(error.value)


def test_every_command_token_is_checked_and_real_ones_pass() -> None:
    with pytest.raises(SettingsError, match="MATTERMOST_COMMAND_TOKENS: is 5 characters"):
        load(MATTERMOST_COMMAND_TOKENS="xr3j5x3p4pfm3m8cmt7ycbrnpc, short")
    settings = load(MATTERMOST_COMMAND_TOKENS="xr3j5x3p4pfm3m8cmt7ycbrnpc,"
                                              "b8tq1ffaq7gsxm1gyrmwnmwbqe",
                    MATTERMOST_ACTION_SECRET="q8WmV2rT6yZs4LkN0pXe",
                    SLACK_BOT_TOKEN="xoxb-1-2-abc",
                    SLACK_SIGNING_SECRET="8f742231b10e8888abcd99yyyzzz85a5")
    assert settings.mattermost_command_tokens == ("xr3j5x3p4pfm3m8cmt7ycbrnpc",
                                                  "b8tq1ffaq7gsxm1gyrmwnmwbqe")
    assert settings.slack_signing_secret == "8f742231b10e8888abcd99yyyzzz85a5"


def test_a_trivial_secret_stops_the_command_line_with_status_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "status"],
        env={"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "secret",
             "PATH": "/usr/bin:/bin"},
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "storydesk: configuration error: SLACK_SIGNING_SECRET: is 6 characters long; a secret "
        "that authenticates requests needs at least 16, copy the real value"
    ]
