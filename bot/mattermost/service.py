"""Everything the Mattermost adapter needs, built once from the Settings.

`build_mattermost` checks the bot token with `GET /api/v4/users/me` at start-up: a wrong
token or an unreachable server stops `storydesk run` with one clear line (exit status 2)
instead of failing message by message later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Protocol

import httpx
from sqlalchemy.engine import Engine

from bot.commands import CommandRunner, Directory
from bot.delivery.transport import Transport
from bot.errors import StartupError
from bot.mattermost.client import MattermostClient, MattermostError, MattermostUnreachable
from bot.mattermost.directory import USER_ID, MattermostDirectory
from bot.mattermost.paths import ACTION_PATH, DIALOG_PATH
from bot.mattermost.render import MattermostRenderer
from bot.mattermost.signing import ActionSigner
from bot.mattermost.transport import ChannelResolver, MattermostTransport
from bot.metrics import Metrics
from config.settings import Settings
from handlers.context import Policy

log = logging.getLogger(__name__)


class RuntimeParts(Protocol):
    """What Mattermost takes from the runtime (named here, so that bot.mattermost does not
    import the composition root, which knows every platform)."""

    settings: Settings
    engine: Engine
    policy: Policy
    runner: CommandRunner
    transports: dict[str, Transport]
    directories: dict[str, Directory]
    metrics: Metrics


@dataclass
class MattermostService:
    client: MattermostClient
    directory: MattermostDirectory
    signer: ActionSigner
    renderer: MattermostRenderer
    transport: MattermostTransport
    bot_user_id: str
    public_url: str
    command_tokens: tuple[str, ...]

    @property
    def dialog_url(self) -> str | None:
        return self.public_url + DIALOG_PATH if self.public_url else None


def check_token(client: MattermostClient, url: str) -> dict[str, object]:
    """The bot's own user; StartupError with one clear sentence if that fails."""
    try:
        return client.me()
    except MattermostUnreachable as error:
        raise StartupError(f"cannot reach Mattermost at MATTERMOST_URL={url}: {error}") from None
    except MattermostError as error:
        if error.status in (401, 403):
            raise StartupError(
                f"Mattermost refused MATTERMOST_BOT_TOKEN ({error.status}): use the access "
                "token of a bot account (System Console > Integrations > Bot Accounts)"
            ) from None
        if error.status == 404:
            raise StartupError(
                f"{url} does not answer like a Mattermost server (404 on /api/v4/users/me); "
                "check MATTERMOST_URL"
            ) from None
        raise StartupError(f"Mattermost answered {error.status} to the token check at "
                           f"{url}: {error.message}") from None


def build_mattermost(
    settings: Settings, *, transport: httpx.BaseTransport | None = None,
) -> MattermostService:
    if not settings.mattermost_command_tokens:
        raise StartupError(
            "MATTERMOST_COMMAND_TOKENS is empty: run `storydesk mattermost setup --team "
            "<team> --url <public url>` and put the tokens it prints into .env"
        )
    client = MattermostClient(settings.mattermost_url, settings.mattermost_bot_token,
                              timeout=settings.send_timeout_seconds, transport=transport)
    me = check_token(client, settings.mattermost_url)
    signer = ActionSigner.from_settings(settings.mattermost_action_secret,
                                        settings.mattermost_bot_token)
    public_url = settings.public_url.rstrip("/")
    if not public_url:
        log.warning("STORYDESK_PUBLIC_URL is unset: Mattermost gets no card buttons and no "
                    "dialogs (they call back to that address)")
    renderer = MattermostRenderer(signer, public_url + ACTION_PATH if public_url else None)
    resolver = ChannelResolver(client, settings.channels_for("mattermost"))
    directory = MattermostDirectory(client)
    bot_user_id = str(me["id"])
    return MattermostService(
        client=client,
        directory=directory,
        signer=signer,
        renderer=renderer,
        transport=MattermostTransport(client, renderer, resolver, bot_user_id),
        bot_user_id=bot_user_id,
        public_url=public_url,
        command_tokens=settings.mattermost_command_tokens,
    )


def service_from_parts(
    settings: Settings, transport: MattermostTransport, directory: MattermostDirectory,
) -> MattermostService:
    """The service again, from what the runtime keeps (its transport and its directory)."""
    return MattermostService(
        client=transport.client,
        directory=directory,
        signer=transport.renderer.signer,
        renderer=transport.renderer,
        transport=transport,
        bot_user_id=transport.bot_user_id,
        public_url=settings.public_url.rstrip("/"),
        command_tokens=settings.mattermost_command_tokens,
    )


def attach_mattermost(runtime: RuntimeParts) -> MattermostService:
    """Give the runtime Mattermost's transport and directory (checking the token first).

    Coordinators may be configured by username (`mattermost:ada`); they are turned into
    user ids here, before the team is seeded.
    """
    service = build_mattermost(runtime.settings)
    runtime.transports["mattermost"] = service.transport
    runtime.directories["mattermost"] = service.directory
    default = runtime.policy.channel_platforms[0] if runtime.policy.channel_platforms else ""
    coordinators = resolve_coordinators(runtime.settings.coordinators, service.directory,
                                        default_platform=default)
    if coordinators != runtime.settings.coordinators:
        runtime.settings = replace(runtime.settings, coordinators=coordinators)
    return service


def resolve_coordinators(
    entries: tuple[str, ...], directory: MattermostDirectory, *, default_platform: str,
) -> tuple[str, ...]:
    resolved = []
    for entry in entries:
        platform, _, name = entry.rpartition(":")
        if not platform and default_platform == "mattermost":
            platform = "mattermost"
        if platform != "mattermost" or USER_ID.match(name):
            resolved.append(entry)
            continue
        try:
            found = directory.lookup(name)
        except (MattermostError, MattermostUnreachable) as error:
            log.warning("STORYDESK_COORDINATORS: cannot look up %s: %s", name, error)
            found = None
        if found is None:
            log.warning("STORYDESK_COORDINATORS: Mattermost knows no user %r", name)
            resolved.append(entry)
        else:
            resolved.append(f"mattermost:{found.user_id}")
    return tuple(resolved)
