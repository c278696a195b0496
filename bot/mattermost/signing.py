"""HMACs for what Mattermost sends back to us unsigned: button contexts and dialog states.

Mattermost signs neither button calls (`POST /mattermost/action`) nor dialog submissions
(`POST /mattermost/dialog`): anyone who can reach those URLs could claim to be anyone. So
every button we render carries an HMAC-SHA256 over its action, story and version, and every
dialog we open carries one over its state and the user it was opened for. Calls whose HMAC
does not match are refused before anything else happens.

The key is MATTERMOST_ACTION_SECRET, or, when that is unset, a key derived from the bot
token (so rotating the token also invalidates old buttons).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

STATE_MAX_AGE_SECONDS = 24 * 3600
_DERIVE_LABEL = b"storydesk mattermost action signing v1"


@dataclass(frozen=True)
class SignedAction:
    action: str
    story_id: int
    version: int


class ActionSigner:
    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        if not key:
            raise ValueError("an HMAC key must not be empty")
        self._key = key
        self._clock = clock

    @classmethod
    def from_settings(cls, action_secret: str, bot_token: str) -> ActionSigner:
        if action_secret:
            return cls(action_secret.encode())
        return cls(hmac.new(bot_token.encode(), _DERIVE_LABEL, hashlib.sha256).digest())

    def _mac(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    # --- buttons ---------------------------------------------------------------------

    def context(self, action: str, story_id: int, version: int) -> dict[str, str]:
        return {
            "action": action,
            "story": str(story_id),
            "version": str(version),
            "sig": self._mac(f"action:{action}:{story_id}:{version}"),
        }

    def verify_context(self, context: Any) -> SignedAction | None:
        """The action a button context stands for, or None if it was not signed by us."""
        if not isinstance(context, Mapping):
            return None
        action, story, version, sig = (
            context.get("action"), context.get("story"), context.get("version"),
            context.get("sig"),
        )
        if not all(isinstance(v, str) for v in (action, story, version, sig)):
            return None
        assert isinstance(action, str) and isinstance(sig, str)
        assert isinstance(story, str) and isinstance(version, str)
        if not (story.isdigit() and version.isdigit() and len(story) < 10 and len(version) < 10):
            return None
        expected = self._mac(f"action:{action}:{story}:{version}")
        if not hmac.compare_digest(expected, sig):
            return None
        return SignedAction(action, int(story), int(version))

    # --- dialog states -----------------------------------------------------------------

    def state(self, callback_id: str, user_id: str, data: Mapping[str, Any]) -> str:
        """A dialog's `state`: its data, when it was issued, and an HMAC binding the user."""
        body = json.dumps({"data": dict(data), "issued": int(self._clock())},
                          sort_keys=True, separators=(",", ":"))
        sig = self._mac(f"dialog:{callback_id}:{user_id}:{body}")
        return json.dumps({"body": body, "sig": sig}, separators=(",", ":"))

    def verify_state(self, state: Any, callback_id: str, user_id: str) -> dict[str, Any] | None:
        if not isinstance(state, str) or len(state) > 8000:
            return None
        try:
            wrapper = json.loads(state)
            body, sig = wrapper["body"], wrapper["sig"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(body, str) or not isinstance(sig, str):
            return None
        expected = self._mac(f"dialog:{callback_id}:{user_id}:{body}")
        if not hmac.compare_digest(expected, sig):
            return None
        content = json.loads(body)
        if self._clock() - content["issued"] > STATE_MAX_AGE_SECONDS:
            return None
        data: dict[str, Any] = content["data"]
        return data
