"""Slack's three seconds: the listeners' work runs within them, and what outlives them is
held in the inbox and answered late.

The listeners (bot/slack/app.py) turn a request into work and acknowledge; `Deadline`, the
class they are built on, runs that work and decides what the acknowledgement can say:

- The work runs on the request pool. If its transaction has committed ANSWER_DEADLINE
  after the listener started it, its outcome is the answer, in the ack (`within_deadline`).
- If not (a held SQLite write lock, a PostgreSQL failover), the raw request is written to
  the inbox (bot/inbox.py, a file of its own) and the listener acknowledges (a slash
  command with "Working on it…", a press or a form with an empty ack); the answer follows
  once the work has committed (`answer_late`, `finish_late`), on the response_url, or by
  direct message if that refuses it (`tell`, bot/late_answer.py). If the process dies
  first, the next one to start replays it from the inbox under the same request key
  (`replay_command`, `replay_interaction`). If no answer gets through in half an hour, the
  person is told by direct message that it could not be confirmed (`tell_given_up`,
  worded in bot/slack/unconfirmed.py).
- If the inbox cannot hold the request (a full disk, an unwritable or locked file), nothing
  would survive a restart, so nothing is promised: the work is waited for up to
  ACK_DEADLINE (also counted from the listener's start), about the last moment at which an
  ack still reaches Slack in time, and answered in the ack if it finished (`last_moment`);
  if not, the person is told plainly that the answer follows if it goes through, and to
  send it again if none comes. A late answer the response_url refuses comes by direct
  message; one that cannot be posted either is logged as lost, naming the person.
- What follows an answer (late answers, profile look-ups, courtesy messages) runs on the
  background threads (`after`), never in the way of an ack; both pools count what they
  have not finished, so that a test or a shutdown can wait for it (`busy`, `close`).

Both deadlines are SlackDeps' defaults (bot/slack/deps.py).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from enum import Enum
from typing import Any

from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.commands import Caller, Outcome, Request
from bot.inbox import NOT_DELIVERED, Entry, WriteFailures, unconfirmed
from bot.late_answer import deliver, lost
from bot.slack.client import post_message
from bot.slack.deps import SlackDeps
from bot.slack.directory import PLATFORM
from bot.slack.incoming import command_text
from bot.slack.render import render_response
from bot.slack.unconfirmed import sent
from handlers.reply import Reply
from handlers.timing import zone_named

log = logging.getLogger(__name__)

RESPONSE_TIMEOUT = 10
BACKGROUND_WORKERS = 4
FAILED = ("Something went wrong on our side; nothing was changed. The coordinators can find "
          "the details in the log.")


class Pending(Enum):
    """Where a request stands when Slack has to be answered before its work is done."""

    HELD = "held"  # in the inbox: answered when it commits, after a restart if need be
    AT_RISK = "at risk"  # only in this process: answered when it commits, unless it stops


@dataclass(frozen=True)
class Interaction:
    """A button press or a form, ready to run: from its listener, or replayed from the inbox.

    A success's answer is written to the outbox with its effect; only a refusal or an
    error is told straight to the person (`tell`), and `not_yet` when the work is still
    running and nothing on disk would bring it back after a restart.
    """

    work: Callable[[], Outcome]
    caller: Caller
    key: str | None
    body: dict[str, Any]  # the raw payload, for the inbox
    tell: Callable[[Reply], bool]  # False if it could not be told
    not_yet: Reply

    def answer(self, reply: Reply) -> bool:
        """Whether the person has their answer (a success's is in the outbox already)."""
        return reply.ok or self.tell(reply)


@dataclass(frozen=True)
class Held:
    """A request in the inbox; `entry` is None when a copy of it already was (a retry)."""

    entry: int | None


class Deadline(ABC):
    """The machinery under the listeners: run within the deadline, hold, answer late."""

    def __init__(self, deps: SlackDeps, pool: ThreadPoolExecutor) -> None:
        self.deps = deps
        self.pool = _CountingPool(pool)
        # Look-ups and courtesy messages after the answer: never in the way of a request.
        self.background = _CountingPool(ThreadPoolExecutor(
            max_workers=BACKGROUND_WORKERS, thread_name_prefix="slack-after"))
        self.inbox_failures = WriteFailures(PLATFORM)

    def busy(self) -> bool:
        return self.pool.running > 0 or self.background.running > 0

    def close(self, wait: bool) -> None:
        self.pool.pool.shutdown(wait=wait, cancel_futures=not wait)
        self.background.pool.shutdown(wait=wait, cancel_futures=not wait)

    # --- what the listeners know (bot/slack/app.py) --------------------------------------

    @abstractmethod
    def quick_caller(self, user_id: str, user_name: str) -> Caller:
        """Who sent a command (replayed from the inbox), without waiting for the Web API."""

    @abstractmethod
    def refresh_profile(self, caller: Caller) -> None:
        """Asked after the work of a person known only by the request's name."""

    @abstractmethod
    def interaction_of(self, body: dict[str, Any]) -> Interaction | None:
        """What a press's or a form's payload, replayed from the inbox, runs."""

    # --- the one way a press or a form runs ----------------------------------------------

    def interact(self, interaction: Interaction) -> None:
        """Run it within Slack's deadline, for the listener that acknowledges next."""
        outcome = self.within_deadline(
            interaction.work,
            who=interaction.caller,
            late=interaction.answer,
            now=lambda reply: None if reply.ok else self.after(interaction.tell, reply),
            hold=("interaction", interaction.key, interaction.body),
        )
        if outcome is Pending.AT_RISK:
            self.after(interaction.tell, interaction.not_yet)

    # --- running within Slack's deadline --------------------------------------------------

    def within_deadline(
        self,
        work: Callable[[], Outcome],
        *,
        who: Caller,
        late: Callable[[Reply], bool],
        now: Callable[[Reply], object] | None = None,
        hold: tuple[str, str | None, dict[str, Any]] | None = None,
    ) -> Outcome | Pending:
        """The work's outcome if it finished in time, else where the request stands.

        On time, `now(reply)` runs (what is left to say, if anything). Past the answer
        deadline the request is written to the inbox (`hold`: kind, key, raw payload)
        before the caller acknowledges, and `late(reply)` answers once the work has
        committed (False if it could not: the entry then stays for the next drain; with
        no entry, the answer is lost, and the log says so, naming `who`). If the inbox
        cannot hold it, the work is waited for until the ack deadline: an answer in the
        ack is worth more than a promise nothing backs.
        After the work, whichever way it went, `who`'s profile is asked of Slack if only the
        request's own name was known (see refresh_profile).
        """
        started = time.monotonic()
        future = self.pool.submit(guarded, work)
        if who.provisional:
            future.add_done_callback(
                lambda _done: self.after(self.refresh_profile, who))
        try:
            outcome = future.result(timeout=self.deps.answer_deadline)
        except FutureTimeout:
            held = self.hold(hold, started)
            last = None if held else self.last_moment(future, started)
            if last is None:
                return self.answer_late(future, late, held, who)
            outcome = last
        if now is not None:
            now(outcome.reply)
        return outcome

    def last_moment(self, future: Future[Outcome], started: float) -> Outcome | None:
        """The work's outcome if it finishes before the ack deadline, else None."""
        left = started + self.deps.ack_deadline - time.monotonic()
        try:
            return future.result(timeout=max(0.0, left))
        except FutureTimeout:
            return None

    def answer_late(self, future: Future[Outcome], late: Callable[[Reply], bool],
                    held: Held | None, who: Caller) -> Pending:
        if held is None:
            log.warning("a Slack request outlived the %.1f s deadline and is not in the "
                        "inbox; it is answered if its transaction commits before this "
                        "process stops", self.deps.ack_deadline)
        else:
            log.warning("a Slack request outlived the %.1f s deadline; it is answered when "
                        "its transaction commits", self.deps.answer_deadline)
        future.add_done_callback(
            lambda done: self.after(self.finish_late, done, late, held, who))
        return Pending.AT_RISK if held is None else Pending.HELD

    def hold(self, hold: tuple[str, str | None, dict[str, Any]] | None,
             started: float) -> Held | None:
        """The request on disk in the inbox, or None if it could not be put there."""
        inbox = self.deps.inbox
        if hold is None or inbox is None:
            return None
        kind, key, payload = hold
        if key is None:
            return None
        wait = started + self.deps.ack_deadline - time.monotonic()
        try:
            entry = inbox.hold(key, PLATFORM, kind, payload, self.deps.clock(), wait=wait)
        except Exception as error:
            self.inbox_failures.failed(inbox.path, error)
            if self.deps.count_inbox_failure is not None:
                self.deps.count_inbox_failure(type(error).__name__)
            return None
        self.inbox_failures.succeeded(inbox.path)
        return Held(entry)

    def finish_late(self, done: Future[Outcome], late: Callable[[Reply], bool],
                    held: Held | None, who: Caller) -> None:
        """Answer; forget the entry only if the answer was given. Else a drain replays it
        once its lease runs out, finds the committed copy and posts its stored reply; with
        nothing in the inbox, nothing will, and the log names whose answer was lost."""
        answered = late(done.result().reply)
        if held is None:
            if not answered:
                lost(who.user_id)
            return
        if held.entry is None or self.deps.inbox is None:
            return  # a copy of it is held: that one is answered
        if answered:
            self.deps.inbox.done(held.entry)
        else:
            self.deps.inbox.failed(held.entry, NOT_DELIVERED)

    # --- the inbox: what a stopped process left, and whom it gave up on -------------------

    def replay_command(self, entry: Entry) -> bool:
        """Run a command left in the inbox by a process that stopped, and answer it; False
        if the answer could not be posted (a copy already committed is answered with the
        reply stored with it)."""
        command = entry.payload
        name = str(command.get("command", "")).lstrip("/")
        caller = self.quick_caller(str(command.get("user_id") or ""),
                                   str(command.get("user_name") or ""))
        outcome = self.deps.runner.run_request(
            caller, name, command_text(str(command.get("text") or "")), self.deps.clock(),
            Request(key=entry.key))
        return self.tell(caller.user_id, str(command.get("response_url") or ""),
                         outcome.reply)

    def replay_interaction(self, entry: Entry) -> bool:
        """Run a press or a form left in the inbox by a process that stopped, and answer it.

        Here and now, not within a deadline: no one waits for an ack, and the entry must
        stay in the inbox until the work has committed and its answer is given.
        """
        interaction = self.interaction_of(entry.payload)
        return interaction is None or interaction.answer(guarded(interaction.work).reply)

    def tell_given_up(self, entry: Entry, reason: str) -> bool:
        """The inbox's notifier: a direct message telling the person that their request
        could not be confirmed, and why (its response URL has expired by now)."""
        request = sent(entry.kind, entry.payload)
        if request is None:
            return False
        known = self.deps.directory.cached(request.user_id)
        zone = zone_named(known.timezone if known else None, self.deps.policy.zone)
        at = entry.received_at.astimezone(zone).strftime("%H:%M")
        return self.direct_message(request.user_id,
                                   unconfirmed(request.what, at, reason, request.advice))

    # --- after the ack --------------------------------------------------------------------

    def after(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run on the background threads, never in the way of an ack; unless stopping, then
        it is left undone (a held request stays in the inbox, a profile is asked again)."""
        try:
            self.background.submit(fn, *args)
        except RuntimeError:
            log.info("stopping: %s left undone", getattr(fn, "__name__", fn))

    def direct_message(self, user_id: str, reply: Reply) -> bool:
        return post_message(self.deps.directory.client, user_id, reply)

    def tell(self, user_id: str, response_url: str, reply: Reply) -> bool:
        """Post `reply` to the response_url, else (none, or refused) to the person's DM with
        the bot: whoever waits for an answer after the ack must get it (bot.late_answer)."""
        return deliver(reply, user_id, response_url, answer, self.direct_message)


class _CountingPool:
    """The thread pool, counting what it has not finished (see SlackApp.settle)."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.running = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        with self._lock:
            self.running += 1
        try:
            future = self.pool.submit(fn, *args)
        except RuntimeError:  # stopping: what is left is in the inbox or the outbox
            with self._lock:
                self.running -= 1
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: Future[Any]) -> None:
        with self._lock:
            self.running -= 1


def guarded(work: Callable[[], Outcome]) -> Outcome:
    """The work's outcome; an unexpected error becomes an apology, never silence."""
    try:
        return work()
    except Exception:
        log.exception("slack work failed")
        return Outcome(Reply(text=FAILED, tone="error"))


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
