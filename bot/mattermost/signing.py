"""HMACs for what Mattermost sends back to us unsigned: button contexts and dialog states.

Mattermost signs neither button calls (`POST /mattermost/action`) nor dialog submissions
(`POST /mattermost/dialog`): anyone who can reach those URLs could claim to be anyone. What
Mattermost does guarantee is that a genuine call carries the context stored with the button
on its post (clients never see it, the server strips it) and the post id and user id of the
press. So a button's context is signed together with what identifies the press:

- the action, the story and its version (a stale card does nothing);
- the post the button sits on (a card: its post id) and/or the person it was shown to (a
  direct message or a command's answer: their user id); a call whose `post_id` or `user_id`
  differs from the signed one is refused, so a context copied elsewhere is worth nothing;
- an expiry: 7 days for card buttons (cards are re-signed whenever they are updated).

A dialog's state is signed with the dialog's kind and the user it was opened for, and carries
when it was issued and a random nonce: it is valid for one hour and, recorded in
`handled_request` with its effect, only once.

The key is MATTERMOST_ACTION_SECRET, or, when that is unset, a key derived from the bot
token (so rotating the token also invalidates old buttons).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

BUTTON_MAX_AGE_SECONDS = 7 * 24 * 3600
STATE_MAX_AGE_SECONDS = 3600
_DERIVE_LABEL = b"storydesk mattermost action signing v1"
_ID = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


@dataclass(frozen=True)
class SignedAction:
    action: str
    story_id: int
    version: int
    post_id: str = ""  # the post the button was signed for ("" when bound to a person)
    user_id: str = ""  # the person it was shown to ("" for a card anyone may press)
    expires: int = 0

    def binding_problem(self, post_id: str, user_id: str) -> str | None:
        """Why a press of this button by `user_id` on `post_id` cannot be genuine, or None."""
        if self.post_id and post_id != self.post_id:
            return "the press comes from another post than the button was made for"
        if self.user_id and user_id != self.user_id:
            return "the button was shown to someone else"
        return None


class ContextExpired(Exception):
    """A genuine button whose signature is older than its lifetime."""

    def __init__(self, signed: SignedAction) -> None:
        super().__init__(f"button {signed.action} for #{signed.story_id} expired")
        self.signed = signed


class StateExpired(Exception):
    """A genuine dialog state older than STATE_MAX_AGE_SECONDS."""


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

    def context(self, action: str, story_id: int, version: int, *, post_id: str = "",
                user_id: str = "") -> dict[str, str]:
        """A button's integration context, bound to a post, a person, or both."""
        if not (post_id or user_id):
            raise ValueError("a button is bound to the post it sits on or to a person")
        expires = str(int(self._clock()) + BUTTON_MAX_AGE_SECONDS)
        fields = [action, str(story_id), str(version), post_id, user_id, expires]
        return {
            "action": action,
            "story": str(story_id),
            "version": str(version),
            "post": post_id,
            "user": user_id,
            "expires": expires,
            "sig": self._mac(_button_message(fields)),
        }

    def verify_context(self, context: Any) -> SignedAction | None:
        """The action a button context stands for, or None if it was not signed by us.

        Raises ContextExpired for a genuine context past its lifetime.
        """
        if not isinstance(context, Mapping):
            return None
        names = ("action", "story", "version", "post", "user", "expires", "sig")
        values = [context.get(name) for name in names]
        if not all(isinstance(value, str) and len(value) <= 100 for value in values):
            return None
        action, story, version, post, user, expires, sig = (str(v) for v in values)
        if not all(part.isdigit() and len(part) < 12 for part in (story, version, expires)):
            return None
        if not (post or user) or not set(post + user) <= _ID:
            return None
        expected = self._mac(_button_message([action, story, version, post, user, expires]))
        if not hmac.compare_digest(expected, sig):
            return None
        signed = SignedAction(action, int(story), int(version), post, user, int(expires))
        if self._clock() > signed.expires:
            raise ContextExpired(signed)
        return signed

    # --- dialog states -----------------------------------------------------------------

    def state(self, callback_id: str, user_id: str, data: Mapping[str, Any]) -> str:
        """A dialog's `state`: its data, when it was issued, and an HMAC binding the user."""
        body = json.dumps({"data": dict(data), "issued": int(self._clock()),
                           "nonce": secrets.token_hex(8)},
                          sort_keys=True, separators=(",", ":"))
        sig = self._mac(f"dialog:{callback_id}:{user_id}:{body}")
        return json.dumps({"body": body, "sig": sig}, separators=(",", ":"))

    def verify_state(self, state: Any, callback_id: str, user_id: str) -> dict[str, Any] | None:
        """The data of a state we issued for `callback_id` and `user_id`, else None.

        Raises StateExpired for a genuine state past its hour.
        """
        if not isinstance(state, str) or len(state) > 8000:
            return None
        try:
            wrapper = json.loads(state)
            body, sig = wrapper["body"], wrapper["sig"]
        except (ValueError, KeyError, TypeError, IndexError, RecursionError):
            return None
        if not isinstance(body, str) or not isinstance(sig, str):
            return None
        expected = self._mac(f"dialog:{callback_id}:{user_id}:{body}")
        if not hmac.compare_digest(expected, sig):
            return None
        content = json.loads(body)
        if self._clock() - content["issued"] > STATE_MAX_AGE_SECONDS:
            raise StateExpired(callback_id)
        data: dict[str, Any] = content["data"]
        return data

    @staticmethod
    def state_key(state: str) -> str:
        """What identifies a verified dialog state, however its JSON is spaced: its HMAC."""
        return str(json.loads(state)["sig"])


def _button_message(fields: list[str]) -> str:
    return "button:v2:" + json.dumps(fields, separators=(",", ":"))
