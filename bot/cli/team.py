"""`storydesk team` and `storydesk team add NAME --platform P`: the team from the server.

On a new install nobody is a coordinator yet, and only coordinators may run
`/story team add`. Whoever runs the server can name the first ones here (or set
STORYDESK_COORDINATORS before the first start); in chat, the first member to run
`/story team claim` becomes one while the team is empty.

NAME is the member's id on the platform: a Slack member id (U012ABCDEF, from the profile's
"Copy member ID"), a Mattermost user id or username (a username is looked up when
MATTERMOST_URL is set), or the console name.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from typing import Any

from bot.cli.shared import open_database
from config.settings import Settings

PLATFORM_CHOICES = ("slack", "mattermost", "console")
SLACK_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
MATTERMOST_USER_ID = re.compile(r"^[a-z0-9]{26}$")


class TeamError(ValueError):
    """NAME cannot be turned into a member id on that platform."""


def add_commands(sub: Any) -> None:
    team = sub.add_parser("team", help="list the coordinators, or add one (`team add`)")
    team.set_defaults(handler=cmd_team)
    actions = team.add_subparsers(dest="team_command", metavar="ACTION")
    add = actions.add_parser(
        "add", help="make a member a coordinator (the first ones, on a new install)")
    add.add_argument("name", metavar="NAME",
                     help="Slack member id (U012ABCDEF), Mattermost user id or username, "
                          "or console name")
    add.add_argument("--platform", required=True, choices=PLATFORM_CHOICES,
                     help="where this member talks to Storydesk")
    add.add_argument("--display-name", default="", metavar="TEXT",
                     help="the name shown until the member's first command brings the "
                          "platform's own")
    add.set_defaults(handler=cmd_team_add)


def member_id(platform: str, name: str, settings: Settings) -> tuple[str, str | None]:
    """(user id, display name if known) for NAME on `platform`, or TeamError saying what
    to give."""
    name = name.strip().lstrip("@")
    if not name:
        raise TeamError("give the member's id or name")
    if platform == "console":
        return name.lower(), name
    if platform == "slack":
        if not SLACK_MEMBER_ID.match(name):
            raise TeamError(f"{name!r} is not a Slack member id; give one like U012ABCDEF "
                            "(in Slack: the person's profile, ⋮, Copy member ID)")
        return name, None
    if MATTERMOST_USER_ID.match(name):
        return name, None
    if not settings.mattermost_enabled:
        raise TeamError(f"{name!r} is not a Mattermost user id (26 letters and digits); give "
                        "the id, or set MATTERMOST_URL and MATTERMOST_BOT_TOKEN to look "
                        "usernames up")
    from bot.mattermost.client import MattermostClient, MattermostError, MattermostUnreachable
    from bot.mattermost.directory import MattermostDirectory

    client = MattermostClient(settings.mattermost_url, settings.mattermost_bot_token,
                              timeout=settings.send_timeout_seconds)
    try:
        found = MattermostDirectory(client).lookup(name)
    except (MattermostError, MattermostUnreachable) as error:
        raise TeamError(f"cannot look up {name!r} on Mattermost: {error}") from None
    finally:
        client.close()
    if found is None:
        raise TeamError(f"Mattermost knows no user {name!r}")
    return found.user_id, found.display_name


def cmd_team(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.members import NO_TEAM_HINT, coordinators
    from storage.db import read_session

    engine = open_database(settings)
    try:
        with read_session(engine) as session:
            members = [(m.display_name, m.platform, m.user_id) for m in coordinators(session)]
    finally:
        engine.dispose()
    if not members:
        print("The team has no coordinators yet.")
        print(f"  {NO_TEAM_HINT}")
        return 0
    print(f"Coordinators ({len(members)}):")
    width = max(len(name) for name, _, _ in members)
    for name, platform, user_id in members:
        print(f"  {name:<{width}}  {platform:<10}  {user_id}")
    return 0


def cmd_team_add(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.members import appoint_coordinator
    from storage.db import write_session

    try:
        user_id, found_name = member_id(args.platform, args.name, settings)
    except TeamError as error:
        print(f"storydesk: team add: {error}", file=sys.stderr)
        return 2
    engine = open_database(settings)
    try:
        with write_session(engine) as session:
            reply = appoint_coordinator(session, args.platform, user_id,
                                        args.display_name.strip() or found_name,
                                        datetime.now(UTC))
    finally:
        engine.dispose()
    print(reply.text)
    return 0
