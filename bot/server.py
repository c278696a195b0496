"""`storydesk run`: the chat adapters, the web app, the scheduler and the dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Callable

import uvicorn

from bot.errors import StartupError
from bot.runtime import Runtime, build_runtime
from bot.web import create_web_app
from config.settings import Settings

log = logging.getLogger(__name__)

# The work behind Slack's acks runs in child processes, one a core on a small machine.
SLACK_WORK_PROCESSES = 2
# Started in order before the web app serves; each returns a function that stops it.
Starter = Callable[[Runtime], Callable[[], None]]


def starters(runtime: Runtime) -> list[Starter]:
    from bot.scheduler import delivery_starter

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
    runtime.slack_work_processes = SLACK_WORK_PROCESSES
    stops = [start(runtime) for start in starters(runtime)]
    app = create_web_app(runtime)
    log.info("serving on %s:%d", settings.http_host, settings.http_port)
    try:
        uvicorn.run(app, host=settings.http_host, port=settings.http_port,
                    log_level=settings.log_level.lower(), access_log=False)
    finally:
        for stop in reversed(stops):
            stop()
        runtime.engine.dispose()
    return 0
