"""`storydesk mattermost setup --team <team> --url <public base url>`.

Registers the two slash commands, /pitch and /story, in a team through the REST API
(`POST /api/v4/commands`), or updates them in place (`PUT /api/v4/commands/{id}`) when they
exist, so running it again after a change of address is safe. It prints the commands'
tokens for MATTERMOST_COMMAND_TOKENS.

Registering commands needs the `manage_slash_commands` permission in the team. A bot
account has it when it was given the System Admin role; otherwise pass an administrator's
personal access token with `--token` for this one step.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from bot.errors import StartupError
from bot.mattermost.client import MattermostClient, MattermostError, MattermostUnreachable
from bot.mattermost.paths import COMMAND_PATH
from config.settings import Settings

OBJECTIVE_TAGS = "#outreach|#scicomm|#training|#recruitment"
COMMANDS: tuple[dict[str, Any], ...] = (
    {
        "trigger": "pitch",
        "display_name": "Storydesk: pitch",
        "description": "Pitch a story for the outreach account",
        "auto_complete": True,
        "auto_complete_desc": "Propose a story; alone, it opens a form",
        "auto_complete_hint": f"[title] [{OBJECTIVE_TAGS}] [#reel|#post|…] [-- summary]",
    },
    {
        "trigger": "story",
        "display_name": "Storydesk: stories",
        "description": "Stories, reviews, the schedule and reach",
        "auto_complete": True,
        "auto_complete_desc": "Everything else Storydesk does; /story help lists it all",
        "auto_complete_hint": "[help|list|show|accept|decline|draft|approve|schedule|…]",
    },
)


def add_commands(sub: Any) -> None:
    mattermost = sub.add_parser("mattermost", help="Mattermost: register the slash commands")
    actions = mattermost.add_subparsers(dest="mattermost_command", metavar="ACTION",
                                        required=True)
    setup = actions.add_parser(
        "setup", help="register (or update) /pitch and /story in a team; print their tokens")
    setup.add_argument("--team", required=True, help="the team's URL name (or its id)")
    setup.add_argument("--url", required=True,
                       help="the public base address of this bot, e.g. https://storydesk.lab.org")
    setup.add_argument("--token", default="",
                       help="an access token allowed to manage slash commands "
                            "(default: MATTERMOST_BOT_TOKEN)")
    setup.add_argument("--replace", action="store_true",
                       help="take over /pitch or /story even if they call another address")
    setup.set_defaults(handler=cmd_setup)


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    return setup(settings, team=args.team, url=args.url, token=args.token,
                 replace=args.replace, out=sys.stdout)


def setup(
    settings: Settings, *, team: str, url: str, token: str = "", replace: bool = False,
    out: TextIO, transport: Any = None,
) -> int:
    if not settings.mattermost_url:
        raise StartupError("set MATTERMOST_URL (and MATTERMOST_BOT_TOKEN) first")
    token = token or settings.mattermost_bot_token
    if not token:
        raise StartupError("set MATTERMOST_BOT_TOKEN, or pass --token")
    base = url.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", base):
        raise StartupError(f"--url must be an http(s) address, got {url!r}")
    from bot.mattermost.service import check_token

    endpoint = base + COMMAND_PATH
    client = MattermostClient(settings.mattermost_url, token, transport=transport)
    try:
        check_token(client, settings.mattermost_url)
        team_info = _team(client, team)
        existing = {c.get("trigger"): c for c in client.list_commands(str(team_info["id"]))
                    if not c.get("delete_at")}
        results = []
        for definition in COMMANDS:
            results.append(_register(client, str(team_info["id"]), endpoint, definition,
                                     existing.get(definition["trigger"]), replace))
    except MattermostUnreachable as error:
        raise StartupError(f"cannot reach Mattermost: {error}") from None
    except MattermostError as error:
        raise StartupError(_explain(error)) from None
    finally:
        client.close()
    for command, verb in results:
        out.write(f"/{command['trigger']}: {verb} in team {team_info['name']}, calling "
                  f"{endpoint}\n")
    tokens = ",".join(str(command["token"]) for command, _ in results)
    out.write("\nPut these lines into .env, then restart Storydesk:\n")
    out.write(f"MATTERMOST_COMMAND_TOKENS={tokens}\n")
    if settings.public_url.rstrip("/") != base:
        out.write(f"STORYDESK_PUBLIC_URL={base}\n")
    return 0


def _team(client: MattermostClient, team: str) -> dict[str, Any]:
    try:
        return client.team_by_name(team.strip().lower())
    except MattermostError as error:
        if error.status != 404 or not re.fullmatch(r"[a-z0-9]{26}", team.strip()):
            if error.status == 404:
                raise StartupError(f"there is no team {team!r} (give its URL name, as in "
                                   "https://chat.example.org/<team>/...)") from None
            raise
    return client.team(team.strip())


def _register(
    client: MattermostClient, team_id: str, endpoint: str, definition: Mapping[str, Any],
    current: dict[str, Any] | None, replace: bool,
) -> tuple[dict[str, Any], str]:
    wanted = {**definition, "team_id": team_id, "method": "P", "url": endpoint}
    if current is None:
        return client.create_command(wanted), "registered"
    if current.get("url") != endpoint and not str(current.get("url", "")).endswith(
            COMMAND_PATH) and not replace:
        raise StartupError(
            f"/{definition['trigger']} already exists in this team and calls "
            f"{current.get('url')}; remove it, or pass --replace to take it over")
    unchanged = all(current.get(key) == value for key, value in wanted.items())
    if unchanged and current.get("token"):
        return current, "already registered"
    return client.update_command({**current, **wanted}), "updated"


def _explain(error: MattermostError) -> str:
    if error.status == 403:
        return ("Mattermost refused to manage slash commands (403): give the bot account the "
                "System Admin role for the setup, or pass an administrator's personal access "
                "token with --token")
    if error.status == 501:
        return ("custom slash commands are disabled on this server: System Console > "
                "Integrations > Integration Management > Enable Custom Slash Commands")
    return f"Mattermost answered {error.status} ({error.error_id}): {error.message}"
