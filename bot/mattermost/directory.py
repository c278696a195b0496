"""Who is who on Mattermost: names, time zones and locales from the users API, cached.

`lookup("@ada")` serves the command grammar (`/story reassign 4 @ada`); `caller(user_id)`
turns the user id of an incoming request into a Caller. Profiles are cached for an hour,
misses for a minute, so a busy channel does not turn every command into an API call.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.commands import Caller
from bot.mattermost.client import (
    MattermostClient,
    MattermostError,
    MattermostUnreachable,
    display_name,
    user_timezone,
)

log = logging.getLogger(__name__)

PLATFORM = "mattermost"
USER_ID = re.compile(r"^[a-z0-9]{26}$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9.\-_]{0,63}$")


class MattermostDirectory:
    def __init__(
        self, client: MattermostClient, *, ttl: float = 3600.0, miss_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.miss_ttl = miss_ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[float, Caller | None]] = {}
        self._by_name: dict[str, tuple[float, Caller | None]] = {}

    def lookup(self, mention: str) -> Caller | None:
        """A mention from command text ("@ada", "ada", "@ada.") -> the person, or None."""
        name = mention.strip().lstrip("@").rstrip(".,;:!?)").lower()
        if USER_ID.match(name):
            found = self.user(name)
            if found is not None:
                return found
        if not USERNAME.match(name):
            return None
        return self._cached(self._by_name, name, lambda: self.client.user_by_username(name))

    def user(self, user_id: str) -> Caller | None:
        if not USER_ID.match(user_id):
            return None
        return self._cached(self._by_id, user_id, lambda: self.client.user(user_id))

    def caller(self, user_id: str, fallback_name: str = "") -> Caller:
        """The person behind a request; if the API cannot say, what the request says."""
        try:
            found = self.user(user_id)
        except (MattermostError, MattermostUnreachable) as error:
            log.warning("no profile for %s: %s", user_id, error)
            found = None
        return found or Caller(PLATFORM, user_id, fallback_name or user_id)

    def remember(self, user: dict[str, Any]) -> Caller | None:
        caller = caller_from_user(user)
        if caller is not None:
            expires = self.clock() + self.ttl
            with self._lock:
                self._by_id[caller.user_id] = (expires, caller)
                self._by_name[str(user.get("username", "")).lower()] = (expires, caller)
        return caller

    def _cached(
        self, cache: dict[str, tuple[float, Caller | None]], key: str,
        fetch: Callable[[], dict[str, Any]],
    ) -> Caller | None:
        now = self.clock()
        with self._lock:
            hit = cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            user = fetch()
        except MattermostError as error:
            if error.status not in (400, 404):
                raise
            with self._lock:
                cache[key] = (now + self.miss_ttl, None)
            return None
        caller = self.remember(user)
        if caller is None:
            with self._lock:
                cache[key] = (now + self.miss_ttl, None)
        return caller


def caller_from_user(user: dict[str, Any]) -> Caller | None:
    """A Caller from a users-API object; None for deactivated accounts."""
    user_id = str(user.get("id", ""))
    if not USER_ID.match(user_id) or user.get("delete_at"):
        return None
    locale = str(user.get("locale") or "")[:20] or None
    return Caller(PLATFORM, user_id, display_name(user)[:100] or user_id,
                  timezone=_known_zone(user_timezone(user)), locale=locale)


def _known_zone(name: str | None) -> str | None:
    if not name or len(name) > 64:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name
