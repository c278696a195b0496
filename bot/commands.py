"""The command runner: one unit of work per command, the same for every platform.

Adapters turn a platform request into a Caller and the command's text, call the runner,
and render the Reply it returns. The runner opens the write transaction, makes sure the
caller is a member, parses with the grammar, calls the handler, and turns every refusal
or malformed input into a Reply: no input ever produces a traceback.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import grammar
from handlers import dm_actions, members, publication, reminders, requests, stories
from handlers.context import Policy
from handlers.errors import Refused
from handlers.members import ensure_member, find_member
from handlers.outbox import enqueue, notify_member
from handlers.reply import Reply
from storage.db import read_session, write_session
from storage.models import Member

log = logging.getLogger(__name__)

_SLACK_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|([^>]*))?>$", re.IGNORECASE)
# Words of a command that name a person: looked up before the transaction opens.
_MENTION_WORD = re.compile(r"<@[^>\s]+>|(?<!\S)@[\w.\-]+")


@dataclass(frozen=True)
class Caller:
    """A person as the platform knows them."""

    platform: str
    user_id: str
    display_name: str
    timezone: str | None = None
    locale: str | None = None
    # Only the request's own name is known (the platform's profile is still to be asked):
    # good enough to create a member, never a reason to overwrite a known member's profile.
    provisional: bool = False


@dataclass(frozen=True)
class Request:
    """How a request reached us, so that its effect happens once and its answer arrives.

    `key` is the request's identity on its platform (a view id and hash, an action's
    timestamp, a trigger id): it is recorded in `handled_request` in the same transaction
    as the effect, so a retried or replayed copy finds it and gets the first answer again
    instead of acting twice, whichever process or replica it reaches. An answer that cannot
    travel in the acknowledgement (a button's, a form's) is written to the outbox in that
    same transaction: to `answer_url` (a response_url) if given, else as a direct message.
    """

    key: str | None = None
    kind: str = "command"
    answer_url: str | None = None
    answer_by_dm: bool = False


@dataclass(frozen=True)
class Outcome:
    """The reply, and whether the request's key is in `handled_request`: claimed in the
    transaction that committed its effect, or found there (a copy, its reply marked
    `repeated`). A read, a refusal or an unknown command records nothing; an adapter that
    must not answer a copy of those twice records the key itself."""

    reply: Reply
    recorded: bool = False


class Directory(Protocol):
    """Turns a mention in command text ("<@U123|ada>", "@ada") into a Caller."""

    def lookup(self, mention: str) -> Caller | None: ...


class ConsoleDirectory:
    """In the console a mention is a name; a new name becomes a member."""

    def lookup(self, mention: str) -> Caller | None:
        name = mention.lstrip("@").strip()
        if not re.fullmatch(r"[\w.\-]{1,40}", name):
            return None
        return Caller("console", name.lower(), name)


# (command, outcome, seconds, platform): called once per command, whatever its outcome.
CommandHook = Callable[[str, str, float, str], None]


class CommandRunner:
    def __init__(
        self,
        engine: Engine,
        policy: Policy,
        directories: dict[str, Directory] | None = None,
        on_command: CommandHook | None = None,
    ) -> None:
        self.engine = engine
        self.policy = policy
        # Shared with the runtime: adapters add their platform's directory as they start.
        self.directories = directories if directories is not None else {}
        self.directories.setdefault("console", ConsoleDirectory())
        self.on_command = on_command
        self.after_commit: list[Callable[[], None]] = []

    # --- entry points ------------------------------------------------------------------

    def run(self, caller: Caller, command: str, text: str, now: datetime,
            request: Request | None = None, *, request_key: str | None = None) -> Reply:
        """Run `/pitch <text>` or `/story <text>` for `caller` at `now`.

        `request` (or just its `request_key`), at any entry point: the identity of the
        platform request; a copy of a request already handled has no effect and gets the
        first copy's reply, marked `data["repeated"]` (see handlers/requests.py).
        """
        if request is None and request_key is not None:
            request = Request(key=request_key)
        return self.run_request(caller, command, text, now, request).reply

    def run_request(self, caller: Caller, command: str, text: str, now: datetime,
                    request: Request | None = None) -> Outcome:
        """`run`, telling a replayed copy of a request (see Request) from the first."""
        text = text or ""
        name = command.lstrip("/").lower()
        if len(text) > grammar.MAX_COMMAND_LENGTH:
            return Outcome(Reply(
                text=f"That is {len(text):,} characters; a command takes at most "
                f"{grammar.MAX_COMMAND_LENGTH:,}. Put long texts in the draft document.",
                tone="error",
            ))
        text = grammar.clean_text(text)
        if name == "pitch":
            if not text:
                return Outcome(Reply(text="Opening the pitch form.", form="pitch"))
            return self._unit(
                caller, now, "pitch", lambda s, actor: self._pitch(s, actor, now, text),
                request=request,
            )
        if name != "story":
            return Outcome(Reply(text=f"Unknown command /{name[:20]}; use /pitch or /story.",
                                 tone="error"))
        word, rest = grammar.split_first(text)
        key = word.lower() or "help"
        sub = grammar.SUBCOMMANDS.get(key)
        if sub is None:
            return Outcome(grammar.unknown_subcommand(word))

        looked_up = self._look_up(caller.platform, rest)

        def call(session: Session, actor: Member) -> Reply:
            invocation = grammar.Invocation(
                session=session,
                actor=actor,
                now=now,
                policy=self.policy,
                args=rest,
                resolve=lambda mention: self._resolve(session, caller.platform, mention, now,
                                                      looked_up),
            )
            return sub.run(invocation)

        return self._unit(caller, now, sub.name, call, read_only=sub.reads_only(rest),
                          request=request)

    def submit_pitch(self, caller: Caller, form: stories.PitchForm, now: datetime,
                     request: Request | None = None) -> Reply:
        return self._unit(
            caller,
            now,
            "pitch",
            lambda session, actor: stories.pitch(session, actor, now, self.policy, form),
            request=request,
        ).reply

    def press(
        self,
        caller: Caller,
        action: str,
        story_id: int,
        version: int,
        now: datetime,
        *,
        due: date | None = None,
        reason: str = "",
        reviewer: Caller | None = None,
        request: Request | None = None,
    ) -> Reply:
        """A button on a story card or a direct message (or the form behind it) was used.

        `reason` is the text the form behind the button gave: a decline's reason, a note,
        or the link of a draft or of a published post.
        """
        policy = self.policy

        def call(session: Session, actor: Member) -> Reply:
            if action == "accept":
                return stories.accept(session, actor, now, policy, story_id, due, version)
            if action == "decline":
                return stories.decline(session, actor, now, policy, story_id, reason, version)
            if action == "approve":
                return stories.approve(session, actor, now, policy, story_id, version)
            if action == "changes":
                return stories.request_changes(
                    session, actor, now, policy, story_id, reason, version
                )
            if action == "reassign":
                to = None
                if reviewer is not None:
                    to = self._member(session, reviewer, now)
                return stories.reassign(session, actor, now, policy, story_id, to, version)
            if action == "draft":
                return stories.submit_draft(session, actor, now, policy, story_id, reason)
            if action == "snooze":
                return reminders.snooze(session, actor, now, policy, story_id,
                                        dm_actions.SNOOZE_DAYS)
            if action == "reminders_off":
                return members.set_reminders(session, actor, False)
            if action in ("posted", "posted_link"):
                return publication.mark_posted(session, actor, now, policy, story_id, version,
                                               reason)
            if action == "confirm_post":
                return publication.confirm_post(session, actor, now, policy, story_id, version)
            raise Refused(f"Unknown action {action[:30]!r}.")

        return self._unit(caller, now, f"button:{action}", call, request=request).reply

    # --- internals ---------------------------------------------------------------------

    def _pitch(self, session: Session, actor: Member, now: datetime, text: str) -> Reply:
        form = grammar.parse_pitch(text)
        if not form.title:
            raise grammar.UsageError("A pitch needs a title.", "pitch")
        return stories.pitch(session, actor, now, self.policy, form)

    def _member(self, session: Session, caller: Caller, now: datetime) -> Member:
        if caller.provisional:
            known = find_member(session, caller.platform, caller.user_id)
            if known is not None:
                return known
        return ensure_member(
            session,
            caller.platform,
            caller.user_id,
            caller.display_name,
            now,
            timezone=caller.timezone,
            locale=caller.locale,
        )

    def _look_up(self, platform: str, text: str) -> dict[str, Caller | None]:
        """The people the command mentions, asked of the platform before the transaction
        opens: a slow users API never holds the database's write lock."""
        directory = self.directories.get(platform)
        if directory is None:
            return {}
        return {word: directory.lookup(word) for word in set(_MENTION_WORD.findall(text))}

    def _resolve(self, session: Session, platform: str, mention: str, now: datetime,
                 looked_up: dict[str, Caller | None] | None = None) -> Member:
        if looked_up is not None and mention in looked_up:
            found = looked_up[mention]
        else:  # a name without "@": rare, and the directories cache what they learn
            directory = self.directories.get(platform)
            found = directory.lookup(mention) if directory else None
        if found is None:
            match = _SLACK_MENTION.match(mention)
            if match and platform == "slack":
                found = Caller(platform, match.group(1), match.group(2) or match.group(1))
        if found is None:
            shown = mention if len(mention) <= 40 else mention[:40] + "…"
            raise Refused(f"I can't find {shown}; mention the person with @.")
        return self._member(session, found, now)

    def _unit(
        self,
        caller: Caller,
        now: datetime,
        name: str,
        call: Callable[[Session, Member], Reply],
        read_only: bool = False,
        request: Request | None = None,
    ) -> Outcome:
        """One transaction: committed if the handler answers, rolled back on a refusal.

        A read-only command by a known member runs without the write lock, so that on
        SQLite a `/story list` never queues behind a write. A request with a key takes
        effect once (see Request): its key is claimed in the same transaction, and a copy
        already handled changes nothing and is answered with the first answer.
        """
        outcome = "ok"
        started = _clock()
        duplicate = recorded = False
        try:
            reply = self._read(caller, call) if read_only else None
            if reply is None:
                with write_session(self.engine) as session:
                    if request is not None and request.key is not None and not (
                        requests.claim(session, request.key, caller.platform, request.kind,
                                       now)
                    ):
                        reply = _repeated(requests.stored_reply(session, request.key))
                        duplicate = True
                    else:
                        actor = self._member(session, caller, now)
                        reply = call(session, actor)
                        if not reply.ok:
                            raise _Rollback(reply)
                        _record_answer(session, request, caller.platform, actor, reply, now)
                recorded = request is not None and request.key is not None
        except _Rollback as rollback:
            reply, outcome = rollback.reply, "refused"
        except Refused as refusal:
            outcome = "refused"
            reply = Reply(
                text=refusal.message,
                tone="error",
                data={"field_errors": refusal.field_errors} if refusal.field_errors else {},
            )
        except grammar.UsageError as error:
            outcome = "usage"
            reply = grammar.usage_reply(error)
        except Exception:
            log.exception("command %s by %s:%s failed", name, caller.platform, caller.user_id)
            outcome = "error"
            reply = Reply(
                text="Something went wrong on our side; nothing was changed. "
                "The coordinators can find the details in the log.",
                tone="error",
            )
        else:
            if duplicate:
                outcome = "repeated"
            else:
                for hook in self.after_commit:
                    hook()
        if self.on_command is not None:
            self.on_command(name, outcome, _clock() - started, caller.platform)
        return Outcome(reply, recorded)

    def _read(self, caller: Caller, call: Callable[[Session, Member], Reply]) -> Reply | None:
        with read_session(self.engine) as session:
            actor = find_member(session, caller.platform, caller.user_id)
            return None if actor is None else call(session, actor)


