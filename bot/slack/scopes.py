"""Which bot scopes Storydesk's Slack app needs, from what the code calls and listens to.

The manifest (config/slack-manifest.yaml) asks a workspace admin for these scopes when the
app is installed; a scope nobody uses is a permission the admin grants for nothing, and a
missing one fails only in production, with `missing_scope`. A test reads the code for the
Web API methods it calls and the events it subscribes to, and checks the manifest asks for
exactly the scopes below.

Each entry is the bot scope Slack's method or event reference lists as required. Methods
that need no scope (`auth.test`, `views.open`, which is authorised by its trigger id) map
to nothing. A method or event missing here fails the test: look its scope up in Slack's
reference and add it.
"""

from __future__ import annotations

from collections.abc import Iterable

# WebClient method name -> the bot scopes its Web API method requires.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth_test": frozenset(),
    "views_open": frozenset(),
    "views_update": frozenset(),
    "views_push": frozenset(),
    "chat_postMessage": frozenset({"chat:write"}),
    "chat_postEphemeral": frozenset({"chat:write"}),
    "chat_update": frozenset({"chat:write"}),
    "chat_delete": frozenset({"chat:write"}),
    "users_info": frozenset({"users:read"}),
    "users_list": frozenset({"users:read"}),
    "users_lookupByEmail": frozenset({"users:read.email"}),
    # files_upload_v2 calls files.getUploadURLExternal and files.completeUploadExternal.
    "files_upload_v2": frozenset({"files:write"}),
    "files_getUploadURLExternal": frozenset({"files:write"}),
    "files_completeUploadExternal": frozenset({"files:write"}),
    # Opening a DM explicitly; posting to a user id needs only chat:write.
    "conversations_open": frozenset({"im:write"}),
    "conversations_history": frozenset({"channels:history"}),
    "reactions_add": frozenset({"reactions:write"}),
    "pins_add": frozenset({"pins:write"}),
}

# Event subscription (as written under settings.event_subscriptions.bot_events in the
# manifest) -> the bot scope Slack requires for it.
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "app_mention": frozenset({"app_mentions:read"}),
    "message.im": frozenset({"im:history"}),
    "message.channels": frozenset({"channels:history"}),
    "message.groups": frozenset({"groups:history"}),
    "message.mpim": frozenset({"mpim:history"}),
    "app_home_opened": frozenset(),
}

# Features of the manifest that need a scope of their own.
SLASH_COMMANDS_SCOPE = "commands"


class UnknownScope(KeyError):
    """A method or event whose scope is not in the tables above."""


def scopes_for(methods: Iterable[str], events: Iterable[str] = (), *,
               slash_commands: bool = True) -> set[str]:
    """The bot scopes needed to call `methods`, receive `events` and have slash commands."""
    needed: set[str] = {SLASH_COMMANDS_SCOPE} if slash_commands else set()
    for method in methods:
        if method not in METHOD_SCOPES:
            raise UnknownScope(f"Web API method {method!r}: add its bot scope to METHOD_SCOPES")
        needed |= METHOD_SCOPES[method]
    for event in events:
        if event not in EVENT_SCOPES:
            raise UnknownScope(f"event {event!r}: add its bot scope to EVENT_SCOPES")
        needed |= EVENT_SCOPES[event]
    return needed
