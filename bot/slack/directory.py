"""Who is who in the workspace: users.info, cached, for names, time zones and mentions."""

from __future__ import annotations

import http.client
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.commands import Caller
from bot.slack.client import error_code

log = logging.getLogger(__name__)

PLATFORM = "slack"
MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,20})(?:\|([^>]{0,80}))?>$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
CACHE_SECONDS = 6 * 3600
MISS_SECONDS = 300


@dataclass(frozen=True)
class _Entry:
    caller: Caller | None
    expires: float


class SlackDirectory:
    """Callers from Slack user ids, with a cache so a busy hour costs one users.info each.

    A person Slack does not know (user_not_found) is remembered as unknown for a few
    minutes; a failure to ask (429, network) is not remembered, and the caller falls back
    to the name Slack sent with the request.
    """

    def __init__(self, client: WebClient, *, ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def lookup(self, mention: str) -> Caller | None:
        """"<@U123|ada>", "<@U123>" or a bare "U123" -> the person; None if unknown."""
        mention = mention.strip()
        match = MENTION.match(mention)
        if match:
            user_id, label = match.group(1), match.group(2)
        elif USER_ID.match(mention):
            user_id, label = mention, None
        else:
            return None
        found, known = self._info(user_id)
        if found is not None or known:
            return found
        return Caller(PLATFORM, user_id, label or user_id)

    def caller(self, user_id: str, fallback_name: str = "") -> Caller:
        """The person behind a request; the request's own name if Slack cannot be asked."""
        found, _known = self._info(user_id)
        return found or Caller(PLATFORM, user_id, fallback_name or user_id)

    def cached(self, user_id: str) -> Caller | None:
        """The person if users.info answered recently; never asks Slack."""
        with self._lock:
            entry = self._cache.get(user_id)
        if entry is not None and entry.expires > self.clock():
            return entry.caller
        return None

    def _info(self, user_id: str) -> tuple[Caller | None, bool]:
        """(caller, whether the answer is definite)."""
        now = self.clock()
        with self._lock:
            entry = self._cache.get(user_id)
        if entry is not None and entry.expires > now:
            return entry.caller, True
        try:
            response = self.client.users_info(user=user_id, include_locale=True)
        except SlackApiError as error:
            if error_code(error) in {"user_not_found", "users_not_found"}:
                self._store(user_id, None, now + MISS_SECONDS)
                return None, True
            log.warning("users.info %s failed: %s", user_id, error_code(error))
            return None, False
        except (OSError, http.client.HTTPException, SlackClientError) as error:
            log.warning("users.info %s failed: %s", user_id, error)
            return None, False
        user = response.get("user") or {}
        if user.get("deleted") or user.get("is_bot"):
            self._store(user_id, None, now + MISS_SECONDS)
            return None, True
        caller = caller_from_user(user)
        self._store(user_id, caller, now + self.ttl)
        return caller, True

    def _store(self, user_id: str, caller: Caller | None, expires: float) -> None:
        with self._lock:
            self._cache[user_id] = _Entry(caller, expires)


def caller_from_user(user: dict[str, object]) -> Caller:
    profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
    assert isinstance(profile, dict)
    name = (
        str(profile.get("display_name") or "").strip()
        or str(profile.get("real_name") or "").strip()
        or str(user.get("real_name") or "").strip()
        or str(user.get("name") or "").strip()
        or str(user.get("id"))
    )
    timezone = user.get("tz")
    locale = user.get("locale")
    return Caller(
        PLATFORM, str(user.get("id")), name,
        timezone=str(timezone) if timezone else None,
        locale=str(locale) if locale else None,
    )
