"""Settings read once from the environment and `.env`, validated at start-up.

Every variable is documented in `config/.env.example`. A missing or malformed value raises
`SettingsError` naming the variable; the command line turns it into one line on stderr
and exit status 2.

Over 500 lines, on purpose: every setting is read and validated here, so the complete
list of what Storydesk reads from its environment is one file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PLACEHOLDER_MARKERS = ("changeme", "change-me", "your-", "xxxx", "<", "example")
# The paper's four objectives and the formats; config imports no other package of ours, so
# the names are repeated here (a test keeps them equal to handlers.decisions).
OBJECTIVE_NAMES = ("outreach", "scicomm", "training", "recruitment")
FORMAT_NAMES = ("reel", "post", "carousel", "story", "collab")
DEFAULT_OBJECTIVE_TARGETS = (("outreach", 30), ("scicomm", 30), ("training", 15),
                             ("recruitment", 25))
MIN_SIGNING_SECRET_LENGTH = 16
# Words a placeholder is made of ("secret", "my-signing-secret", "test_token_123"):
# a value made only of these (and digits or separators) can be guessed.
_GUESSABLE = re.compile(
    r"^(?:secret|signing|slack|mattermost|token|command|action|password|passwd|pass|key|"
    r"test|testing|dummy|placeholder|default|sample|demo|value|my|the|and|abc|qwerty|"
    r"admin|storydesk|x|[0-9])+$"
)

T = TypeVar("T")


class SettingsError(ValueError):
    """One variable is missing or malformed."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True)
class WeeklyTime:
    """A weekday and a local time, such as the publication slot `tue 18:00`."""

    weekday: int  # 0 = Monday
    at: time

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.at:%H:%M}"


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///storydesk.db"
    timezone: str = "Europe/Berlin"
    coordinators: tuple[str, ...] = ()
    team_channel: str = "storydesk-team"
    group_channel: str = "general"
    # Per-platform channels, when Slack and Mattermost both run; empty: the shared ones.
    slack_team_channel: str = ""
    slack_group_channel: str = ""
    mattermost_team_channel: str = ""
    mattermost_group_channel: str = ""
    slots: tuple[WeeklyTime, ...] = (
        WeeklyTime(1, time(18, 0)),
        WeeklyTime(3, time(18, 0)),
    )
    draft_days: int = 14
    # Bookkeeping: how far ahead approval schedules, how long a revision takes, and
    # whether a pitch left undeclined is accepted after so many working hours.
    min_lead_hours: int = 24
    changes_days: int = 5
    auto_accept_hours: int | None = None
    # Days after its due date that a draft never sent is released (withdrawn) by the bot;
    # None: never.
    release_after_days: int | None = 21
    log_level: str = "INFO"
    log_format: str = "text"
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    public_url: str = ""
    # Slack
    slack_bot_token: str = ""
    slack_app_token: str = ""
    slack_signing_secret: str = ""
    slack_api_url: str = ""
    # Mattermost
    mattermost_url: str = ""
    mattermost_bot_token: str = ""
    mattermost_command_tokens: tuple[str, ...] = ()
    mattermost_action_secret: str = ""
    # Scheduling and delivery
    tick_seconds: int = 30
    working_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    quiet_hours: QuietHours | None = QuietHours(time(20, 0), time(8, 0))
    remind_days_before: int = 3
    overdue_every_days: int = 2
    escalate_after_days: int = 4
    review_nudge_days: int = 3
    late_cutoff_hours: int = 24
    pitch_call_every_days: int = 14
    objective_gap_weeks: int = 6
    coming_week_post: WeeklyTime = WeeklyTime(0, time(9, 0))
    publishing_today_at: time = time(9, 0)
    lease_seconds: int = 120
    slack_pace: float = 4.0  # messages a second the dispatcher sends to Slack
    slack_channel_pace: float = 1.0  # and to one Slack channel or person
    mattermost_pace: float = 8.0  # API calls a second to Mattermost (a post, its buttons, …)
    send_timeout_seconds: int = 20
    inbox_path: str = ""  # requests answered "Working on it…"; default: beside the database
    # Reach
    instagram_access_token: str = ""
    instagram_user_id: str = ""
    graph_api_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v23.0"
    digest_post: WeeklyTime = WeeklyTime(0, time(9, 0))
    reach_fetch_at: time = time(6, 0)
    publication_check_minutes: int = 10
    # Calendar feeds
    calendar_secret: str = ""
    # GET /metrics requires `Authorization: Bearer <token>` when set
    metrics_token: str = ""
    # Crowd health: target shares in percent (formats: none unless set), and after how many
    # months without a pitch a member gets a kind nudge.
    objective_targets: tuple[tuple[str, int], ...] = DEFAULT_OBJECTIVE_TARGETS
    format_targets: tuple[tuple[str, int], ...] = ()
    nudge_after_months: int = 6

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def pace(self) -> dict[str, float]:
        """Messages a second the outbox dispatcher sends to each platform."""
        return {"slack": self.slack_pace, "mattermost": self.mattermost_pace}

    @property
    def channel_pace(self) -> dict[str, float]:
        """Messages a second to one channel or person, on platforms that limit that."""
        return {"slack": self.slack_channel_pace}

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def slack_socket_mode(self) -> bool:
        return bool(self.slack_bot_token and self.slack_app_token)

    @property
    def mattermost_enabled(self) -> bool:
        return bool(self.mattermost_url and self.mattermost_bot_token)

    def channels_for(self, platform: str) -> dict[str, str]:
        """The logical channels ("team", "group") on `platform`: its own, else the shared."""
        own = {"slack": (self.slack_team_channel, self.slack_group_channel),
               "mattermost": (self.mattermost_team_channel, self.mattermost_group_channel)}
        team, group = own.get(platform, ("", ""))
        return {"team": team or self.team_channel, "group": group or self.group_channel}

    @property
    def instagram_enabled(self) -> bool:
        return bool(self.instagram_access_token and self.instagram_user_id)


