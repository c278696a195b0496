"""The Slack app: slash commands, story-card buttons and modals, on slack-bolt.

An answer means it is done. Bolt runs in `process_before_response` mode: a listener runs
the request's transaction in the request itself and acknowledges once it has committed,
so nothing a person was told lives only in memory.

- A slash command's answer travels in the ack's body: the person sees it as soon as Slack
  has the HTTP response, and there is no second round trip through the response_url.
- A button press or a form submission commits its effect, and the answer it owes (an
  ephemeral note on the response_url, or a direct message after a form) is written to the
  outbox in the same transaction; the dispatcher, woken by the commit, sends it.
- The request's identity (trigger id, action timestamp, view id and hash) is recorded with
  the effect (`handled_request`), so a retried, replayed or double-submitted copy takes
  effect once, whichever process or replica it reaches.
- Slack waits three seconds. What has not committed by then is held in the inbox and
  answered late, or, if the inbox cannot hold it, waited for until the last moment: the
  deadline machinery the listeners are built on (`Deadline`, bot/slack/deadline.py).
- A first-time person is named from the request's `user_name`; their profile (name, time
  zone) is asked of users.info after the answer, so a slow Web API never delays one.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.commands import Caller, Outcome, Request, not_yet
from bot.slack.bolt_log import bolt_logger
from bot.slack.client import error_code
from bot.slack.conversation import register_conversation
from bot.slack.deadline import Deadline, Interaction, Pending, answer
from bot.slack.deps import SlackDeps
from bot.slack.directory import PLATFORM
from bot.slack.forms import (
    FORM_ACTIONS,
    PITCH_CALLBACK,
    STORY_CALLBACK_PREFIX,
    StoryFormInput,
    StoryFormTarget,
    field_errors_for,
    pitch_from_view,
    pitch_modal,
    story_input_from_view,
    story_modal,
    story_target_from_view,
)
from bot.slack.incoming import command_text
from bot.slack.render import ACTION_PREFIX, render_ack
from handlers.dm_actions import PERSONAL_ACTIONS
from handlers.members import ensure_member, find_member, is_coordinator
from handlers.reply import Reply
from handlers.stories import PitchForm, validate_pitch
from storage.db import read_session, write_session

log = logging.getLogger(__name__)

# Buttons on direct messages and schedule posts (handlers.dm_actions, handlers.publication).
DM_BUTTONS = ("draft", "snooze", "reminders_off", "posted", "posted_link", "confirm_post")
COMMANDS = ("/pitch", "/story")
BUTTONS = ("accept", "decline", "reassign", "approve", "changes", *DM_BUTTONS)
BUTTON_PATTERN = re.compile(rf"^{ACTION_PREFIX}({'|'.join(BUTTONS)})$")
FORM_PATTERN = re.compile(rf"^{STORY_CALLBACK_PREFIX}({'|'.join(FORM_ACTIONS)})$")
WORKERS = 16
WORKING = ("Working on it… the answer follows in a moment: here, or in a direct message "
           "from Storydesk if Slack no longer takes it here.")
REFUSAL = ("Only coordinators can use the buttons on story cards; you are a contributor. "
           "`/story show {story}` shows the story, `/story team` lists the coordinators.")


@dataclass
class SlackApp:
    """The bolt App, and the threads that finish what outlived Slack's deadline."""

    bolt: App
    deps: SlackDeps
    listeners: Listeners

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the work started so far (late answers, look-ups) is done."""
        deadline = time.monotonic() + timeout
        while self.listeners.busy() and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self, wait: bool = False) -> None:
        """Stop; with `wait`, let late answers and profile look-ups finish first (what is
        not finished is in the inbox, or only a profile to be asked again)."""
        self.listeners.close(wait)


def build_app(
    deps: SlackDeps,
    *,
    client: WebClient,
    signing_secret: str,
    workers: int = WORKERS,
    verify_token: bool = True,
) -> SlackApp:
    """A bolt App answering on `client`'s workspace; `verify_token` calls auth.test now."""
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-work")
    app = App(
        client=client,
        signing_secret=signing_secret,
        process_before_response=True,  # the listener commits, then bolt answers
        token_verification_enabled=verify_token,
        logger=bolt_logger(),
    )
    listeners = register_listeners(app, deps, executor)
    if deps.inbox is not None:
        deps.inbox.register(PLATFORM, "command", listeners.replay_command)
        deps.inbox.register(PLATFORM, "interaction", listeners.replay_interaction)
        deps.inbox.register_notifier(PLATFORM, listeners.tell_given_up)
    return SlackApp(app, deps, listeners)


