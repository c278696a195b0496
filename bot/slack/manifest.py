"""`storydesk slack manifest [--url https://host]`: the app manifest, ready to paste.

Without `--url` it is the Socket Mode manifest (no public address needed). With it, Slack
sends slash commands and interactions to `<url>/slack/events`, signed with the app's
signing secret.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from typing import Any, TextIO
from urllib.parse import urlparse

import yaml

from bot.slack.web import EVENTS_PATH
from config.settings import Settings

TEMPLATE = "slack-manifest.yaml"


def load_template() -> dict[str, Any]:
    text = resources.files("config").joinpath(TEMPLATE).read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def manifest(url: str | None = None) -> dict[str, Any]:
    """The manifest for Socket Mode (`url` None) or for HTTP at `url`/slack/events."""
    data = load_template()
    settings = data["settings"]
    if url is None:
        settings["socket_mode_enabled"] = True
        settings["interactivity"].pop("request_url", None)
        settings["event_subscriptions"].pop("request_url", None)
        for command in data["features"]["slash_commands"]:
            command.pop("url", None)
        return data
    request_url = url.rstrip("/") + EVENTS_PATH
    settings["socket_mode_enabled"] = False
    settings["interactivity"]["request_url"] = request_url
    settings["event_subscriptions"]["request_url"] = request_url
    for command in data["features"]["slash_commands"]:
        command["url"] = request_url
    return data


def check_url(url: str) -> str | None:
    """Why Slack would refuse `url` as a request URL, or None."""
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.netloc:
        return "Slack sends requests only to https:// addresses, such as https://storydesk.lab.org"
    if parsed.query or parsed.fragment:
        return "give the base address only, without ?query or #fragment"
    return None


def print_manifest(url: str | None, out: TextIO) -> None:
    mode = f"HTTP, requests to {url.rstrip('/')}{EVENTS_PATH}" if url else "Socket Mode"
    out.write(f"# Storydesk Slack app manifest ({mode}).\n"
              "# Paste it at https://api.slack.com/apps > Create New App > From a manifest.\n")
    out.write(yaml.safe_dump(manifest(url), sort_keys=False, allow_unicode=True, width=88))


def add_commands(sub: Any) -> None:
    slack = sub.add_parser("slack", help="Slack: print the app manifest")
    actions = slack.add_subparsers(dest="slack_command", metavar="ACTION", required=True)
    show = actions.add_parser(
        "manifest", help="print the Slack app manifest (Socket Mode, or HTTP with --url)")
    show.add_argument("--url", default=None, metavar="https://host",
                      help="the public base address of this bot: Slack then sends requests "
                           f"to <url>{EVENTS_PATH} (HTTP mode) instead of using Socket Mode")
    show.set_defaults(handler=cmd_manifest)


def cmd_manifest(args: argparse.Namespace, settings: Settings) -> int:
    if args.url is not None:
        problem = check_url(args.url)
        if problem:
            print(f"storydesk: --url {args.url}: {problem}", file=sys.stderr)
            return 2
    print_manifest(args.url, sys.stdout)
    return 0