# --- parsers: each takes the raw text and raises ValueError with a short reason ---------


def parse_int(raw: str, minimum: int = 0, maximum: int = 10**9) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ValueError(f"must be between {minimum} and {maximum}, got {value}")
    return value


def parse_pace(raw: str) -> float:
    """Messages a second, such as `1` or `0.5`."""
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(
            f"expected messages a second, like 1 or 0.5, got {raw.strip()!r}") from None
    if not 0.01 <= value <= 100:
        raise ValueError("expected between 0.01 and 100 messages a second")
    return value


def parse_days_or_off(raw: str) -> int | None:
    """A number of days from 1 to 365, or `off` (also `0`) for never."""
    value = raw.strip()
    if value.lower() == "off":
        return None
    try:
        days = int(value)
    except ValueError:
        days = -1
    if days == 0:
        return None
    if not 1 <= days <= 365:
        raise ValueError(f"expected a number of days from 1 to 365, or off; got {value!r}")
    return days


def parse_auto_accept_hours(raw: str) -> int:
    """Working hours before an undeclined pitch is accepted; the setting is off when empty."""
    try:
        return parse_int(raw, 1, 24 * 60)
    except ValueError:
        raise ValueError("expected a number of working hours from 1 to 1440, or nothing to "
                         f"leave lazy acceptance off; got {raw.strip()!r}") from None


def parse_clock(raw: str) -> time:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", raw)
    if not match:
        raise ValueError(f"expected a time like 18:00, got {raw!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"no such time of day: {raw.strip()!r}")
    return time(hour, minute)


def parse_weekday(raw: str) -> int:
    key = raw.strip().lower()
    for index, (short, full) in enumerate(zip(WEEKDAYS, WEEKDAY_NAMES, strict=True)):
        if key in (short, full):
            return index
    raise ValueError(f"unknown weekday {raw.strip()!r} (use mon, tue, … sun)")


def parse_weekly_time(raw: str) -> WeeklyTime:
    parts = raw.split()
    if len(parts) != 2:
        raise ValueError(f"expected a weekday and a time like 'tue 18:00', got {raw.strip()!r}")
    return WeeklyTime(parse_weekday(parts[0]), parse_clock(parts[1]))


def parse_slots(raw: str) -> tuple[WeeklyTime, ...]:
    items = [item for item in raw.split(",") if item.strip()]
    if not items:
        raise ValueError("needs at least one slot, such as 'tue 18:00, thu 18:00'")
    slots = sorted({parse_weekly_time(item) for item in items}, key=lambda s: (s.weekday, s.at))
    return tuple(slots)


def parse_weekdays(raw: str) -> tuple[int, ...]:
    days: set[int] = set()
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        if "-" in item:
            first, last = (parse_weekday(part) for part in item.split("-", 1))
            day = first
            days.add(day)
            while day != last:
                day = (day + 1) % 7
                days.add(day)
        else:
            days.add(parse_weekday(item))
    if not days:
        raise ValueError("needs at least one day, such as 'mon-fri'")
    return tuple(sorted(days))


def parse_quiet_hours(raw: str) -> QuietHours | None:
    if not raw.strip():
        return None
    parts = raw.split("-")
    if len(parts) != 2:
        raise ValueError(f"expected a range like 20:00-08:00, got {raw.strip()!r}")
    start, end = parse_clock(parts[0]), parse_clock(parts[1])
    if start == end:
        raise ValueError("start and end are the same; leave it empty to turn quiet hours off")
    return QuietHours(start, end)


def parse_timezone(raw: str) -> str:
    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use a name like Europe/Berlin)") from None
    return name