def register_listeners(app: App, deps: SlackDeps, pool: ThreadPoolExecutor) -> Listeners:
    """Wire every listener: a plain function that does the work, then acknowledges."""
    listeners = Listeners(deps, pool)
    for command in COMMANDS:
        app.command(command)(listeners.on_command)
    app.action(BUTTON_PATTERN)(listeners.on_button)
    app.view(PITCH_CALLBACK)(listeners.on_pitch_form)
    app.view(FORM_PATTERN)(listeners.on_story_form)
    # direct messages and @-mentions (bot.slack.conversation); answers after the ack
    register_conversation(app, deps, listeners.after, listeners.refresh_profile)
    app.error(listeners.on_error)
    return listeners


@dataclass(frozen=True)
class Button:
    """A press of one of BUTTONS: the action, on which story at which version."""

    name: str
    story_id: int
    version: int
    action_ts: str


class Listeners(Deadline):
    """The callbacks: run the request's transaction (within the deadline: `Deadline`, in
    bot/slack/deadline.py), then ack."""

    def __init__(self, deps: SlackDeps, pool: ThreadPoolExecutor) -> None:
        super().__init__(deps, pool)
        self._refreshing: set[str] = set()
        self._refresh_lock = threading.Lock()

    def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("slack listener failed on %s: %r", body.get("type") or "command", error)

    # --- slash commands ------------------------------------------------------------------

    def on_command(self, ack: Callable[..., Any], command: dict[str, Any],
                   client: WebClient) -> None:
        name = str(command.get("command", "")).lstrip("/")
        text = command_text(str(command.get("text") or ""))
        if name == "pitch" and not text.strip():
            # The form first: a trigger_id is good for three seconds only.
            ack(**self.open_pitch_form(client, str(command.get("trigger_id") or ""),
                                       str(command.get("channel_id") or "")))
            return
        caller = self.quick_caller(str(command.get("user_id") or ""),
                                   str(command.get("user_name") or ""))
        response_url = str(command.get("response_url") or "")
        request = command_request(command)
        outcome = self.within_deadline(
            lambda: self.deps.runner.run_request(caller, name, text, self.deps.clock(),
                                                 request),
            hold=("command", request.key, command),
            late=lambda reply: self.tell(caller.user_id, response_url, reply),
            who=caller,
        )
        if outcome is Pending.HELD:
            ack(text=WORKING, response_type="ephemeral")
            return
        if outcome is Pending.AT_RISK:
            ack(text=not_yet("command", "send it again").text, response_type="ephemeral")
            return
        reply = outcome.reply
        if reply.form == "pitch":
            ack(**self.open_pitch_form(client, str(command.get("trigger_id") or ""),
                                       str(command.get("channel_id") or "")))
            return
        ack(**render_ack(reply))

    def open_pitch_form(self, client: WebClient, trigger_id: str,
                        channel_id: str) -> dict[str, Any]:
        """Open the modal; what to acknowledge with (nothing, or why it did not open)."""
        try:
            client.views_open(trigger_id=trigger_id, view=pitch_modal(channel_id))
            return {}
        except (SlackApiError, SlackClientError, OSError) as error:
            reason = error_code(error) if isinstance(error, SlackApiError) else str(error)
            log.warning("could not open the pitch form: %s", reason)
            return render_ack(Reply(
                text="The pitch form did not open in time. Try `/pitch` again, or pitch in "
                "one line: `/pitch <title> [#objective] [#format] [-- summary]`.",
                tone="error"))

    # --- buttons on story cards ----------------------------------------------------------

    def on_button(self, ack: Callable[..., Any], body: dict[str, Any], action: dict[str, Any],
                  client: WebClient) -> None:
        try:
            self.press_button(body, action, client)
        finally:
            ack()

    def press_button(self, body: dict[str, Any], action: dict[str, Any],
                     client: WebClient) -> None:
        button = button_of(body, action)
        if button is None:
            return
        user_id = str((body.get("user") or {}).get("id") or "")
        response_url = str(body.get("response_url") or "")
        if button.name not in PERSONAL_ACTIONS and not self.is_coordinator(user_id):
            self.after(answer, response_url, Reply(text=REFUSAL.format(story=button.story_id),
                                                   tone="error"))
            return
        if button.name in FORM_ACTIONS:
            channel = body.get("channel") or body.get("container") or {}
            target = StoryFormTarget(button.name, button.story_id, button.version,
                                     str(channel.get("id") or channel.get("channel_id") or ""),
                                     response_url)
            view = story_modal(target, self.deps.today(), self.deps.policy.draft_days)
            try:
                client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
            except (SlackApiError, SlackClientError, OSError) as error:
                log.warning("button %s on story %s: %s", button.name, button.story_id, error)
                self.after(answer, response_url, Reply(
                    text="That form did not open in time; press the button again.",
                    tone="error"))
            return
        self.interact(self.press(body, button))

    def press(self, body: dict[str, Any], button: Button) -> Interaction:
        user = body.get("user") or {}
        user_id = str(user.get("id") or "")
        response_url = str(body.get("response_url") or "")
        caller = self.caller(user)
        request = Request(key=f"slack:action:{user_id}:{button.action_ts}:{button.name}",
                          kind="button", answer_url=response_url or None,
                          answer_by_dm=not response_url)
        return Interaction(
            lambda: Outcome(self.deps.runner.press(
                caller, button.name, button.story_id, button.version, self.deps.clock(),
                request=request)),
            caller, request.key, body,
            tell=lambda reply: self.tell(user_id, response_url, reply),
            not_yet=not_yet("press", "press the button again"),
        )

    # --- modals --------------------------------------------------------------------------

    def on_pitch_form(self, ack: Callable[..., Any], body: dict[str, Any],
                      view: dict[str, Any]) -> None:
        """Field errors go back with the ack; else the pitch commits, then the modal closes."""
        form, errors = pitch_from_view(view)
        errors = {**validate_pitch(form, self.deps.today()), **errors}
        if errors:
            ack(response_action="errors", errors=errors)
            return
        try:
            self.interact(self.pitch_form(body, view, form))
        finally:
            ack()

    def pitch_form(self, body: dict[str, Any], view: dict[str, Any],
                   form: PitchForm) -> Interaction:
        user = body.get("user") or {}
        user_id = str(user.get("id") or "")
        caller = self.caller(user)
        request = Request(key=view_key(view), kind="view", answer_by_dm=True)
        return Interaction(
            lambda: Outcome(self.deps.runner.submit_pitch(caller, form, self.deps.clock(),
                                                          request=request)),
            caller, request.key, body,
            tell=lambda reply: self.direct_message(user_id, reply),
            not_yet=not_yet("pitch", "pitch it again"),
        )

    def on_story_form(self, ack: Callable[..., Any], body: dict[str, Any],
                      view: dict[str, Any]) -> None:
        target = story_target_from_view(view)
        if target is None:
            ack()
            return
        values, errors = story_input_from_view(target.action, view, self.deps.today())
        if errors:
            ack(response_action="errors", errors=errors)
            return
        try:
            self.interact(self.story_form(body, view, target, values))
        finally:
            ack()

    def story_form(self, body: dict[str, Any], view: dict[str, Any],
                   target: StoryFormTarget, values: StoryFormInput) -> Interaction:
        user = body.get("user") or {}
        user_id = str(user.get("id") or "")
        caller = self.caller(user)
        request = Request(key=view_key(view), kind="view",
                          answer_url=target.response_url or None,
                          answer_by_dm=not target.response_url)

        def work() -> Outcome:
            reviewer: Caller | None = None
            if values.reviewer_id:
                reviewer = self.deps.directory.lookup(f"<@{values.reviewer_id}>")
            reply = self.deps.runner.press(
                caller, target.action, target.story_id, target.version, self.deps.clock(),
                due=values.due, reason=values.reason, reviewer=reviewer, request=request)
            return Outcome(with_field_errors(target.action, reply))

        return Interaction(work, caller, request.key, body,
                           tell=lambda reply: self.tell(user_id, target.response_url, reply),
                           not_yet=not_yet("form", "press the button and fill it in again"))

    # --- a press or a form replayed from the inbox -----------------------------------------

    def interaction_of(self, body: dict[str, Any]) -> Interaction | None:
        """The press or form a raw payload asks for; None if it asks for nothing to run."""
        if body.get("type") == "block_actions":
            button = button_of(body, (body.get("actions") or [{}])[0])
            return None if button is None else self.press(body, button)
        view = body.get("view") or {}
        if view.get("callback_id") == PITCH_CALLBACK:
            form, errors = pitch_from_view(view)
            return None if errors else self.pitch_form(body, view, form)
        target = story_target_from_view(view)
        if target is None:
            return None
        values, errors = story_input_from_view(target.action, view, self.deps.today())
        return None if errors else self.story_form(body, view, target, values)

    # --- who is asking -------------------------------------------------------------------

    def quick_caller(self, user_id: str, user_name: str) -> Caller:
        """The person as far as known without asking Slack: never waits for the Web API."""
        known = self.deps.directory.cached(user_id)
        if known is not None:
            return known
        return Caller(PLATFORM, user_id, user_name or user_id, provisional=True)

    def refresh_profile(self, caller: Caller) -> None:
        """After the answer: a first-seen person's name and time zone from users.info."""
        if not caller.provisional:
            return
        with self._refresh_lock:
            if caller.user_id in self._refreshing:
                return
            self._refreshing.add(caller.user_id)
        try:
            found = self.deps.directory.caller(caller.user_id, "")
            if found.display_name == found.user_id and not found.timezone:
                return  # Slack could not be asked; the next request tries again
            with write_session(self.deps.engine) as session:
                if find_member(session, PLATFORM, caller.user_id) is not None:
                    ensure_member(session, PLATFORM, found.user_id, found.display_name,
                                  self.deps.clock(), timezone=found.timezone,
                                  locale=found.locale)
        except Exception:  # only a profile: the next request tries again
            log.exception("could not fill in the profile of %s", caller.user_id)
        finally:
            with self._refresh_lock:
                self._refreshing.discard(caller.user_id)

    def caller(self, user: dict[str, Any]) -> Caller:
        fallback = str(user.get("name") or user.get("username") or "")
        return self.quick_caller(str(user.get("id") or ""), fallback)

    def is_coordinator(self, user_id: str) -> bool:
        with read_session(self.deps.engine) as session:
            member = find_member(session, PLATFORM, user_id)
            return member is not None and is_coordinator(member)


