"""The buttons on direct messages: what a reminder asks for, one click away.

A draft reminder carries *Send the draft link…* (a form), *Snooze 2 days* and *Stop
reminders*; a message to a reviewer about a story carries that story's card buttons as
well; a kind nudge or a "your year" message carries *Stop reminders*. The names are the
verbs `CommandRunner.press` dispatches on; the personal ones may be pressed by whoever the
message went to, the others only by coordinators.
"""

from __future__ import annotations

from handlers.reply import Action
from handlers.stories import card_actions
from storage.models import Story

SNOOZE_DAYS = 2
PERSONAL_ACTIONS = ("draft", "snooze", "reminders_off")


def personal_actions(story: Story) -> tuple[Action, ...]:
    assert story.id is not None
    return (
        Action("snooze", f"Snooze {SNOOZE_DAYS} days", story.id, story.version),
        Action("reminders_off", "Stop reminders", story.id, story.version, "danger"),
    )


def stop_reminders_action() -> Action:
    """*Stop reminders* on a message about no one story (a kind nudge, "your year"): the
    press turns the person's reminders off, whatever story the button names (here none, 0)."""
    return Action("reminders_off", "Stop reminders", 0, 0, "danger")


def author_reminder_actions(story: Story) -> tuple[Action, ...]:
    assert story.id is not None
    return (Action("draft", "Send the draft link…", story.id, story.version, "primary"),
            *personal_actions(story))


def reviewer_reminder_actions(story: Story) -> tuple[Action, ...]:
    return (*card_actions(story), *personal_actions(story))
