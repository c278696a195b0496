"""Slack, wired from the Settings: the transport and directory, the app, its two modes.

- `attach_slack` (from build_runtime) checks SLACK_BOT_TOKEN with auth.test, so a wrong
  or revoked token stops `storydesk run` with one line, and gives the runtime Slack's
  transport (for the outbox) and directory (for mentions).
- With SLACK_APP_TOKEN the app connects in Socket Mode (`socket_mode_starter`); without
  it, the web app serves `/slack/events` (`slack_http_routes`), signed with
  SLACK_SIGNING_SECRET.
- Either way, requests left unanswered in the inbox by a stopped process are answered
  when the app is built (and at every tick after), and `storydesk_ack_seconds` times each
  request from its arrival to its acknowledgement, the listener's work included.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from starlette.routing import BaseRoute

from bot.errors import StartupError
from bot.slack.app import SlackApp, build_app
from bot.slack.client import BAD_TOKEN_ERRORS, check_token, error_code, make_web_client
from bot.slack.deps import SlackDeps
from bot.slack.directory import PLATFORM, SlackDirectory
from bot.slack.transport import SlackTransport
from bot.slack.web import slack_routes

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def attach_slack(runtime: Runtime) -> None:
    settings = runtime.settings
    client = make_web_client(settings.slack_bot_token, settings.slack_api_url,
                             timeout=settings.send_timeout_seconds)
    identity = check_token(client)
    log.info("Slack: signed in to %s as %s", identity.team or identity.team_id,
             identity.user_id)
    outbox_client = make_web_client(settings.slack_bot_token, settings.slack_api_url,
                                    timeout=settings.send_timeout_seconds, retry=False)
    runtime.transports[PLATFORM] = SlackTransport(outbox_client, settings.channels_for(PLATFORM))
    runtime.directories[PLATFORM] = SlackDirectory(client)


def build_slack_app(runtime: Runtime) -> SlackApp:
    directory = runtime.directories.get(PLATFORM)
    if not isinstance(directory, SlackDirectory):
        raise StartupError("Slack is not attached to this runtime (SLACK_BOT_TOKEN unset?)")
    deps = SlackDeps(runner=runtime.runner, engine=runtime.engine, policy=runtime.policy,
                     directory=directory, inbox=runtime.open_inbox(),
                     count_inbox_failure=partial(runtime.metrics.count_inbox_write_failure,
                                                 PLATFORM))
    app = build_app(deps, client=directory.client,
                    signing_secret=runtime.settings.slack_signing_secret)
    runtime.on_stop.append(app.close)
    runtime.open_inbox().drain()
    return app


def slack_http_routes(runtime: Runtime) -> list[BaseRoute]:
    """`/slack/events`, unless Slack is reached through Socket Mode."""
    if PLATFORM not in runtime.directories or runtime.settings.slack_socket_mode:
        return []
    return slack_routes(build_slack_app(runtime).bolt, runtime.settings.slack_signing_secret,
                        observe_ack=observe_ack(runtime))


def observe_ack(runtime: Runtime) -> Callable[[float], None]:
    return runtime.metrics.ack_seconds.labels(platform=PLATFORM).observe


class TimedSocketModeHandler(SocketModeHandler):
    """bolt's Socket Mode handler, timing each request until its ack has been sent: the
    listener runs before the ack (process_before_response), so its work is included."""

    def __init__(self, app: App, app_token: str, observe: Callable[[float], None]) -> None:
        self.observe = observe
        super().__init__(app, app_token=app_token)

    # narrowed to the built-in client, as bolt's own handle does
    def handle(self, client: SocketModeClient,  # type: ignore[override]
               req: SocketModeRequest) -> None:
        started = time.perf_counter()
        try:
            super().handle(client, req)
        finally:
            self.observe(time.perf_counter() - started)


def socket_mode_starter(runtime: Runtime) -> Callable[[], None]:
    """Connect in Socket Mode when SLACK_APP_TOKEN is set; hand back the way to stop."""
    if PLATFORM not in runtime.directories or not runtime.settings.slack_socket_mode:
        return lambda: None
    app = build_slack_app(runtime)
    handler = TimedSocketModeHandler(app.bolt, runtime.settings.slack_app_token,
                                     observe_ack(runtime))
    try:
        handler.connect()
    except SlackApiError as error:
        app.close()
        code = error_code(error)
        if code in BAD_TOKEN_ERRORS:
            raise StartupError(
                f"Slack refused SLACK_APP_TOKEN ({code}): create an app-level token with the "
                "connections:write scope (Basic Information > App-Level Tokens)."
            ) from None
        raise StartupError(f"Slack Socket Mode could not connect ({code}).") from None
    except (OSError, http.client.HTTPException, SlackClientError) as error:
        app.close()
        raise StartupError(f"Slack Socket Mode could not connect: {error}") from None
    log.info("Slack: connected in Socket Mode")

    def stop() -> None:
        handler.close()
        app.close()

    return stop
