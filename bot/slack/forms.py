"""Slack modals: the pitch form and the small forms behind the story-card buttons.

Each input block's `block_id` is the name of the field it fills, so field errors from the
handlers (`{"title": "..."}`) go straight back as `response_action: errors`. The story id
and version a button was pressed at travel in `private_metadata`, with where to answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bot.slack.render import cut
from handlers.decisions import FORMATS, OBJECTIVE_HINTS, OBJECTIVES
from handlers.stories import (
    FEATURED_MAX,
    LINK_MAX,
    REASON_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    PitchForm,
)

PITCH_CALLBACK = "storydesk_pitch"
STORY_CALLBACK_PREFIX = "storydesk_"
FORM_ACTIONS = ("accept", "decline", "reassign", "changes", "draft", "posted_link")
VALUE = "value"
MAX_DUE_DAYS = 366

View = dict[str, Any]


def _text(label: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(label, 150)}


def _text_input(block_id: str, label: str, *, max_length: int, multiline: bool = False,
                optional: bool = True, placeholder: str = "", hint: str = "",
                initial: str = "") -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": VALUE,
                               "multiline": multiline, "max_length": max_length}
    if placeholder:
        element["placeholder"] = _text(placeholder)
    if initial:
        element["initial_value"] = initial[:max_length]
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": _text(label),
                             "optional": optional, "element": element}
    if hint:
        block["hint"] = _text(hint)
    return block


def _select(block_id: str, label: str, options: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "input", "block_id": block_id, "label": _text(label), "optional": True,
        "element": {
            "type": "static_select", "action_id": VALUE, "placeholder": _text("Choose…"),
            "options": [{"text": _text(text), "value": value} for value, text in options],
        },
    }


def _modal(callback_id: str, title: str, submit: str, blocks: list[dict[str, Any]],
           metadata: dict[str, Any]) -> View:
    return {
        "type": "modal", "callback_id": callback_id, "title": _text(cut(title, 24)),
        "submit": _text(submit), "close": _text("Cancel"), "blocks": blocks,
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
    }


# --- the pitch form -----------------------------------------------------------------------


def pitch_modal(channel_id: str = "") -> View:
    objectives = [(name, f"{name} — {OBJECTIVE_HINTS[name]}") for name in OBJECTIVES]
    blocks = [
        _text_input("title", "Title", max_length=TITLE_MAX, optional=False,
                    placeholder="What is the story, in a line?"),
        _text_input("summary", "Summary", max_length=SUMMARY_MAX, multiline=True,
                    placeholder="The result or idea, and why people would care"),
        _select("objective", "Objective", objectives),
        _select("format", "Format", [(name, name) for name in FORMATS]),
        _text_input("featured", "People featured", max_length=FEATURED_MAX,
                    placeholder="Who appears or is quoted"),
        _text_input("result_link", "Link to the result", max_length=LINK_MAX,
                    placeholder="https://…, an arXiv id (2401.12345) or a DOI"),
        {"type": "input", "block_id": "embargo_until", "label": _text("Embargo until"),
         "optional": True, "element": {"type": "datepicker", "action_id": VALUE},
         "hint": _text("Nothing is published before this day.")},
    ]
    return _modal(PITCH_CALLBACK, "Pitch a story", "Pitch", blocks, {"channel_id": channel_id})


def _state(view: View) -> dict[str, dict[str, Any]]:
    values = view.get("state", {}).get("values", {})
    return {block_id: (actions.get(VALUE) or {}) for block_id, actions in values.items()}


def _typed(state: dict[str, dict[str, Any]], block_id: str) -> str:
    """What was typed into a text input: Slack returns it as typed, with no entities."""
    value = state.get(block_id, {}).get("value")
    return str(value) if value else ""


def _chosen(state: dict[str, dict[str, Any]], block_id: str) -> str | None:
    option = state.get(block_id, {}).get("selected_option")
    return str(option["value"]) if isinstance(option, dict) and option.get("value") else None


def _picked_date(state: dict[str, dict[str, Any]], block_id: str,
                 errors: dict[str, str]) -> date | None:
    raw = state.get(block_id, {}).get("selected_date")
    if not raw:
        return None
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        errors[block_id] = "Pick a date from the calendar."
        return None


def pitch_from_view(view: View) -> tuple[PitchForm, dict[str, str]]:
    """The form as submitted, and the errors found while reading it."""
    state = _state(view)
    errors: dict[str, str] = {}
    embargo = _picked_date(state, "embargo_until", errors)
    form = PitchForm(
        title=_typed(state, "title"),
        summary=_typed(state, "summary"),
        objective=_chosen(state, "objective"),
        format=_chosen(state, "format"),
        featured=_typed(state, "featured"),
        result_link=_typed(state, "result_link") or None,
        embargo_until=embargo,
    )
    return form, errors


# --- the forms behind story-card buttons ------------------------------------------------


@dataclass(frozen=True)
class StoryFormTarget:
    """Which story, at which version, and where to tell the presser how it went."""

    action: str
    story_id: int
    version: int
    channel_id: str = ""
    response_url: str = ""

    def metadata(self) -> dict[str, Any]:
        return {"story_id": self.story_id, "version": self.version,
                "channel_id": self.channel_id, "response_url": self.response_url}


def story_modal(target: StoryFormTarget, today: date, draft_days: int) -> View:
    number = f"#{target.story_id}"
    callback = STORY_CALLBACK_PREFIX + target.action
    blocks: list[dict[str, Any]]
    if target.action == "accept":
        due = today + timedelta(days=draft_days)
        blocks = [{"type": "input", "block_id": "due", "label": _text("Draft due"),
                   "element": {"type": "datepicker", "action_id": VALUE,
                               "initial_date": due.isoformat()},
                   "hint": _text("The author gets reminders before this day.")}]
        return _modal(callback, f"Accept story {number}", "Accept", blocks, target.metadata())
    if target.action == "decline":
        blocks = [_text_input("reason", "Why not this time?", max_length=REASON_MAX,
                              multiline=True, optional=False,
                              hint="The author reads this; be kind and specific.")]
        return _modal(callback, f"Decline story {number}", "Decline", blocks,
                      target.metadata())
    if target.action == "reassign":
        blocks = [{"type": "input", "block_id": "reviewer", "optional": True,
                   "label": _text("New reviewer"),
                   "element": {"type": "users_select", "action_id": VALUE,
                               "placeholder": _text("A coordinator")},
                   "hint": _text("Leave empty to let Storydesk pick the least busy one.")}]
        return _modal(callback, f"Reassign story {number}", "Reassign", blocks,
                      target.metadata())
    if target.action == "changes":
        blocks = [_text_input("note", "What should change?", max_length=REASON_MAX,
                              multiline=True, hint="Sent to the author.")]
        return _modal(callback, f"Changes to {number}", "Send", blocks, target.metadata())
    if target.action == "draft":
        blocks = [_text_input("link", "Link to the draft", max_length=LINK_MAX, optional=False,
                              placeholder="https://…",
                              hint="A document your reviewer can open and comment on.")]
        return _modal(callback, f"Draft of {number}", "Submit", blocks, target.metadata())
    if target.action == "posted_link":
        blocks = [_text_input("link", "Link to the post", max_length=LINK_MAX,
                              placeholder="https://www.instagram.com/p/…",
                              hint="Optional; with it, the post's reach is linked to the "
                                   "story.")]
        return _modal(callback, f"{number} is posted", "Record", blocks, target.metadata())
    raise ValueError(f"no form for {target.action!r}")


@dataclass(frozen=True)
class StoryFormInput:
    due: date | None = None
    reason: str = ""
    reviewer_id: str | None = None


def story_target_from_view(view: View) -> StoryFormTarget | None:
    callback = str(view.get("callback_id", ""))
    action = callback.removeprefix(STORY_CALLBACK_PREFIX)
    if action not in FORM_ACTIONS:
        return None
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        return StoryFormTarget(action, int(meta["story_id"]), int(meta["version"]),
                               str(meta.get("channel_id") or ""),
                               str(meta.get("response_url") or ""))
    except (ValueError, KeyError, TypeError):
        return None


def story_input_from_view(
    action: str, view: View, today: date
) -> tuple[StoryFormInput, dict[str, str]]:
    """The form's values, and the field errors worth showing before anything runs."""
    state = _state(view)
    errors: dict[str, str] = {}
    if action == "accept":
        due = _picked_date(state, "due", errors)
        if due is None and "due" not in errors:
            errors["due"] = "Pick the day the draft is due."
        elif due is not None and due < today:
            errors["due"] = "This date is in the past."
        elif due is not None and due > today + timedelta(days=MAX_DUE_DAYS):
            errors["due"] = "More than a year away."
        return StoryFormInput(due=due), errors
    if action in ("decline", "changes"):
        block = "reason" if action == "decline" else "note"
        text = _typed(state, block).strip()
        if action == "decline" and not text:
            errors[block] = "A reason is required."
        return StoryFormInput(reason=text), errors
    if action == "reassign":
        user = state.get("reviewer", {}).get("selected_user")
        return StoryFormInput(reviewer_id=str(user) if user else None), errors
    if action in ("draft", "posted_link"):
        link = _typed(state, "link").strip()
        if action == "draft" and not link:
            errors["link"] = "Paste the link to the draft."
        return StoryFormInput(reason=link), errors
    return StoryFormInput(), errors


def field_errors_for(action: str, errors: dict[str, str]) -> dict[str, str]:
    """Handler field names -> this form's block ids (decline says `reason`, changes `note`)."""
    if action == "changes" and "note" in errors:
        return {"note": errors["note"]}
    if action == "changes" and "reason" in errors:
        return {"note": errors["reason"]}
    return errors
