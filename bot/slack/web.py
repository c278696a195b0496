"""`/slack/events`: slash commands and interactivity over HTTP, on the Starlette web app.

The request is handed to bolt as the slack_bolt Starlette adapter does, but dispatched on
Starlette's thread pool: bolt's App is synchronous, and calling it on the event loop would
make every request wait for the one before. The work the listeners queued starts after the
response has been sent (a background task of the response).
"""

from __future__ import annotations

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.slack.app import StartWork, holding_work, start_all

EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1_000_000  # Slack's payloads are a few kilobytes; a modal at most ~100 kB


def dispatch_holding(app: App, request: BoltRequest) -> tuple[BoltResponse, list[StartWork]]:
    with holding_work() as held:
        return app.dispatch(request), held


async def start_held(held: list[StartWork]) -> None:
    """Runs after the response went out: only now the listeners' work may start."""
    start_all(held)


def slack_routes(app: App, path: str = EVENTS_PATH) -> list[BaseRoute]:
    async def events(request: Request) -> Response:
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            return PlainTextResponse("payload too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("payload too large", status_code=413)
        bolt_response, held = await run_in_threadpool(dispatch_holding, app,
                                                      to_bolt_request(request, body))
        response = to_starlette_response(bolt_response)
        if held:
            response.background = BackgroundTask(start_held, held)
        return response

    return [Route(path, events, methods=["POST"])]
