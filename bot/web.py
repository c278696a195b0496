"""The web app: /healthz, /metrics, and the routes each enabled platform adds."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.calendar.ics import calendar_routes
from bot.runtime import Runtime
from storage.db import database_answers

log = logging.getLogger(__name__)

# What a reverse proxy adds to a request it passes on (nginx, Caddy, Traefik, Apache).
FORWARDED_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")

RouteProvider = Callable[[Runtime], list[BaseRoute]]


def create_web_app(runtime: Runtime, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    # Plain functions: Starlette runs them in its thread pool, so a slow database never
    # blocks the event loop that acknowledges chat requests.
    def healthz(_request: Request) -> Response:
        if database_answers(runtime.engine):
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "database unreachable"}, status_code=503)

    def metrics(request: Request) -> Response:
        if not runtime.settings.metrics_token and came_through_a_proxy(request):
            log.warning("/metrics refused to a request forwarded by a proxy (%s): set "
                        "STORYDESK_METRICS_TOKEN to scrape through it, or scrape the port "
                        "directly", request.headers.get("x-forwarded-for", "Forwarded"))
            return Response(
                "/metrics is not served through a proxy without STORYDESK_METRICS_TOKEN\n",
                status_code=403, media_type="text/plain")
        if not metrics_allowed(runtime.settings.metrics_token, request):
            return Response(
                "/metrics needs the header Authorization: Bearer <STORYDESK_METRICS_TOKEN>\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="storydesk-metrics"'},
                media_type="text/plain",
            )
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    for provider in platform_routes(runtime):
        routes.extend(provider(runtime))
    routes.extend(calendar_routes(runtime))
    routes.extend(extra_routes or [])
    return Starlette(routes=routes)


def came_through_a_proxy(request: Request) -> bool:
    """Forwarded by a reverse proxy (the one Slack and Mattermost reach the app through),
    so possibly from anywhere, rather than asked by a scraper on the host's network."""
    return any(name in request.headers for name in FORWARDED_HEADERS)


def metrics_allowed(token: str, request: Request) -> bool:
    """Open when no token is configured; otherwise the request must carry it as a bearer
    token. Compared in constant time, so response timing tells nothing about the token."""
    if not token:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def platform_routes(runtime: Runtime) -> list[RouteProvider]:
    """The route providers of the platforms the settings enable."""
    providers: list[RouteProvider] = []
    if "mattermost" in runtime.transports:
        from bot.mattermost.routes import mattermost_routes

        providers.append(mattermost_routes)
    if "slack" in runtime.directories:
        from bot.slack.service import slack_http_routes

        providers.append(slack_http_routes)
    return providers
