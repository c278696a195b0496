"""The Mattermost endpoints of the web app: slash commands, dialog submissions, buttons.

- `POST /mattermost/command`: a slash command (form fields). The token (header
  `Authorization: Token …` or form field `token`) must equal one of
  MATTERMOST_COMMAND_TOKENS, compared in constant time; otherwise 401 and nothing happens.
  The answer is command-response JSON. Work that takes longer than `answer_within`
  seconds is answered at once with a short note and later through the `response_url`.
- `POST /mattermost/dialog`: a dialog submission; field errors go back as
  `{"errors": {...}}`, other refusals as `{"error": "..."}`.
- `POST /mattermost/action`: a card button. Its context must carry our HMAC; only
  coordinators may act; a stale card is a no-op with an explanation.

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

from bot.commands import Caller, CommandRunner
from bot.mattermost import dialogs
from bot.mattermost.client import MattermostError, MattermostUnreachable
from bot.mattermost.directory import PLATFORM
from bot.mattermost.paths import ACTION_PATH, COMMAND_PATH, DIALOG_PATH
from bot.mattermost.render import RenderedReply, escape_markdown
from bot.mattermost.service import MattermostService
from handlers.context import Policy
from handlers.dm_actions import PERSONAL_ACTIONS
from handlers.members import find_member, is_coordinator
from handlers.reply import Reply
from storage.db import is_sqlite, read_session
from storage.models import Story

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
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
        answer_within: float = 2.5,
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
        given = token.encode()
        matched = False
        for expected in self._tokens:  # compare with every token: no early exit
            matched |= hmac.compare_digest(given, expected)
        return matched and bool(given)

    async def command(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return _json({"text": "Too large."}, 413)
        form = {key: values[0] for key, values in
                parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        header = request.headers.get("authorization", "")
        token = header[6:].strip() if header[:6].lower() == "token " else form.get("token", "")
        if not self.token_ok(token):
            log.warning("slash command refused: wrong or missing token")
            return _json({"text": "Unauthorized."}, 401)
        command = form.get("command", "").strip().lstrip("/").lower()
        user_id = form.get("user_id", "")
        if not user_id or command not in {"pitch", "story"}:
            return _json(_ephemeral("This endpoint serves /pitch and /story."), 400)
        started = time.perf_counter()
        now = self.clock()
        job = self.pool.submit(self._run_command, form, command, now)
        try:
            result = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job)),
                                            self.answer_within)
        except TimeoutError:
            response_url = form.get("response_url", "")
            job.add_done_callback(lambda done: self._answer_later(done, response_url))
            result = _ephemeral("Working on it… the answer follows in a moment.")
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
        rendered = self.service.renderer.render(reply)
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

    def _answer_later(self, done: Future[Json], response_url: str) -> None:
        if not response_url:
            return
        try:
            body = done.result()
        except Exception:
            log.exception("a slow command failed")
            body = _ephemeral(FAILED)
        if not body:
            return
        try:
            self.service.client.respond(response_url, body)
        except (MattermostError, MattermostUnreachable) as error:
            log.warning("late answer not delivered: %s", error)

    # --- dialogs -------------------------------------------------------------------------

    async def dialog(self, request: Request) -> Response:
        payload = await self._payload(request)
        if payload is None:
            return _json({"error": "Malformed submission."}, 400)
        if payload.get("cancelled"):
            return _json({})
        callback, user_id = str(payload.get("callback_id", "")), str(payload.get("user_id", ""))
        data = self.service.signer.verify_state(payload.get("state"), callback, user_id)
        if data is None or callback not in {dialogs.PITCH, dialogs.PRESS}:
            log.warning("dialog submission refused: bad state for %r", callback)
            return _json({"error": "This form was not opened by Storydesk."}, 403)
        submission = payload.get("submission")
        if not isinstance(submission, dict):
            submission = {}
        now = self.clock()
        result = await asyncio.wrap_future(
            self.pool.submit(self._submit, callback, user_id, data, submission, now))
        return _json(result)

    def _submit(
        self, callback: str, user_id: str, data: dict[str, Any], submission: dict[str, Any],
        now: datetime,
    ) -> Json:
        caller = self.service.directory.caller(user_id)
        if callback == dialogs.PITCH:
            parsed = dialogs.parse_pitch(submission)
            if parsed.form is None:
                return {"errors": parsed.errors}
            reply = self.runner.submit_pitch(caller, parsed.form, now)
            if not reply.ok:
                errors = reply.data.get("field_errors") or {}
                return {"errors": errors} if errors else {"error": reply.text}
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
        )
        if not reply.ok:
            fields = dialogs.field_errors_for(action, reply.data.get("field_errors") or {})
            return {"errors": fields} if fields else {"error": reply.text}
        return {}

    def _tell(self, caller: Caller, response_url: str, reply: Reply) -> None:
        """Answer a dialog: through the command's response URL, else by direct message."""
        rendered = self.service.renderer.render(reply)
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
            return _json({"ephemeral_text": "Malformed request."}, 400)
        signed = self.service.signer.verify_context(payload.get("context"))
        user_id = str(payload.get("user_id", ""))
        if signed is None or not user_id:
            log.warning("button call refused: context not signed by us")
            return _json({"ephemeral_text": "This button was not made by Storydesk; nothing "
                          "was done."}, 403)
        now = self.clock()
        result = await asyncio.wrap_future(self.pool.submit(
            self._press, signed.action, signed.story_id, signed.version, user_id,
            str(payload.get("user_name", "")), str(payload.get("trigger_id", "")),
            str(payload.get("post_id", "")), now))
        return _json(result)

    def _press(
        self, action: str, story_id: int, version: int, user_id: str, user_name: str,
        trigger_id: str, post_id: str, now: datetime,
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
        reply = self.runner.press(caller, action, story_id, version, now)
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
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None


def _action_text(text: str, tone: str = "error") -> Json:
    mark = {"success": "✓ ", "error": "✗ ", "warning": "⚠️ "}.get(tone, "")
    return {"ephemeral_text": mark + escape_markdown(text), "skip_slack_parsing": True}
