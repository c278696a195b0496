"""The route provider the web app calls when Mattermost is enabled."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bot.mattermost.directory import MattermostDirectory
from bot.mattermost.service import RuntimeParts, service_from_parts
from bot.mattermost.transport import MattermostTransport
from bot.mattermost.web import MattermostEndpoints


def mattermost_routes(runtime: RuntimeParts) -> list[BaseRoute]:
    transport = runtime.transports.get("mattermost")
    directory = runtime.directories.get("mattermost")
    if not isinstance(transport, MattermostTransport) or not isinstance(
        directory, MattermostDirectory
    ):
        return []
    service = service_from_parts(runtime.settings, transport, directory)
    answers = runtime.metrics.ack_seconds.labels(platform="mattermost")
    endpoints = MattermostEndpoints(service, runtime.runner, runtime.engine, runtime.policy,
                                    observe_answer=answers.observe)
    return endpoints.routes()
