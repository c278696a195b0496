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
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import grammar
from handlers import dm_actions, members, publication, reminders, stories
from handlers.context import Policy
from handlers.errors import Refused
from handlers.members import ensure_member, find_member
from handlers.reply import Reply
from storage.db import read_session, write_session
from storage.models import Member
from storage.requests import HandledRequest

log = logging.getLogger(__name__)

_SLACK_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|([^>]*))?>$", re.IGNORECASE)


@dataclass(frozen=True)
class Caller:
    """A person as the platform knows them."""

    platform: str
    user_id: str
    display_name: str
    timezone: str | None = None
    locale: str | None = None


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


CommandHook = Callable[[str, str, float], None]


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

    def run(self, caller: Caller, command: str, text: str, now: datetime, *,
            request_key: str | None = None) -> Reply:
        """Run `/pitch <text>` or `/story <text>` for `caller` at `now`.

        With `request_key` (a chat message read as a command, which the platform may
        deliver again) the key is stored in the command's own transaction; a copy of a
        request already handled changes nothing and comes back with `data["duplicate"]`.
        """
        text = text or ""
        name = command.lstrip("/").lower()
        if len(text) > grammar.MAX_COMMAND_LENGTH:
            return Reply(
                text=f"That is {len(text):,} characters; a command takes at most "
                f"{grammar.MAX_COMMAND_LENGTH:,}. Put long texts in the draft document.",
                tone="error",
            )
        text = grammar.clean_text(text)
        if name == "pitch":
            if not text:
                return Reply(text="Opening the pitch form.", form="pitch")
            return self._unit(
                caller, now, "pitch", lambda s, actor: self._pitch(s, actor, now, text),
                request_key=request_key,
            )
        if name != "story":
            return Reply(text=f"Unknown command /{name[:20]}; use /pitch or /story.", tone="error")
        word, rest = grammar.split_first(text)
        key = word.lower() or "help"
        sub = grammar.SUBCOMMANDS.get(key)
        if sub is None:
            return grammar.unknown_subcommand(word)

        def call(session: Session, actor: Member) -> Reply:
            invocation = grammar.Invocation(
                session=session,
                actor=actor,
                now=now,
                policy=self.policy,
                args=rest,
                resolve=lambda mention: self._resolve(session, caller.platform, mention, now),
            )
            return sub.run(invocation)

        return self._unit(caller, now, sub.name, call, read_only=sub.read_only,
                          request_key=request_key)

    def submit_pitch(self, caller: Caller, form: stories.PitchForm, now: datetime) -> Reply:
        return self._unit(
            caller,
            now,
            "pitch",
            lambda session, actor: stories.pitch(session, actor, now, self.policy, form),
        )

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

        return self._unit(caller, now, f"button:{action}", call)

    # --- internals ---------------------------------------------------------------------

    def _pitch(self, session: Session, actor: Member, now: datetime, text: str) -> Reply:
        form = grammar.parse_pitch(text)
        if not form.title:
            raise grammar.UsageError("A pitch needs a title.", "pitch")
        return stories.pitch(session, actor, now, self.policy, form)

    def _member(self, session: Session, caller: Caller, now: datetime) -> Member:
        return ensure_member(
            session,
            caller.platform,
            caller.user_id,
            caller.display_name,
            now,
            timezone=caller.timezone,
            locale=caller.locale,
        )

    def _resolve(self, session: Session, platform: str, mention: str, now: datetime) -> Member:
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
        request_key: str | None = None,
    ) -> Reply:
        """One transaction: committed if the handler answers, rolled back on a refusal.

        A read-only command by a known member runs without the write lock, so that on
        SQLite a `/story list` never queues behind a write.
        """
        outcome = "ok"
        started = _clock()
        try:
            reply = self._read(caller, call) if read_only and not request_key else None
            if reply is None:
                with write_session(self.engine) as session:
                    if request_key and session.get(HandledRequest, request_key) is not None:
                        raise _Duplicate
                    actor = self._member(session, caller, now)
                    reply = call(session, actor)
                    if not reply.ok:
                        raise _Rollback(reply)
                    if request_key:
                        session.add(HandledRequest(key=request_key, platform=caller.platform,
                                                   kind="message", reply=reply.to_json(),
                                                   created_at=now))
        except _Duplicate:
            return Reply(text="Already handled.", data={"duplicate": True})
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
        except Exception as error:
            if request_key and isinstance(error, IntegrityError) and self.handled(request_key):
                # Another replica handled a copy of this request at this very moment.
                return Reply(text="Already handled.", data={"duplicate": True})
            log.exception("command %s by %s:%s failed", name, caller.platform, caller.user_id)
            outcome = "error"
            reply = Reply(
                text="Something went wrong on our side; nothing was changed. "
                "The coordinators can find the details in the log.",
                tone="error",
            )
        else:
            for hook in self.after_commit:
                hook()
        if request_key and outcome in ("refused", "usage") and not self._remember(
                request_key, caller.platform, reply, now):
            return Reply(text="Already handled.", data={"duplicate": True})
        if self.on_command is not None:
            self.on_command(name, outcome, _clock() - started)
        return reply

    def handled(self, key: str) -> bool:
        with read_session(self.engine) as session:
            return session.get(HandledRequest, key) is not None

    def _remember(self, key: str, platform: str, reply: Reply, now: datetime) -> bool:
        """Store a refused request's key after its rollback; False if it was there."""
        try:
            with write_session(self.engine) as session:
                if session.get(HandledRequest, key) is not None:
                    return False
                session.add(HandledRequest(key=key, platform=platform, kind="message",
                                           reply=reply.to_json(), created_at=now))
        except IntegrityError:
            return False
        return True

    def _read(self, caller: Caller, call: Callable[[Session, Member], Reply]) -> Reply | None:
        with read_session(self.engine) as session:
            actor = find_member(session, caller.platform, caller.user_id)
            return None if actor is None else call(session, actor)


class _Duplicate(Exception):
    pass


class _Rollback(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


def _clock() -> float:
    return time.perf_counter()
