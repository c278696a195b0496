"""The Slack app: slash commands, story-card buttons and modals, on slack-bolt.

Every listener acknowledges first and does the work afterwards. Bolt runs in
`process_before_response` mode: the listener runs in the request's own thread, acks (for a
modal, with its field errors, which need no database) and queues the work - the command,
the database, every Web API call - on the app's own worker pool, where it starts only once
the ack has been sent (the HTTP route and the Socket Mode handler release it), so it does
not compete with that very ack for the interpreter. An ack never waits for the database,
for Slack's Web API, or for a free worker, and a slow Web API slows only the answers,
never the acks.

Answers to the person go back the way Slack offers for each request: the response_url of a
slash command or a button (ephemeral unless meant for all), and a direct message after a
modal. Everything the change announces (the card in the team channel, the author's and
reviewer's messages) was written to the outbox by the handler, and the dispatcher sends it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient
from sqlalchemy.engine import Engine

from bot.commands import Caller, CommandRunner
from bot.slack.client import error_code
from bot.slack.conversation import register_conversation
from bot.slack.directory import SlackDirectory
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
from bot.slack.render import ACTION_PREFIX, render_message, render_response
from handlers.context import Policy
from handlers.dm_actions import PERSONAL_ACTIONS
from handlers.members import find_member, is_coordinator
from handlers.reply import Reply
from handlers.stories import PitchForm, local_today, validate_pitch
from storage.db import read_session

log = logging.getLogger(__name__)

PLATFORM = "slack"
# Buttons on direct messages and schedule posts (handlers.dm_actions, handlers.publication).
DM_BUTTONS = ("draft", "snooze", "reminders_off", "posted", "posted_link", "confirm_post")
COMMANDS = ("/pitch", "/story")
BUTTONS = ("accept", "decline", "reassign", "approve", "changes", *DM_BUTTONS)
BUTTON_PATTERN = re.compile(rf"^{ACTION_PREFIX}({'|'.join(BUTTONS)})$")
FORM_PATTERN = re.compile(rf"^{STORY_CALLBACK_PREFIX}({'|'.join(FORM_ACTIONS)})$")
RESPONSE_TIMEOUT = 10
WORKERS = 8
REFUSAL = ("Only coordinators can use the buttons on story cards; you are a contributor. "
           "`/story show {story}` shows the story, `/story team` lists the coordinators.")
FAILED = ("Something went wrong on our side; nothing was changed. The coordinators can find "
          "the details in the log.")


def utc_now() -> datetime:
    return datetime.now(UTC)


class RecentKeys:
    """Requests already handled, so that a retried interaction runs once per process."""

    def __init__(self, size: int = 5000, ttl: float = 900.0) -> None:
        self.size, self.ttl = size, ttl
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if at > now - self.ttl and len(self._seen) < self.size:
                    break
                self._seen.pop(oldest)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


StartWork = Callable[[], object]
_held_work: ContextVar[list[StartWork] | None] = ContextVar("slack_held_work", default=None)


@contextmanager
def holding_work() -> Iterator[list[StartWork]]:
    """While a request is dispatched, keep the work its listeners queue; the caller starts
    it once the ack has been sent (see AfterAckExecutor)."""
    held: list[StartWork] = []
    token = _held_work.set(held)
    try:
        yield held
    finally:
        _held_work.reset(token)


class AfterAckExecutor(Executor):
    """The listeners' work runs here; work queued while a request is being acked waits
    until its ack is on the wire, so it does not compete with sending that very ack."""

    def __init__(self, pool: Executor) -> None:
        self.pool = pool

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        held = _held_work.get()
        if held is None:
            return self.pool.submit(fn, *args, **kwargs)
        placeholder: Future[Any] = Future()
        held.append(lambda: self.pool.submit(fn, *args, **kwargs))
        return placeholder

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def start_all(held: list[StartWork]) -> None:
    for start in held:
        start()


@dataclass
class SlackDeps:
    """What the listeners need; wired by the composition root, or by a test."""

    runner: CommandRunner
    engine: Engine
    policy: Policy
    directory: SlackDirectory
    clock: Callable[[], datetime] = utc_now
    observe_ack: Callable[[float], None] | None = None
    seen: RecentKeys = field(default_factory=RecentKeys)

    def today(self) -> date:
        return local_today(self.clock(), self.policy)


@dataclass
class SlackApp:
    """The bolt App with its worker pool; `close()` lets queued work go."""

    bolt: App
    client: WebClient
    executor: Executor
    deps: SlackDeps

    def close(self, wait: bool = False) -> None:
        self.executor.shutdown(wait=wait, cancel_futures=True)


def build_app(
    deps: SlackDeps,
    *,
    client: WebClient,
    signing_secret: str,
    workers: int = WORKERS,
    verify_token: bool = True,
    work: Executor | None = None,
) -> SlackApp:
    """A bolt App answering on `client`'s workspace; `verify_token` calls auth.test now.

    The listeners' work runs on `work` (the web app passes child processes, see
    bot.slack.worker), by default on a pool of `workers` threads.
    """
    executor = work or ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-work")
    app = App(
        client=client,
        signing_secret=signing_secret,
        # Work on threads of this process must not start before the ack is on the wire, so
        # bolt processes the listener before responding and the work is held until then
        # (see AfterAckExecutor). Work in child processes competes with no ack: bolt's
        # default mode answers as soon as ack() is called, which keeps the slowest acks
        # closest to a bare app's.
        process_before_response=work is None,
        token_verification_enabled=verify_token,
        listener_executor=executor if isinstance(executor, ThreadPoolExecutor) else None,
        logger=logging.getLogger("storydesk.slack.bolt"),
    )
    register_listeners(app, deps, AfterAckExecutor(executor))
    return SlackApp(app, client, executor, deps)


def register_listeners(app: App, deps: SlackDeps, work: Executor) -> None:
    """Wire every listener: a function that acks at once and queues the work on `work`."""
    listeners = Listeners(deps, work)
    app.middleware(listeners.time_ack)
    for command in COMMANDS:
        app.command(command)(listeners.on_command)
    app.action(BUTTON_PATTERN)(listeners.on_button)
    app.view(PITCH_CALLBACK)(listeners.check_pitch_form)
    app.view(FORM_PATTERN)(listeners.check_story_form)
    register_conversation(app, deps)  # direct messages and @-mentions (bot.slack.conversation)
    app.error(listeners.on_error)


class Listeners:
    """The callbacks, kept plain: ack, queue the work; the work parses, runs, answers.

    The work goes to our own pool rather than to bolt's lazy listeners, which deep-copy
    the whole request for each one: that copy alone cost more than the rest of the ack.
    """

    def __init__(self, deps: SlackDeps, work: Executor) -> None:
        self.deps = deps
        self.work = work

    def later(self, function: Callable[..., None], *args: Any) -> None:
        self.work.submit(self._guarded, function, *args)

    @staticmethod
    def _guarded(function: Callable[..., None], *args: Any) -> None:
        try:
            function(*args)
        except Exception:
            log.exception("slack work %s failed", getattr(function, "__name__", function))

    # --- acks: nothing here waits for the database or the Web API ----------------------

    def time_ack(self, next: Callable[[], BoltResponse]) -> BoltResponse:
        started = time.perf_counter()
        try:
            return next()
        finally:
            if self.deps.observe_ack is not None:
                self.deps.observe_ack(time.perf_counter() - started)

    def on_command(self, ack: Callable[..., Any], command: dict[str, Any],
                   client: WebClient) -> None:
        ack()
        self.later(self.run_command, command, client)

    def on_button(self, ack: Callable[..., Any], body: dict[str, Any], action: dict[str, Any],
                  client: WebClient) -> None:
        ack()
        self.later(self.press_button, body, action, client)

    def check_pitch_form(self, ack: Callable[..., Any], body: dict[str, Any],
                         view: dict[str, Any], client: WebClient) -> None:
        """Field errors go back with the ack (they need no database); else the modal closes."""
        form, errors = pitch_from_view(view)
        errors = {**validate_pitch(form, self.deps.today()), **errors}
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        self.later(self.submit_pitch_form, body, view, form, client)

    def check_story_form(self, ack: Callable[..., Any], body: dict[str, Any],
                         view: dict[str, Any], client: WebClient) -> None:
        target = story_target_from_view(view)
        if target is None:
            ack()
            return
        values, errors = story_input_from_view(target.action, view, self.deps.today())
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        self.later(self.submit_story_form, body, view, target, values, client)

    def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("slack listener failed on %s: %r", body.get("type") or "command", error)

    # --- work, after the ack -----------------------------------------------------------

    def run_command(self, command: dict[str, Any], client: WebClient) -> None:
        name = str(command.get("command", "")).lstrip("/")
        text = command_text(str(command.get("text") or ""))
        user_id = str(command.get("user_id") or "")
        response_url = str(command.get("response_url") or "")
        trigger_id = str(command.get("trigger_id") or "")
        channel_id = str(command.get("channel_id") or "")
        try:
            if name == "pitch" and not text.strip():
                # The form first: a trigger_id is good for three seconds only.
                self.open_pitch_form(client, trigger_id, channel_id, response_url)
                return
            caller = self.deps.directory.caller(user_id, str(command.get("user_name") or ""))
            reply = self.deps.runner.run(caller, name, text, self.deps.clock())
            if reply.form == "pitch":
                self.open_pitch_form(client, trigger_id, channel_id, response_url)
                return
            answer(response_url, reply)
        except Exception:
            log.exception("/%s by %s failed", name, user_id)
            answer(response_url, Reply(text=FAILED, tone="error"))

    def open_pitch_form(self, client: WebClient, trigger_id: str, channel_id: str,
                        response_url: str) -> None:
        try:
            client.views_open(trigger_id=trigger_id, view=pitch_modal(channel_id))
        except (SlackApiError, SlackClientError, OSError) as error:
            reason = error_code(error) if isinstance(error, SlackApiError) else str(error)
            log.warning("could not open the pitch form: %s", reason)
            answer(response_url, Reply(
                text="The pitch form did not open in time. Try `/pitch` again, or pitch in "
                "one line: `/pitch <title> [#objective] [#format] [-- summary]`.",
                tone="error"))

    def press_button(self, body: dict[str, Any], action: dict[str, Any],
                     client: WebClient) -> None:
        user = body.get("user") or {}
        user_id = str(user.get("id") or "")
        response_url = str(body.get("response_url") or "")
        match = BUTTON_PATTERN.match(str(action.get("action_id", "")))
        key = f"action:{user_id}:{action.get('action_ts')}:{action.get('action_id')}"
        if match is None or not self.deps.seen.first_time(key):
            return
        name = match.group(1)
        try:
            value = json.loads(str(action.get("value") or "{}"))
            story_id, version = int(value["story_id"]), int(value["version"])
        except (ValueError, KeyError, TypeError):
            log.warning("button %s with a malformed value from %s", name, user_id)
            return
        try:
            if name not in PERSONAL_ACTIONS and not self.is_coordinator(user_id):
                answer(response_url, Reply(text=REFUSAL.format(story=story_id), tone="error"))
                return
            if name in FORM_ACTIONS:
                channel = body.get("channel") or body.get("container") or {}
                target = StoryFormTarget(name, story_id, version,
                                         str(channel.get("id") or channel.get("channel_id")
                                             or ""), response_url)
                view = story_modal(target, self.deps.today(), self.deps.policy.draft_days)
                client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
                return
            caller = self.caller(user)
            reply = self.deps.runner.press(caller, name, story_id, version, self.deps.clock())
            answer(response_url, reply)
        except (SlackApiError, SlackClientError, OSError) as error:
            log.warning("button %s on story %s: %s", name, story_id, error)
            answer(response_url, Reply(text="That form did not open in time; press the "
                                       "button again.", tone="error"))
        except Exception:
            log.exception("button %s on story %s by %s failed", name, story_id, user_id)
            answer(response_url, Reply(text=FAILED, tone="error"))

    def submit_pitch_form(self, body: dict[str, Any], view: dict[str, Any], form: PitchForm,
                          client: WebClient) -> None:
        user = body.get("user") or {}
        if not self.deps.seen.first_time(f"view:{view.get('id')}:{view.get('hash')}"):
            return
        try:
            reply = self.deps.runner.submit_pitch(self.caller(user), form, self.deps.clock())
        except Exception:
            log.exception("pitch form of %s failed", user.get("id"))
            reply = Reply(text=FAILED, tone="error")
        direct_message(client, str(user.get("id") or ""), reply)

    def submit_story_form(self, body: dict[str, Any], view: dict[str, Any],
                          target: StoryFormTarget, values: StoryFormInput,
                          client: WebClient) -> None:
        user = body.get("user") or {}
        if not self.deps.seen.first_time(f"view:{view.get('id')}:{view.get('hash')}"):
            return
        try:
            reviewer: Caller | None = None
            if values.reviewer_id:
                reviewer = self.deps.directory.lookup(f"<@{values.reviewer_id}>")
            reply = self.deps.runner.press(
                self.caller(user), target.action, target.story_id, target.version,
                self.deps.clock(), due=values.due, reason=values.reason, reviewer=reviewer,
            )
            field_errors = reply.data.get("field_errors") if not reply.ok else None
            if field_errors:
                detail = "; ".join(field_errors_for(target.action, field_errors).values())
                reply = Reply(text=f"{reply.text} ({detail})" if detail not in reply.text
                              else reply.text, tone="error")
        except Exception:
            log.exception("%s form on story %s failed", target.action, target.story_id)
            reply = Reply(text=FAILED, tone="error")
        if not (target.response_url and answer(target.response_url, reply)):
            direct_message(client, str(user.get("id") or ""), reply)

    # --- helpers -----------------------------------------------------------------------

    def caller(self, user: dict[str, Any]) -> Caller:
        fallback = str(user.get("name") or user.get("username") or "")
        return self.deps.directory.caller(str(user.get("id") or ""), fallback)

    def is_coordinator(self, user_id: str) -> bool:
        with read_session(self.deps.engine) as session:
            member = find_member(session, PLATFORM, user_id)
            return member is not None and is_coordinator(member)


def answer(response_url: str, reply: Reply) -> bool:
    """Post `reply` to a response_url (ephemeral unless meant for all); False if it failed."""
    if not response_url:
        return False
    try:
        response = WebhookClient(response_url, timeout=RESPONSE_TIMEOUT).send_dict(
            render_response(reply))
    except (OSError, SlackClientError) as error:
        log.warning("response_url failed: %s", error)
        return False
    if response.status_code != 200:
        log.warning("response_url answered %s: %s", response.status_code, response.body[:200])
        return False
    return True


def direct_message(client: WebClient, user_id: str, reply: Reply) -> None:
    if not user_id:
        return
    try:
        client.chat_postMessage(channel=user_id, **render_message(reply))
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("direct message to %s failed: %s", user_id, error)