def button_of(body: dict[str, Any], action: dict[str, Any]) -> Button | None:
    """The button pressed, or None if it is not ours or its value is malformed."""
    match = BUTTON_PATTERN.match(str(action.get("action_id", "")))
    if match is None:
        return None
    try:
        value = json.loads(str(action.get("value") or "{}"))
        story_id, version = int(value["story_id"]), int(value["version"])
    except (ValueError, KeyError, TypeError):
        log.warning("button %s with a malformed value from %s", match.group(1),
                    (body.get("user") or {}).get("id"))
        return None
    return Button(match.group(1), story_id, version, str(action.get("action_ts")))


def command_request(command: dict[str, Any]) -> Request:
    """A slash command's identity is its trigger id (one per invocation)."""
    trigger = str(command.get("trigger_id") or "")
    return Request(key=f"slack:command:{trigger}" if trigger else None)


def view_key(view: dict[str, Any]) -> str | None:
    """A submitted view's identity: its id and hash (the same for a retried copy)."""
    if not view.get("id"):
        return None
    return f"slack:view:{view.get('id')}:{view.get('hash') or ''}"


def with_field_errors(action: str, reply: Reply) -> Reply:
    field_errors = reply.data.get("field_errors") if not reply.ok else None
    if not field_errors:
        return reply
    detail = "; ".join(field_errors_for(action, field_errors).values())
    if detail in reply.text:
        return reply
    return Reply(text=f"{reply.text} ({detail})", tone="error")

