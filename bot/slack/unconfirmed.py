"""A Slack request the inbox gave up on, as the person who sent it is told about it.

The inbox (bot/inbox.py) drops a request it could not answer within GIVE_UP_AFTER (the
life of the response URL) or MAX_ATTEMPTS tries. By then the response URL no longer takes
an answer, so the person hears it by direct message, through the Web API: which request
("your `/pitch Muon tomography …`"), sent when (in their time zone if Slack told us, else
the team's), why it could not be confirmed, and how to check whether it took effect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.inbox import CHECK_AND_RESEND
from bot.slack.forms import PITCH_CALLBACK, pitch_from_view, story_target_from_view
from bot.slack.incoming import command_text

SHOWN = 40  # characters of a command's text quoted back to the person
# What a form behind a story-card button does, as "your form to … story #12".
FORM_VERBS = {"accept": "accept", "decline": "decline", "reassign": "reassign",
              "changes": "ask for changes to", "draft": "send the draft of",
              "posted_link": "give the post of"}


@dataclass(frozen=True)
class Sent:
    """Who sent a request, what it was in their words, and how to see whether it took
    effect."""

    user_id: str
    what: str
    advice: str = CHECK_AND_RESEND


def _pitch_advice() -> str:
    return "Check with `/story list mine` and send it again if it is not there."


def _story_advice(story_id: int, again: str) -> str:
    return f"Check with `/story show {story_id}` and {again} if it did not take effect."


def sent(kind: str, payload: dict[str, Any]) -> Sent | None:
    """The request an inbox entry holds (`kind` "command" or "interaction"), described; None
    if the payload names nobody to tell."""
    if kind == "command":
        return _command(payload)
    user_id = str((payload.get("user") or {}).get("id") or "")
    if not user_id:
        return None
    if payload.get("type") == "block_actions":
        return _press(user_id, (payload.get("actions") or [{}])[0])
    view = payload.get("view") or {}
    if view.get("callback_id") == PITCH_CALLBACK:
        form, _errors = pitch_from_view(view)
        return Sent(user_id, f"your pitch {_quoted(form.title)}", _pitch_advice())
    target = story_target_from_view(view)
    if target is None:
        return Sent(user_id, "your form")
    verb = FORM_VERBS.get(target.action, target.action)
    return Sent(user_id, f"your form to {verb} story #{target.story_id}",
                _story_advice(target.story_id, "fill in the form again"))


def _command(payload: dict[str, Any]) -> Sent | None:
    user_id = str(payload.get("user_id") or "")
    if not user_id:
        return None
    command = str(payload.get("command") or "").strip() or "/story"
    text = " ".join(command_text(str(payload.get("text") or "")).split())
    what = f"your {_quoted(f'{command} {text}'.strip())}"
    if command == "/pitch":
        return Sent(user_id, what, _pitch_advice())
    return Sent(user_id, what)


def _press(user_id: str, action: dict[str, Any]) -> Sent:
    label = str((action.get("text") or {}).get("text") or "").strip()
    try:
        story: int | None = int(json.loads(str(action.get("value") or "{}"))["story_id"])
    except (ValueError, KeyError, TypeError):
        story = None
    what = f"your press of {_quoted(label)}" if label else "your button press"
    if story is None:
        return Sent(user_id, what)
    return Sent(user_id, f"{what} on story #{story}",
                _story_advice(story, "press the button again"))


def _quoted(text: str) -> str:
    """`text` as code, cut after a word near SHOWN characters; backticks in it would end
    the quote."""
    text = text.replace("`", "'")
    if len(text) > SHOWN:
        cut = text[:SHOWN + 1].rsplit(" ", 1)[0] if " " in text[:SHOWN + 1] else text[:SHOWN]
        text = cut.rstrip() + " …"
    return f"`{text}`"