def parse_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def parse_database_url(raw: str) -> str:
    url = raw.strip()
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ValueError(
            "expected sqlite:///path.db or postgresql+psycopg://user@host/db, "
            f"got {url.split('://')[0] or url!r}"
        )
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def parse_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"expected an http(s) URL, got {raw.strip()!r}")
    return url


def parse_secret(raw: str) -> str:
    value = raw.strip()
    lowered = value.lower()
    if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        raise ValueError("still holds the placeholder from .env.example; put the real value")
    return value


def parse_bearer_token(raw: str) -> str:
    """A token sent as `Authorization: Bearer <token>`: long, and one word."""
    value = parse_secret(raw)
    if len(value) < 16:
        raise ValueError("use at least 16 characters (e.g. `openssl rand -hex 24`)")
    if not re.fullmatch(r"[A-Za-z0-9._~+/=-]+", value):
        raise ValueError("use letters, digits and . _ ~ + / = - only (no spaces or quotes)")
    return value


def parse_signing_secret(raw: str) -> str:
    """A secret that authenticates requests to us: long and not a guessable placeholder."""
    value = parse_secret(raw)
    if len(value) < MIN_SIGNING_SECRET_LENGTH:
        raise ValueError(f"is {len(value)} characters long; a secret that authenticates "
                         f"requests needs at least {MIN_SIGNING_SECRET_LENGTH}, copy the real "
                         "value")
    letters = re.sub(r"[^a-z0-9]", "", value.lower())
    if _GUESSABLE.fullmatch(letters) or len(set(value)) < 5:
        raise ValueError("looks like a placeholder, not a real secret; copy the real value")
    return value


def parse_signing_secrets(raw: str) -> tuple[str, ...]:
    return tuple(parse_signing_secret(value) for value in parse_list(raw))


def parse_slack_token(prefix: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = parse_secret(raw)
        if not value.startswith(prefix):
            raise ValueError(f"a Slack token of this kind starts with {prefix!r}")
        return value

    return parse


def parse_log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"text", "json"}:
        raise ValueError("use text (lines for people) or json (one object a line)")
    return value


def parse_log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("use DEBUG, INFO, WARNING or ERROR")
    return level


def parse_targets(
    names: tuple[str, ...], what: str
) -> Callable[[str], tuple[tuple[str, int], ...]]:
    """`outreach=30,scicomm=30,...`: every name known, once; whole percents summing to 100."""

    def parse(raw: str) -> tuple[tuple[str, int], ...]:
        targets: dict[str, int] = {}
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            name, equals, value = (piece.strip() for piece in item.partition("="))
            name = name.lower()
            if not equals or not value:
                raise ValueError(f"expected {what}=percent pairs like "
                                 f"'{names[0]}=30', got {item!r}")
            if name not in names:
                raise ValueError(f"unknown {what} {name!r} (use {', '.join(names)})")
            if name in targets:
                raise ValueError(f"{name} is given twice")
            targets[name] = parse_int(value.rstrip("%"), 0, 100)
        if not targets:
            raise ValueError(f"expected {what}=percent pairs like '{names[0]}=30'")
        total = sum(targets.values())
        if total != 100:
            raise ValueError(f"the targets add up to {total}%, not 100%")
        return tuple((name, targets[name]) for name in names if name in targets)

    return parse


