"""Text Slack sends us, back to what the person typed.

With `should_escape` on (see the manifest), Slack sends user mentions as `<@U123|name>`,
channels as `<#C123|name>`, links as `<https://...|label>`, and `&`, `<`, `>` as entities.
User mentions are kept for the grammar to resolve; everything else becomes plain text, so
`/pitch Lab <b>tour</b> #recruitment` is the title the person wrote.
"""

from __future__ import annotations

import re

from bot.slack.render import unescape

_TOKEN = re.compile(r"<([^<>]*)>")
_SPECIAL = {"channel": "@channel", "here": "@here", "everyone": "@everyone"}


def _plain(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return match.group(0)  # a user mention: the grammar resolves it
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        name = target[1:].split("^", 1)[0]
        if name in _SPECIAL:
            return _SPECIAL[name]
        return label or "@" + name
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    return target  # a link: the address itself, never a label that hides it


def command_text(raw: str) -> str:
    """The text of a slash command (or a form field) as the person typed it."""
    return unescape(_TOKEN.sub(_plain, raw or ""))
