"""`/slack/events`: slash commands and interactivity over HTTP, on the Starlette web app.

The signature is checked before anything in the body is read (Slack signs
`v0:{timestamp}:{raw body}` with HMAC-SHA256; a request older than five minutes is
refused), then the body must be a form whose `payload`, if any, is a JSON object, or a JSON
object: anything else is answered 400 with one log line, never a traceback. The request is
then handed to bolt as the slack_bolt Starlette adapter does, on Starlette's thread pool
(bolt's App is synchronous; on the event loop every request would wait for the one before).

`observe_ack` gets the seconds bolt's dispatch took, waiting for a thread included: the
listener runs inside it (process_before_response), so this is what Slack, and the person,
wait for. A bolt middleware cannot time it: its `next()` only lets the listeners run after
every middleware has returned.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1_000_000  # Slack's payloads are a few kilobytes; a modal at most ~100 kB


def malformed(body: bytes, content_type: str) -> str | None:
    """Why a signed body is not one Slack sends; None if it is well-formed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    if content_type.startswith("application/json"):
        try:
            data = json.loads(text)
        except ValueError:
            return "JSON that does not parse"
        return None if isinstance(data, dict) else "JSON that is not an object"
    try:
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        return "a form that does not parse"
    if "payload" in fields:
        try:
            payload = json.loads(fields["payload"][0])
        except ValueError:
            return "a payload that is not JSON"
        if not isinstance(payload, dict):
            return "a payload that is not a JSON object"
        if not payload.get("type"):
            return "a payload without a type"
    elif "command" not in fields and "ssl_check" not in fields:
        return "a form that is neither a command nor an interaction"
    return None


def slack_routes(app: App, signing_secret: str, path: str = EVENTS_PATH,
                 observe_ack: Callable[[float], None] | None = None) -> list[BaseRoute]:
    verifier = SignatureVerifier(signing_secret)

    async def events(request: Request) -> Response:
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            return PlainTextResponse("payload too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("payload too large", status_code=413)
        try:
            signed = verifier.is_valid_request(body, dict(request.headers))
        except UnicodeDecodeError:  # Slack sends UTF-8 only
            log.warning("refused a request to %s that is not UTF-8", path)
            return PlainTextResponse("malformed request", status_code=400)
        if not signed:
            log.warning("refused a request to %s without a valid Slack signature", path)
            return PlainTextResponse("invalid signature", status_code=401)
        problem = malformed(body, request.headers.get("content-type", ""))
        if problem is not None:
            log.warning("refused a signed request to %s: %s", path, problem)
            return PlainTextResponse("malformed request", status_code=400)
        started = time.perf_counter()
        try:
            bolt_response = await run_in_threadpool(app.dispatch,
                                                    to_bolt_request(request, body))
        except Exception as error:  # a body bolt cannot read: the sender's fault
            log.warning("refused a signed request to %s that bolt cannot read: %r", path, error)
            return PlainTextResponse("malformed request", status_code=400)
        if observe_ack is not None:
            observe_ack(time.perf_counter() - started)
        return to_starlette_response(bolt_response)

    return [Route(path, events, methods=["POST"])]
