"""The manifest asks for exactly the bot scopes the code needs: no fewer, no more.

The Web API methods come from the code itself: every `.name(` in the Slack adapter whose
name is a method of slack_sdk's WebClient. The events come from the listeners registered
with bolt (`.event("...")`, `.message(...)`) and must be subscribed in the manifest.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.slack.manifest import load_template
from bot.slack.scopes import EVENT_SCOPES, METHOD_SCOPES, UnknownScope, scopes_for

ROOT = Path(__file__).resolve().parents[2]
CALL = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)\(")
EVENT = re.compile(r"\.event\(\s*[\"']([a-z_]+)[\"']")
MESSAGE_LISTENER = re.compile(r"\.message\(")


def web_api_methods() -> set[str]:
    return {name for name in dir(WebClient)
            if not name.startswith("_") and callable(getattr(WebClient, name))}


def slack_sources() -> list[Path]:
    """Every module that talks to Slack: all of bot/ except the Mattermost adapter."""
    return [path for path in sorted((ROOT / "bot").rglob("*.py"))
            if "mattermost" not in path.relative_to(ROOT).parts]


def methods_called() -> set[str]:
    known = web_api_methods()
    return {name for path in slack_sources()
            for name in CALL.findall(path.read_text(encoding="utf-8")) if name in known}


def events_listened() -> set[str]:
    found: set[str] = set()
    for path in slack_sources():
        text = path.read_text(encoding="utf-8")
        found.update(EVENT.findall(text))
        if MESSAGE_LISTENER.search(text):
            found.add("message")
    return found


def manifest_scopes() -> set[str]:
    return set(load_template()["oauth_config"]["scopes"]["bot"])


def manifest_events() -> list[str]:
    subscriptions = load_template()["settings"].get("event_subscriptions") or {}
    return list(subscriptions.get("bot_events") or [])


def test_the_scan_finds_the_calls_the_adapter_is_known_to_make() -> None:
    # If this fails, the scan no longer sees the code (moved files, renamed client).
    assert {"chat_postMessage", "chat_update", "views_open", "users_info",
            "files_upload_v2"} <= methods_called()


def test_every_method_the_code_calls_has_a_known_scope() -> None:
    unknown = sorted(methods_called() - METHOD_SCOPES.keys())
    assert unknown == [], f"add the bot scopes of {unknown} to bot/slack/scopes.py"


def test_every_listened_event_is_subscribed_in_the_manifest() -> None:
    subscribed = {event.split(".")[0] for event in manifest_events()}
    missing = sorted(events_listened() - subscribed)
    assert missing == [], f"the manifest does not subscribe to {missing}"


def test_the_manifest_requests_exactly_the_scopes_the_code_needs() -> None:
    needed = scopes_for(methods_called(), manifest_events())
    requested = manifest_scopes()
    assert not needed - requested, f"missing scopes: {sorted(needed - requested)}"
    assert not requested - needed, f"requested but never used: {sorted(requested - needed)}"


def test_an_unused_scope_or_a_missing_one_is_caught() -> None:
    needed = scopes_for({"chat_postMessage", "users_info"})
    assert needed == {"commands", "chat:write", "users:read"}
    assert "im:write" not in needed  # posting to a user id needs no more than chat:write
    assert scopes_for((), ["app_mention", "message.im"], slash_commands=False) == {
        "app_mentions:read", "im:history"}
    with pytest.raises(UnknownScope):
        scopes_for({"admin_users_invite"})
    with pytest.raises(UnknownScope):
        scopes_for((), ["reaction_added"])
    assert set(EVENT_SCOPES) >= {"app_mention", "message.im"}
