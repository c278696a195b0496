"""Interactive dialogs: the pitch form, and the small forms behind some card buttons.

The pitch dialog has the same fields as the Slack modal (title, summary, objective, format,
people featured, result link, embargo date). Accept, Decline, Reassign and Request changes
ask for the one value they need (draft due date, reason, new reviewer, note). Element names
are the handlers' field names, so a refusal's field errors land under the right field.
Limits follow Mattermost's dialog rules (title ≤ 24 characters, labels ≤ 24, help ≤ 150);
a `text` element holds at most 150 characters, so a longer field is a `textarea`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from handlers.decisions import FORMATS, OBJECTIVE_HINTS, OBJECTIVES
from handlers.stories import FEATURED_MAX, LINK_MAX, REASON_MAX, SUMMARY_MAX, TITLE_MAX, PitchForm

TEXT_MAX = 150  # the longest `max_length` a dialog's `text` element may have

PITCH = "pitch"
PRESS = "press"
VALUE_ACTIONS = ("accept", "decline", "reassign", "changes", "draft", "posted_link")


def _text(name: str, label: str, *, optional: bool = True, max_length: int = 150,
          placeholder: str = "", help_text: str = "", default: str = "") -> dict[str, Any]:
    if max_length > TEXT_MAX:
        raise ValueError(f"{name}: a text element holds at most {TEXT_MAX} characters; "
                         f"use a textarea for {max_length}")
    return {"display_name": label, "name": name, "type": "text", "subtype": "text",
            "optional": optional, "max_length": max_length, "placeholder": placeholder,
            "help_text": help_text, "default": default}


def _textarea(name: str, label: str, *, optional: bool = True, max_length: int = 3000,
              placeholder: str = "", help_text: str = "") -> dict[str, Any]:
    return {"display_name": label, "name": name, "type": "textarea", "optional": optional,
            "max_length": max_length, "placeholder": placeholder, "help_text": help_text}


def _select(name: str, label: str, options: list[tuple[str, str]], *,
            help_text: str = "") -> dict[str, Any]:
    return {"display_name": label, "name": name, "type": "select", "optional": True,
            "options": [{"text": text, "value": value} for text, value in options],
            "help_text": help_text}


def pitch_dialog(state: str) -> dict[str, Any]:
    return {
        "callback_id": PITCH,
        "title": "Pitch a story",
        "introduction_text": "Tell the coordinators about a story for the account. Only the "
                             "title is needed now; the rest can come later.",
        "submit_label": "Pitch",
        "notify_on_cancel": False,
        "state": state,
        "elements": [
            _text("title", "Title", optional=False, max_length=TITLE_MAX,
                  placeholder="Muon tomography of a volcano"),
            _textarea("summary", "Summary", max_length=SUMMARY_MAX,
                      help_text="What is the story, and why now?"),
            _select("objective", "Objective",
                    [(f"{o} — {OBJECTIVE_HINTS[o]}"[:60], o) for o in OBJECTIVES]),
            _select("format", "Format", [(f, f) for f in FORMATS]),
            _textarea("featured", "People featured", max_length=FEATURED_MAX,
                      placeholder="Who appears in it?"),
            _textarea("result_link", "Result link", max_length=LINK_MAX,
                      placeholder="https://…, arXiv id or DOI"),
            _text("embargo_until", "Embargo until", max_length=10, placeholder="YYYY-MM-DD",
                  help_text="Not to be published before this day."),
        ],
    }


def press_dialog(action: str, story_id: int, state: str, today: date,
                 draft_days: int) -> dict[str, Any]:
    """The small form behind a card button that needs a value."""
    base: dict[str, Any] = {"callback_id": PRESS, "state": state, "notify_on_cancel": False}
    if action == "accept":
        due = today + timedelta(days=draft_days)
        return {**base, "title": f"Accept story #{story_id}"[:24], "submit_label": "Accept",
                "elements": [_text("due", "Draft due", optional=False, max_length=10,
                                   default=due.isoformat(), placeholder="YYYY-MM-DD",
                                   help_text="When the author's draft is due.")]}
    if action == "decline":
        return {**base, "title": f"Decline story #{story_id}"[:24], "submit_label": "Decline",
                "elements": [_textarea("reason", "Reason", optional=False,
                                       max_length=REASON_MAX,
                                       help_text="The author will read this.")]}
    if action == "changes":
        return {**base, "title": f"Changes to #{story_id}"[:24], "submit_label": "Send",
                "elements": [_textarea("note", "What to change", max_length=REASON_MAX,
                                       help_text="The author will read this.")]}
    if action == "reassign":
        return {**base, "title": f"Reassign story #{story_id}"[:24], "submit_label": "Reassign",
                "elements": [{"display_name": "New reviewer", "name": "reviewer",
                              "type": "select", "data_source": "users", "optional": True,
                              "help_text": "A coordinator; leave empty for the fairest pick."}]}
    if action == "draft":
        return {**base, "title": f"Draft of #{story_id}"[:24], "submit_label": "Submit",
                # a link may be longer than a one-line field's 150 characters
                "elements": [_textarea("link", "Link to the draft", optional=False,
                                       max_length=LINK_MAX, placeholder="https://…",
                                       help_text="A document your reviewer can open.")]}
    if action == "posted_link":
        return {**base, "title": f"#{story_id} is posted"[:24], "submit_label": "Record",
                "elements": [_textarea("link", "Link to the post", max_length=LINK_MAX,
                                       placeholder="https://www.instagram.com/p/…",
                                       help_text="Optional; links the post's reach to the "
                                                 "story.")]}
    raise ValueError(f"no dialog for {action!r}")


def _value(submission: Mapping[str, Any], name: str) -> str:
    value = submission.get(name)
    if value is None or isinstance(value, bool):
        return ""
    return str(value).strip()


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class ParsedPitch:
    form: PitchForm | None
    errors: dict[str, str]


def parse_pitch(submission: Mapping[str, Any]) -> ParsedPitch:
    """A dialog submission -> PitchForm; the errors only the dialog can make."""
    errors: dict[str, str] = {}
    embargo_text = _value(submission, "embargo_until")
    embargo = parse_date(embargo_text) if embargo_text else None
    if embargo_text and embargo is None:
        errors["embargo_until"] = "Write the date as YYYY-MM-DD."
    objective = _value(submission, "objective").lower() or None
    format_ = _value(submission, "format").lower() or None
    if errors:
        return ParsedPitch(None, errors)
    form = PitchForm(
        title=_value(submission, "title"),
        summary=_value(submission, "summary"),
        objective=objective,
        format=format_,
        featured=_value(submission, "featured"),
        result_link=_value(submission, "result_link") or None,
        embargo_until=embargo,
    )
    return ParsedPitch(form, {})


@dataclass(frozen=True)
class PressValues:
    due: date | None = None
    reason: str = ""
    reviewer_id: str | None = None


def parse_press(action: str, submission: Mapping[str, Any]) -> tuple[PressValues, dict[str, str]]:
    if action == "accept":
        text = _value(submission, "due")
        due = parse_date(text) if text else None
        if due is None:
            return PressValues(), {"due": "Write the date as YYYY-MM-DD."}
        return PressValues(due=due), {}
    if action == "decline":
        return PressValues(reason=_value(submission, "reason")), {}
    if action == "changes":
        return PressValues(reason=_value(submission, "note")), {}
    if action == "reassign":
        return PressValues(reviewer_id=_value(submission, "reviewer") or None), {}
    if action in ("draft", "posted_link"):
        link = _value(submission, "link")
        if action == "draft" and not link:
            return PressValues(), {"link": "Paste the link to the draft."}
        return PressValues(reason=link), {}
    return PressValues(), {}


def field_errors_for(action: str, errors: Mapping[str, str]) -> dict[str, str]:
    """A refusal's field errors, renamed to the elements of the dialog that was shown."""
    names = {"accept": {"due": "due"}, "decline": {"reason": "reason"},
             "changes": {"note": "note", "reason": "note"}, "reassign": {},
             "draft": {"link": "link"}, "posted_link": {"link": "link"}}
    mapping = names.get(action, {})
    return {mapping[key]: message for key, message in errors.items() if key in mapping}
