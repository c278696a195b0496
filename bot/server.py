"""`storydesk run`: the chat adapters, the web app, the scheduler and the dispatcher.

Stopping (SIGTERM from `docker stop`, or Ctrl-C): uvicorn stops accepting connections and
lets the requests in flight finish (each answers once its transaction has committed, or
after writing itself to the inbox), then the scheduler stops, the dispatcher finishes the
sends it has started and puts back what it had claimed, and the process exits, well
within `docker stop`'s ten seconds. Whatever was not sent stays in the outbox or the
inbox, and the next start sends it.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType

import uvicorn

from bot.errors import StartupError
from bot.runtime import Runtime, build_runtime
from bot.web import create_web_app
from config.settings import Settings

log = logging.getLogger(__name__)

# uvicorn waits this long for requests in flight after SIGTERM; Slack's own deadline is 3 s.
GRACEFUL_SECONDS = 5
# Started in order before the web app serves; each returns a function that stops it.
Starter = Callable[[Runtime], Callable[[], None]]


def starters(runtime: Runtime) -> list[Starter]:
    from bot.delivery.scheduler import delivery_starter

    found: list[Starter] = []
    if runtime.settings.slack_socket_mode:
        from bot.slack.service import socket_mode_starter

        found.append(socket_mode_starter)
    if "mattermost" in runtime.transports:
        from bot.mattermost.listener import websocket_starter

        found.append(websocket_starter)  # direct messages and @-mentions
    found.append(delivery_starter)  # last: the transports above are registered by then
    return found


def run_server(settings: Settings) -> int:
    if not (settings.slack_enabled or settings.mattermost_enabled):
        raise StartupError(
            "no chat platform is configured: set SLACK_BOT_TOKEN (with SLACK_APP_TOKEN or "
            "SLACK_SIGNING_SECRET) or MATTERMOST_URL and MATTERMOST_BOT_TOKEN. "
            "`storydesk demo` runs without one."
        )
    runtime = build_runtime(settings)
    app = create_web_app(runtime)  # builds the chat apps first: they answer what waits
    stops = [start(runtime) for start in starters(runtime)]
    log.info("serving on %s:%d", settings.http_host, settings.http_port)
    # uvicorn handles SIGTERM and SIGINT while it serves, then restores these handlers and
    # raises the signal again: ours lets the stop below run instead of dying at once.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stop_requested)
    try:
        uvicorn.run(app, host=settings.http_host, port=settings.http_port,
                    log_level=settings.log_level.lower(), access_log=False,
                    timeout_graceful_shutdown=GRACEFUL_SECONDS,
                    log_config=None)  # its lines go through our handler and format
    finally:
        log.info("stopping: finishing what was started")
        for stop in reversed(stops):
            stop()
        for stop in runtime.on_stop:
            stop()
        if runtime.inbox is not None:
            runtime.inbox.close()
        runtime.engine.dispose()
        log.info("stopped")
    return 0


def _stop_requested(signum: int, _frame: FrameType | None) -> None:
    log.info("%s received: stopping", signal.Signals(signum).name)
