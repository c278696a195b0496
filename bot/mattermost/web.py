"""The Mattermost endpoints of the web app: slash commands, dialog submissions, buttons.

- `POST /mattermost/command`: a slash command (form fields). The token (header
  `Authorization: Token …`, checked before the body is read, or form field `token`) must
  equal one of MATTERMOST_COMMAND_TOKENS, compared in constant time; otherwise 401 and
  nothing happens. The command's transaction commits before the answer, which is
  command-response JSON. Mattermost waits up to 30 seconds for it (its default
  OutgoingIntegrationRequestsTimeout), so only work that takes longer than `answer_within`
  (20 s) is answered with a short note (the answer follows if the command goes through; if
  none comes, send it again: nothing on disk would replay it after a restart) and later
  through the `response_url`, or by direct message if the response URL refuses it: a
  person told that the answer follows must not conclude from its absence that the command
  was not taken, and send it again.
- `POST /mattermost/dialog`: a dialog submission (Mattermost's SubmitDialogRequest). Its
  state must carry our HMAC for this user and be less than an hour old; it works once: the
  state's key is recorded in `handled_request` with its effect, so a form submitted five
  times (or by two replicas at once) takes effect once. Field errors go back as
  `{"errors": {...}}`, other refusals as `{"error": "..."}`.
- `POST /mattermost/action`: a button (Mattermost's PostActionIntegrationRequest). Its
  context must carry our HMAC, be less than 7 days old, and match the request's `post_id`
  and `user_id` (see `signing.py`); only coordinators may act; a stale card is a no-op
  with an explanation; a double press takes effect once (`handled_request`).

Junk never becomes a 500: a body that is too large, not JSON, or not shaped like
Mattermost's gets 400 (a wrong token 401, a forged signature 403) and one log line.

Blocking work (database, Mattermost API) runs in a small thread pool, one hop per request:
two threads on SQLite, which serialises writers anyway, eight on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.commands import Caller, CommandRunner, not_yet
from bot.commands import Request as ChatRequest
from bot.late_answer import deliver, lost
from bot.mattermost import dialogs
from bot.mattermost.client import MattermostError, MattermostUnreachable
from bot.mattermost.directory import PLATFORM
from bot.mattermost.paths import ACTION_PATH, COMMAND_PATH, DIALOG_PATH
from bot.mattermost.render import RenderedReply, escape_markdown
from bot.mattermost.service import MattermostService
from bot.mattermost.signing import ContextExpired, StateExpired
from handlers.context import Policy
from handlers.dm_actions import PERSONAL_ACTIONS
from handlers.members import find_member, is_coordinator
from handlers.reply import Reply
from handlers.requests import request_key
from storage.db import is_sqlite, read_session
from storage.models import Story

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
# Mattermost waits 30 s for a command's response by default: answer after the commit,
# in the response, unless the work takes this long.
ANSWER_WITHIN_SECONDS = 20.0
FAILED = ("Something went wrong on our side; nothing was changed. The coordinators can find "
          "the details in the log.")
Json = dict[str, Any]


def _json(body: Json, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _ephemeral(text: str) -> Json:
    return {"response_type": "ephemeral", "text": escape_markdown(text),
            "skip_slack_parsing": True}


class MattermostEndpoints:
    def __init__(
        self,
        service: MattermostService,
        runner: CommandRunner,
        engine: Engine,
        policy: Policy,
        *,
        clock: Callable[[], datetime] | None = None,
        answer_within: float = ANSWER_WITHIN_SECONDS,
        workers: int | None = None,
        observe_answer: Callable[[float], None] | None = None,
    ) -> None:
        self.service = service
        self.runner = runner
        self.engine = engine
        self.policy = policy
        self.clock = clock or (lambda: datetime.now(UTC))
        self.answer_within = answer_within
        self.observe_answer = observe_answer
        if workers is None:
            # SQLite takes one writer at a time: more threads only queue on its lock.
            workers = 2 if is_sqlite(engine) else 8
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mattermost")
        self._tokens = tuple(token.encode() for token in service.command_tokens)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(COMMAND_PATH, self.command, methods=["POST"]),
            Route(DIALOG_PATH, self.dialog, methods=["POST"]),
            Route(ACTION_PATH, self.action, methods=["POST"]),
        ]

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- slash commands ----------------------------------------------------------------

    def token_ok(self, token: str) -> bool:
        given = token.encode("utf-8", "replace")
        matched = False
        for expected in self._tokens:  # compare with every token: no early exit
            matched |= hmac.compare_digest(given, expected)
        return matched and bool(given)

    async def command(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if header and not (header[:6].lower() == "token " and self.token_ok(header[6:].strip())):
            log.warning("slash command refused: wrong token in the Authorization header")
            return _json({"text": "Unauthorized."}, 401)
        body = await request.body()
        if len(body) > MAX_BODY:
            log.warning("slash command refused: %d bytes", len(body))
            return _json({"text": "Too large."}, 413)
        form = {key: values[0] for key, values in
                parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        if not header and not self.token_ok(form.get("token", "")):
            log.warning("slash command refused: wrong or missing token")
            return _json({"text": "Unauthorized."}, 401)
        command = form.get("command", "").strip().lstrip("/").lower()
        user_id = form.get("user_id", "")
        if not user_id or command not in {"pitch", "story"}:
            log.warning("slash command refused: /%s without a user", command[:20])
            return _json(_ephemeral("This endpoint serves /pitch and /story."), 400)
        started = time.perf_counter()
        now = self.clock()
        job = self.pool.submit(self._run_command, form, command, now)
        try:
            result = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job)),
                                            self.answer_within)
        except TimeoutError:
            response_url = form.get("response_url", "")
            job.add_done_callback(
                lambda done: self._answer_later(done, response_url, user_id))
            # Nothing on disk brings the command back if this process stops now.
            result = _ephemeral(not_yet("command", "send it again").text)
        except Exception:
            log.exception("/%s by %s failed", command, user_id)
            result = _ephemeral(FAILED)
        if self.observe_answer is not None:
            self.observe_answer(time.perf_counter() - started)
        return _json(result)

    def _run_command(self, form: dict[str, str], command: str, now: datetime) -> Json:
        caller = self.service.directory.caller(form["user_id"], form.get("user_name", ""))
        reply = self.runner.run(caller, command, form.get("text", ""), now)
        if reply.form == "pitch":
            return self._open_pitch_dialog(caller, form)
        # A command's answer is the caller's: its buttons are bound to them.
        rendered = self.service.renderer.render(reply, user_id=caller.user_id)
        if rendered.images:
            return self._post_with_images(caller, form, reply, rendered)
        return rendered.command_response(reply.visibility)

    def _open_pitch_dialog(self, caller: Caller, form: dict[str, str]) -> Json:
        url, trigger = self.service.dialog_url, form.get("trigger_id", "")
        fallback = _ephemeral("Type the pitch on one line: /pitch <title> [#objective] "
                              "[#format] [-- summary]")
        if not url or not trigger:
            return fallback
        state = self.service.signer.state(dialogs.PITCH, caller.user_id, {
            "response_url": form.get("response_url", ""),
            "channel_id": form.get("channel_id", ""),
        })
        try:
            self.service.client.open_dialog(trigger, url, dialogs.pitch_dialog(state))
        except (MattermostError, MattermostUnreachable) as error:
            log.warning("pitch dialog did not open: %s", error)
            return fallback
        return {}

    def _post_with_images(
        self, caller: Caller, form: dict[str, str], reply: Reply, rendered: RenderedReply
    ) -> Json:
        """Command responses cannot carry files: post charts through the API instead."""
        transport = self.service.transport
        try:
            if reply.visibility == "in_channel" and form.get("channel_id"):
                try:
                    transport.post(form["channel_id"], rendered)
                    return {}
                except MattermostError as error:
                    if error.status not in (403, 404):
                        raise
            channel = transport.open_direct(caller.user_id)
            transport.post(channel, rendered)
        except Exception as error:  # the answer must still come back
            log.warning("could not post a chart: %s", error)
            return rendered.command_response("ephemeral")
        return _ephemeral("I sent it to our direct messages, with the chart.")

    def _answer_later(self, done: Future[Json], response_url: str, user_id: str) -> None:
        try:
            body = done.result()
        except Exception:
            log.exception("a slow command failed")
            body = _ephemeral(FAILED)
        if body and not deliver(body, user_id, response_url, self._respond,
                                self._answer_by_direct_message):
            lost(user_id)

    def _respond(self, response_url: str, body: Json) -> bool:
        try:
            self.service.client.respond(response_url, body)
        except (MattermostError, MattermostUnreachable) as error:
            log.warning("late answer not delivered through the response URL: %s", error)
            return False
        return True

    def _answer_by_direct_message(self, user_id: str, body: Json) -> bool:
        """A command response, posted to the person's direct channel with the bot."""
        post: Json = {"message": str(body.get("text") or "")}
        if body.get("attachments"):
            post["props"] = {"attachments": body["attachments"]}
        try:
            post["channel_id"] = self.service.transport.open_direct(user_id)
            self.service.client.create_post(post)
        except Exception as error:
            log.warning("direct message to %s failed: %s", user_id, error)
            return False
        return True

    # --- dialogs -------------------------------------------------------------------------

    async def dialog(self, request: Request) -> Response:
        payload = await self._payload(request)
        if payload is None:
            log.warning("dialog submission refused: not a JSON object")
            return _json({"error": "Malformed submission."}, 400)
        if payload.get("cancelled") is True:
            return _json({})
        callback, user_id, state = (payload.get("callback_id"), payload.get("user_id"),
                                    payload.get("state"))
        if not (isinstance(callback, str) and isinstance(user_id, str) and user_id
                and isinstance(state, str)):
            log.warning("dialog submission refused: no callback, user or state")
            return _json({"error": "Malformed submission."}, 400)
        try:
            data = self.service.signer.verify_state(state, callback, user_id)
        except StateExpired:
            return _json({"error": "This form was opened more than an hour ago; nothing was "
                          "done. Open it again."})
        if data is None or callback not in {dialogs.PITCH, dialogs.PRESS}:
            log.warning("dialog submission refused: bad state for %r", callback[:40])
            return _json({"error": "This form was not opened by Storydesk."}, 403)
        submission = payload.get("submission")
        if not isinstance(submission, dict):
            submission = {}
        key = request_key(PLATFORM, "dialog", self.service.signer.state_key(state))
        now = self.clock()
        try:
            result = await asyncio.wrap_future(
                self.pool.submit(self._submit, callback, user_id, data, submission, now, key))
        except Exception:
            log.exception("dialog %s by %s failed", callback, user_id)
            result = {"error": FAILED}
        return _json(result)

    def _submit(
        self, callback: str, user_id: str, data: dict[str, Any], submission: dict[str, Any],
        now: datetime, key: str,
    ) -> Json:
        caller = self.service.directory.caller(user_id)
        if callback == dialogs.PITCH:
            parsed = dialogs.parse_pitch(submission)
            if parsed.form is None:
                return {"errors": parsed.errors}
            reply = self.runner.submit_pitch(caller, parsed.form, now,
                                             request=ChatRequest(key=key, kind="dialog"))
            if not reply.ok:
                errors = reply.data.get("field_errors") or {}
                return {"errors": errors} if errors else {"error": reply.text}
            if not reply.data.get("repeated"):  # a copy was confirmed the first time
                self._tell(caller, str(data.get("response_url", "")), reply)
            return {}
        action = str(data.get("action", ""))
        values, errors = dialogs.parse_press(action, submission)
        if errors:
            return {"errors": errors}
        reviewer = None
        if values.reviewer_id:
            reviewer = self.service.directory.user(values.reviewer_id)
            if reviewer is None:
                return {"errors": {"reviewer": "I can't find that person."}}
        reply = self.runner.press(
            caller, action, int(data["story"]), int(data["version"]), now,
            due=values.due, reason=values.reason, reviewer=reviewer,
            request=ChatRequest(key=key, kind="dialog"),
        )
        if not reply.ok:
            fields = dialogs.field_errors_for(action, reply.data.get("field_errors") or {})
            return {"errors": fields} if fields else {"error": reply.text}
        return {}

    def _tell(self, caller: Caller, response_url: str, reply: Reply) -> None:
        """Answer a dialog: through the command's response URL, else by direct message."""
        rendered = self.service.renderer.render(reply, user_id=caller.user_id)
        try:
            if response_url and not rendered.images:
                self.service.client.respond(response_url, rendered.command_response("ephemeral"))
                return
            transport = self.service.transport
            transport.post(transport.open_direct(caller.user_id), rendered)
        except Exception as error:
            log.warning("could not confirm to %s: %s", caller.user_id, error)

    # --- buttons -------------------------------------------------------------------------

    async def action(self, request: Request) -> Response:
        payload = await self._payload(request)
        if payload is None:
            log.warning("button call refused: not a JSON object")
            return _json({"ephemeral_text": "Malformed request."}, 400)
        user_id, post_id = payload.get("user_id"), payload.get("post_id")
        if not (isinstance(user_id, str) and user_id and isinstance(post_id, str)):
            log.warning("button call refused: no user or post")
            return _json({"ephemeral_text": "Malformed request."}, 400)
        try:
            signed = self.service.signer.verify_context(payload.get("context"))
        except ContextExpired as expired:
            story = expired.signed.story_id
            return _json(_action_text(
                f"These buttons are more than a week old; nothing was done. `/story show "
                f"{story}` shows the story with fresh buttons."))
        if signed is None:
            log.warning("button call refused: context not signed by us")
            return _json({"ephemeral_text": "This button was not made by Storydesk; nothing "
                          "was done."}, 403)
        problem = signed.binding_problem(post_id, user_id)
        if problem is not None:
            log.warning("button call by %r on post %r refused: %s", user_id[:40], post_id[:40],
                        problem)
            return _json({"ephemeral_text": "This button was not made for you; nothing was "
                          "done."}, 403)
        trigger_id, user_name = payload.get("trigger_id"), payload.get("user_name")
        now = self.clock()
        key = request_key(PLATFORM, "press", post_id, signed.action, str(signed.story_id),
                          str(signed.version))
        try:
            result = await asyncio.wrap_future(self.pool.submit(
                self._press, signed.action, signed.story_id, signed.version, user_id,
                user_name if isinstance(user_name, str) else "",
                trigger_id if isinstance(trigger_id, str) else "", post_id, now, key))
        except Exception:
            log.exception("button %s by %s failed", signed.action, user_id)
            result = _action_text(FAILED)
        return _json(result)

    def _press(
        self, action: str, story_id: int, version: int, user_id: str, user_name: str,
        trigger_id: str, post_id: str, now: datetime, key: str,
    ) -> Json:
        with read_session(self.engine) as session:
            member = find_member(session, PLATFORM, user_id)
            coordinator = member is not None and is_coordinator(member)
            story = session.get(Story, story_id)
            current = story.version if story is not None else None
        personal = action in PERSONAL_ACTIONS
        if not coordinator and not personal:
            return _action_text("Only coordinators can use the buttons on story cards. "
                                "`/story show N` shows a story; `/story team` lists the "
                                "coordinators.")
        if current is not None and current != version and not personal:
            # Nothing is done twice; the runner words the answer the same way everywhere.
            caller = self.service.directory.caller(user_id, user_name)
            return _action_text(self.runner.press(caller, action, story_id, version, now).text)
        if action in dialogs.VALUE_ACTIONS:
            return self._open_press_dialog(action, story_id, version, user_id, trigger_id,
                                           post_id, now)
        caller = self.service.directory.caller(user_id, user_name)
        reply = self.runner.press(caller, action, story_id, version, now,
                                  request=ChatRequest(key=key, kind="button"))
        return _action_text(reply.text, reply.tone)

    def _open_press_dialog(
        self, action: str, story_id: int, version: int, user_id: str, trigger_id: str,
        post_id: str, now: datetime,
    ) -> Json:
        url = self.service.dialog_url
        command = {"accept": f"/story accept {story_id} due YYYY-MM-DD",
                   "decline": f"/story decline {story_id} <reason>",
                   "changes": f"/story changes {story_id} [note]",
                   "reassign": f"/story reassign {story_id} [@person]",
                   "draft": f"/story draft {story_id} <link>",
                   "posted_link": f"/story published {story_id} <permalink>"}[action]
        if not url or not trigger_id:
            return _action_text(f"Use `{command}`.")
        state = self.service.signer.state(dialogs.PRESS, user_id, {
            "action": action, "story": story_id, "version": version, "post_id": post_id})
        today = now.astimezone(self.policy.zone).date()
        dialog = dialogs.press_dialog(action, story_id, state, today, self.policy.draft_days)
        try:
            self.service.client.open_dialog(trigger_id, url, dialog)
        except (MattermostError, MattermostUnreachable) as error:
            log.warning("dialog for %s did not open: %s", action, error)
            return _action_text(f"The form did not open; use `{command}`.")
        return {}

    async def _payload(self, request: Request) -> Json | None:
        body = await request.body()
        if len(body) > MAX_BODY:
            return None
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply
            return None
        return payload if isinstance(payload, dict) else None


def _action_text(text: str, tone: str = "error") -> Json:
    mark = {"success": "✓ ", "error": "✗ ", "warning": "⚠️ "}.get(tone, "")
    return {"ephemeral_text": mark + escape_markdown(text), "skip_slack_parsing": True}