# --- loading ------------------------------------------------------------------------------


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw = self.env.get(name)
        if raw is None or (raw.strip() == "" and name != "STORYDESK_QUIET_HOURS"):
            return default
        try:
            return parse(raw)
        except ValueError as error:
            raise SettingsError(name, str(error)) from None


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Read settings from `environ` (default: the process environment) over `.env`."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    read = _Reader(merged)
    slot_default = Settings.slots
    settings = Settings(
        database_url=read.get("DATABASE_URL", parse_database_url, Settings.database_url),
        timezone=read.get("STORYDESK_TIMEZONE", parse_timezone, Settings.timezone),
        coordinators=read.get("STORYDESK_COORDINATORS", parse_list, ()),
        team_channel=read.get("STORYDESK_TEAM_CHANNEL", str.strip, Settings.team_channel),
        group_channel=read.get("STORYDESK_GROUP_CHANNEL", str.strip, Settings.group_channel),
        slack_team_channel=read.get("SLACK_TEAM_CHANNEL", str.strip, ""),
        slack_group_channel=read.get("SLACK_GROUP_CHANNEL", str.strip, ""),
        mattermost_team_channel=read.get("MATTERMOST_TEAM_CHANNEL", str.strip, ""),
        mattermost_group_channel=read.get("MATTERMOST_GROUP_CHANNEL", str.strip, ""),
        slots=read.get("STORYDESK_SLOTS", parse_slots, slot_default),
        draft_days=read.get("STORYDESK_DRAFT_DAYS", lambda r: parse_int(r, 1, 365), 14),
        min_lead_hours=read.get(
            "STORYDESK_MIN_LEAD_HOURS", lambda r: parse_int(r, 0, 24 * 60), 24
        ),
        changes_days=read.get("STORYDESK_CHANGES_DAYS", lambda r: parse_int(r, 1, 365), 5),
        auto_accept_hours=read.get("STORYDESK_AUTO_ACCEPT_HOURS", parse_auto_accept_hours,
                                   None),
        release_after_days=read.get("STORYDESK_RELEASE_AFTER_DAYS", parse_days_or_off,
                                    Settings.release_after_days),
        log_level=read.get("STORYDESK_LOG_LEVEL", parse_log_level, "INFO"),
        log_format=read.get("STORYDESK_LOG_FORMAT", parse_log_format, "text"),
        http_host=read.get("STORYDESK_HTTP_HOST", str.strip, Settings.http_host),
        http_port=read.get("STORYDESK_HTTP_PORT", lambda r: parse_int(r, 1, 65535), 3000),
        public_url=read.get("STORYDESK_PUBLIC_URL", parse_url, ""),
        slack_bot_token=read.get("SLACK_BOT_TOKEN", parse_slack_token("xoxb-"), ""),
        slack_app_token=read.get("SLACK_APP_TOKEN", parse_slack_token("xapp-"), ""),
        slack_signing_secret=read.get("SLACK_SIGNING_SECRET", parse_signing_secret, ""),
        slack_api_url=read.get("SLACK_API_URL", parse_url, ""),
        mattermost_url=read.get("MATTERMOST_URL", parse_url, ""),
        mattermost_bot_token=read.get("MATTERMOST_BOT_TOKEN", parse_secret, ""),
        mattermost_command_tokens=read.get("MATTERMOST_COMMAND_TOKENS", parse_signing_secrets,
                                           ()),
        mattermost_action_secret=read.get("MATTERMOST_ACTION_SECRET", parse_signing_secret,
                                          ""),
        tick_seconds=read.get("STORYDESK_TICK_SECONDS", lambda r: parse_int(r, 1, 3600), 30),
        working_days=read.get("STORYDESK_WORKING_DAYS", parse_weekdays, Settings.working_days),
        quiet_hours=read.get("STORYDESK_QUIET_HOURS", parse_quiet_hours, Settings.quiet_hours),
        remind_days_before=read.get(
            "STORYDESK_REMIND_DAYS_BEFORE", lambda r: parse_int(r, 1, 60), 3
        ),
        overdue_every_days=read.get(
            "STORYDESK_OVERDUE_EVERY_DAYS", lambda r: parse_int(r, 1, 60), 2
        ),
        escalate_after_days=read.get(
            "STORYDESK_ESCALATE_AFTER_DAYS", lambda r: parse_int(r, 1, 60), 4
        ),
        review_nudge_days=read.get("STORYDESK_REVIEW_NUDGE_DAYS", lambda r: parse_int(r, 1, 60), 3),
        late_cutoff_hours=read.get(
            "STORYDESK_LATE_CUTOFF_HOURS", lambda r: parse_int(r, 1, 24 * 30), 24
        ),
        pitch_call_every_days=read.get(
            "STORYDESK_PITCH_CALL_DAYS", lambda r: parse_int(r, 1, 365), 14
        ),
        objective_gap_weeks=read.get(
            "STORYDESK_OBJECTIVE_GAP_WEEKS", lambda r: parse_int(r, 1, 104), 6
        ),
        coming_week_post=read.get(
            "STORYDESK_COMING_WEEK_POST", parse_weekly_time, Settings.coming_week_post
        ),
        publishing_today_at=read.get(
            "STORYDESK_PUBLISHING_TODAY_AT", parse_clock, Settings.publishing_today_at
        ),
        lease_seconds=read.get("STORYDESK_LEASE_SECONDS", lambda r: parse_int(r, 5, 3600), 120),
        slack_pace=read.get("STORYDESK_SLACK_PACE", parse_pace, Settings.slack_pace),
        slack_channel_pace=read.get("STORYDESK_SLACK_CHANNEL_PACE", parse_pace,
                                    Settings.slack_channel_pace),
        mattermost_pace=read.get("STORYDESK_MATTERMOST_PACE", parse_pace,
                                 Settings.mattermost_pace),
        send_timeout_seconds=read.get(
            "STORYDESK_SEND_TIMEOUT_SECONDS", lambda r: parse_int(r, 1, 600), 20
        ),
        inbox_path=read.get("STORYDESK_INBOX_PATH", str.strip, ""),
        instagram_access_token=read.get("INSTAGRAM_ACCESS_TOKEN", parse_secret, ""),
        instagram_user_id=read.get("INSTAGRAM_USER_ID", str.strip, ""),
        graph_api_url=read.get("GRAPH_API_URL", parse_url, Settings.graph_api_url),
        graph_api_version=read.get("GRAPH_API_VERSION", str.strip, Settings.graph_api_version),
        digest_post=read.get("STORYDESK_DIGEST_POST", parse_weekly_time, Settings.digest_post),
        reach_fetch_at=read.get("STORYDESK_REACH_FETCH_AT", parse_clock, Settings.reach_fetch_at),
        publication_check_minutes=read.get("STORYDESK_PUBLICATION_CHECK_MINUTES",
                                           lambda r: parse_int(r, 5, 30), 10),
        calendar_secret=read.get("STORYDESK_CALENDAR_SECRET", parse_secret, ""),
        metrics_token=read.get("STORYDESK_METRICS_TOKEN", parse_bearer_token, ""),
        objective_targets=read.get("STORYDESK_OBJECTIVE_TARGETS",
                                   parse_targets(OBJECTIVE_NAMES, "objective"),
                                   Settings.objective_targets),
        format_targets=read.get("STORYDESK_FORMAT_TARGETS",
                                parse_targets(FORMAT_NAMES, "format"), ()),
        nudge_after_months=read.get("STORYDESK_NUDGE_AFTER_MONTHS",
                                    lambda r: parse_int(r, 1, 60), 6),
    )
    _check_combinations(settings)
    return settings