def _repeated(first: Reply | None) -> Reply:
    """The answer to a copy of a request already handled: the first answer, marked."""
    if first is None:
        first = Reply(text="That was already done.", tone="info")
    return replace(first, data={**first.data, "repeated": True})


def _record_answer(session: Session, request: Request | None, platform: str, actor: Member,
                   reply: Reply, now: datetime) -> None:
    """Keep the answer with the request's key, and queue it when the ack cannot carry it."""
    if request is None or request.key is None:
        return
    requests.remember_reply(session, request.key, reply)
    key = f"answer:{request.key}"[:200]
    if request.answer_url:
        answer = replace(reply, data={**reply.data, "response_url": request.answer_url})
        enqueue(session, key=key, platform=platform, reply=answer, now=now, member=actor,
                kind="response")
    elif request.answer_by_dm:
        notify_member(session, actor, reply, key=key, now=now, kind="answer")


# What a request is told when its answer cannot be given in time and nothing on disk
# would bring it back after a restart: it is not lost yet, nor safe.
NOT_YET = ("This is taking longer than usual. If your {what} goes through, the answer "
           "follows here or in a direct message from Storydesk; if none comes within a "
           "couple of minutes, it was not taken: please {again}.")


def not_yet(what: str, again: str) -> Reply:
    return Reply(text=NOT_YET.format(what=what, again=again), tone="info")


class _Rollback(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


def _clock() -> float:
    return time.perf_counter()