def _check_combinations(settings: Settings) -> None:
    if settings.slack_app_token and not settings.slack_bot_token:
        raise SettingsError("SLACK_BOT_TOKEN", "is required when SLACK_APP_TOKEN is set")
    if settings.slack_bot_token and not (settings.slack_app_token or settings.slack_signing_secret):
        raise SettingsError(
            "SLACK_SIGNING_SECRET",
            "is required for HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)",
        )
    if bool(settings.mattermost_url) != bool(settings.mattermost_bot_token):
        missing = "MATTERMOST_BOT_TOKEN" if settings.mattermost_url else "MATTERMOST_URL"
        raise SettingsError(missing, "is required when the other Mattermost variable is set")
    release, escalate = settings.release_after_days, settings.escalate_after_days
    if release is not None and release <= escalate:
        raise SettingsError(
            "STORYDESK_RELEASE_AFTER_DAYS",
            f"must be more than STORYDESK_ESCALATE_AFTER_DAYS ({escalate}), or the story is "
            f"released before its reviewer hears that the draft is late; got {release}",
        )
    # MATTERMOST_COMMAND_TOKENS is checked when the bot starts, not here: the tokens come
    # from `storydesk mattermost setup`, which itself runs with these very settings.
    if bool(settings.instagram_access_token) != bool(settings.instagram_user_id):
        missing = (
            "INSTAGRAM_USER_ID" if settings.instagram_access_token else "INSTAGRAM_ACCESS_TOKEN"
        )
        raise SettingsError(missing, "is required when the other Instagram variable is set")
