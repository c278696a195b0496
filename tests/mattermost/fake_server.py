"""A small local server playing Mattermost's REST API v4, for the adapter's tests.

It checks requests the way the API reference describes them: the bot token on every API
call (`Authorization: Bearer …`), required fields and their types, the two-id array of a
direct channel, the post length limit, dialog and command rules from the server's model
(`Dialog.IsValid`, `Command.IsValid`). A request that breaks a rule gets the 400 a real
server gives, and the test that caused it fails on `server.violations`.

Faults are injected per route: `server.fail("POST", "/api/v4/posts", 429,
headers={"Retry-After": "7"})`.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_http import FakeHTTPServer

ID = re.compile(r"^[a-z0-9]{26}$")
POST_LIMIT = 16383
DIALOG_TITLE_MAX = 24
DIALOG_LABEL_MAX = 24
DIALOG_HELP_MAX = 150
DIALOG_TEXT_MAX = 150  # TextFieldMaxLength: a longer element must be a textarea
DIALOG_TEXTAREA_MAX = 3000


def new_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(26))


class ApiError(Exception):
    def __init__(self, status: int, error_id: str, message: str = "") -> None:
        super().__init__(message or error_id)
        self.status = status
        self.error_id = error_id
        self.message = message or error_id


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    times: int
    delay: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class State:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> user id
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    team_members: dict[str, set[str]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    channel_members: dict[str, set[str]] = field(default_factory=dict)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: set[str] = field(default_factory=set)
    dialogs: list[dict[str, Any]] = field(default_factory=list)
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class FakeMattermost:
    def __init__(self) -> None:
        self.state = State()
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self._server = FakeHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeMattermost:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- seeding --------------------------------------------------------------------------

    def add_user(self, username: str, first: str = "", last: str = "", *, bot: bool = False,
                 timezone: str = "", locale: str = "en", token: str | None = None) -> str:
        user_id = new_id()
        with self.lock:
            self.state.users[user_id] = {
                "id": user_id, "username": username, "first_name": first, "last_name": last,
                "nickname": "", "email": f"{username}@lab.example", "locale": locale,
                "is_bot": bot, "delete_at": 0, "roles": "system_user",
                "timezone": {"useAutomaticTimezone": "true" if timezone else "false",
                             "automaticTimezone": timezone, "manualTimezone": ""},
            }
            if token:
                self.state.tokens[token] = user_id
        return user_id

    def add_team(self, name: str, members: list[str]) -> str:
        team_id = new_id()
        with self.lock:
            self.state.teams[team_id] = {"id": team_id, "name": name,
                                         "display_name": name.title(), "type": "O"}
            self.state.team_members[team_id] = set(members)
        return team_id

    def add_channel(self, team_id: str, name: str, members: list[str]) -> str:
        channel_id = new_id()
        with self.lock:
            self.state.channels[channel_id] = {"id": channel_id, "team_id": team_id,
                                               "name": name, "display_name": name, "type": "O"}
            self.state.channel_members[channel_id] = set(members)
        return channel_id

    def issue_trigger(self) -> str:
        trigger = secrets.token_urlsafe(24)
        with self.lock:
            self.state.triggers.add(trigger)
        return trigger

    def hook_url(self) -> str:
        hook_id = new_id()
        with self.lock:
            self.state.hooks[hook_id] = []
        return f"{self.url}/hooks/commands/{hook_id}"

    def fail(self, method: str, path: str, status: int, *, headers: dict[str, str] | None = None,
             times: int = 1, delay: float = 0.0) -> None:
        with self.lock:
            self.faults.append(Fault(method, re.compile(path), status, headers or {}, times,
                                     delay))

    # --- what tests read -------------------------------------------------------------------

    def calls(self, method: str, path_pattern: str) -> list[Recorded]:
        pattern = re.compile(path_pattern)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    def posts_in(self, channel_id: str) -> list[dict[str, Any]]:
        return [p for p in self.state.posts.values() if p["channel_id"] == channel_id]

    def pin(self, post_id: str) -> None:
        with self.lock:
            self.state.posts[post_id]["is_pinned"] = True

    def react(self, post_id: str) -> None:
        with self.lock:
            self.state.posts[post_id]["has_reactions"] = True

    def hook_bodies(self, url: str) -> list[dict[str, Any]]:
        return self.state.hooks.get(url.rsplit("/", 1)[-1], [])

    # --- dispatch ----------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str], raw: bytes) -> tuple[int, Any, dict[str, str]]:
        body = _decode(headers.get("content-type", ""), raw)
        with self.lock:
            self.requests.append(Recorded(method, path, query, headers, body))
            fault = self._fault(method, path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            return fault.status, {"id": "fake.injected", "message": "injected",
                                  "status_code": fault.status}, fault.headers
        if path.startswith("/hooks/commands/"):
            return self._hook(path, body)
        if not path.startswith("/api/v4/"):
            return 404, {"id": "api.context.404.app_error", "message": "not found"}, {}
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.state.tokens:
            self.violations.append(f"{method} {path} without the bot token")
            return 401, {"id": "api.context.session_expired.app_error",
                         "message": "Invalid or expired session, please login again.",
                         "status_code": 401}, {}
        me = self.state.tokens[auth[7:]]
        try:
            with self.lock:
                status, result = self._route(method, path[len("/api/v4"):], query, body, me)
        except ApiError as error:
            if error.status == 400:
                self.violations.append(f"{method} {path}: {error.message}")
            return error.status, {"id": error.error_id, "message": error.message,
                                  "status_code": error.status}, {}
        return status, result, {}

    def _fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.pattern.fullmatch(path):
                fault.times -= 1
                return fault
        return None

    def _hook(self, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        hook_id = path.rsplit("/", 1)[-1]
        with self.lock:
            if hook_id not in self.state.hooks:
                return 404, {"id": "web.command_webhook.invalid.app_error"}, {}
            if not isinstance(body, dict) or not isinstance(body.get("text", ""), str):
                self.violations.append("response_url body is not a command response")
                return 400, {"id": "web.command_webhook.parse.app_error"}, {}
            self.state.hooks[hook_id].append(body)
        return 200, None, {}

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
               me: str) -> tuple[int, Any]:
        s = self.state
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/users/me":
            return 200, s.users[me]
        if method == "GET" and path == "/users/me/teams":
            return 200, [t for tid, t in s.teams.items() if me in s.team_members[tid]]
        if method == "GET" and parts[:2] == ["users", "username"] and len(parts) == 3:
            for user in s.users.values():
                if user["username"] == parts[2].lower():
                    return 200, user
            raise ApiError(404, "app.user.missing_account.const", "We couldn't find the user.")
        if method == "GET" and parts[0] == "users" and len(parts) == 2:
            _check_id(parts[1], "user_id")
            if parts[1] not in s.users:
                raise ApiError(404, "app.user.missing_account.const", "We couldn't find the user.")
            return 200, s.users[parts[1]]
        if method == "GET" and parts[:2] == ["teams", "name"] and len(parts) == 3:
            for team_id, team in s.teams.items():
                if team["name"] == parts[2]:
                    if me not in s.team_members[team_id]:
                        raise ApiError(403, "api.context.permissions.app_error")
                    return 200, team
            raise ApiError(404, "app.team.get_by_name.missing.app_error")
        if method == "GET" and parts[0] == "teams" and len(parts) == 5 and parts[2:4] == [
                "channels", "name"]:
            _check_id(parts[1], "team_id")
            for channel in s.channels.values():
                if channel["team_id"] == parts[1] and channel["name"] == parts[4]:
                    return 200, channel
            raise ApiError(404, "app.channel.get_by_name.missing.app_error")
        if method == "GET" and parts[0] == "channels" and len(parts) == 2:
            _check_id(parts[1], "channel_id")
            if parts[1] not in s.channels:
                raise ApiError(404, "app.channel.get.existing.app_error")
            return 200, s.channels[parts[1]]
        if method == "POST" and path == "/channels/direct":
            return self._direct(body, me)
        if method == "POST" and path == "/posts":
            return self._create_post(body, me)
        if method == "PUT" and parts[0] == "posts" and len(parts) == 2:
            return self._update_post(parts[1], body, me)
        if method == "PUT" and parts[0] == "posts" and len(parts) == 3 and parts[2] == "patch":
            return self._patch_post(parts[1], body, me)
        if method == "POST" and path == "/files":
            return self._upload(body, me)
        if method == "POST" and path == "/actions/dialogs/open":
            return self._open_dialog(body)
        if method == "GET" and path == "/commands":
            team_id = query.get("team_id", [""])[0]
            _check_id(team_id, "team_id")
            return 200, [c for c in s.commands.values() if c["team_id"] == team_id]
        if method == "POST" and path == "/commands":
            return self._create_command(body, me)
        if method == "PUT" and parts[0] == "commands" and len(parts) == 2:
            return self._update_command(parts[1], body)
        raise ApiError(404, "api.context.404.app_error", f"no route {method} {path}")

    # --- the checked endpoints --------------------------------------------------------------

    def _direct(self, body: Any, me: str) -> tuple[int, Any]:
        if not (isinstance(body, list) and len(body) == 2
                and all(isinstance(i, str) and ID.match(i) for i in body)):
            raise ApiError(400, "api.context.invalid_body_param.app_error",
                           "the body must be an array of exactly two user ids")
        if me not in body:
            raise ApiError(403, "api.context.permissions.app_error")
        for user_id in body:
            if user_id not in self.state.users:
                raise ApiError(404, "app.user.missing_account.const")
        a, b = sorted(body)
        for channel in self.state.channels.values():
            if channel["type"] == "D" and channel["name"] == f"{a}__{b}":
                return 201, channel
        channel_id = new_id()
        self.state.channels[channel_id] = {"id": channel_id, "team_id": "", "type": "D",
                                           "name": f"{a}__{b}", "display_name": ""}
        self.state.channel_members[channel_id] = {a, b}
        return 201, self.state.channels[channel_id]

    def _create_post(self, body: Any, me: str) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "api.context.invalid_body_param.app_error", "not an object")
        channel_id, message = body.get("channel_id"), body.get("message")
        if not isinstance(channel_id, str) or not ID.match(channel_id):
            raise ApiError(400, "api.context.invalid_body_param.app_error", "channel_id")
        if not isinstance(message, str):
            raise ApiError(400, "api.context.invalid_body_param.app_error", "message")
        _check_post_content(body)
        file_ids = body.get("file_ids", [])
        if not isinstance(file_ids, list) or len(file_ids) > 5 or not all(
                isinstance(f, str) for f in file_ids):
            raise ApiError(400, "api.context.invalid_body_param.app_error", "file_ids")
        for file_id in file_ids:
            info = self.state.files.get(file_id)
            if info is None or info["channel_id"] != channel_id:
                raise ApiError(400, "api.post.create_post.file_ids.app_error",
                               "file not uploaded to this channel")
        if channel_id not in self.state.channels or me not in self.state.channel_members.get(
                channel_id, set()):
            raise ApiError(403, "api.context.permissions.app_error",
                           "You do not have the appropriate permissions.")
        post_id = new_id()
        post = {"id": post_id, "channel_id": channel_id, "user_id": me, "message": message,
                "props": body.get("props", {}), "file_ids": file_ids, "is_pinned": False,
                "has_reactions": False, "create_at": int(time.time() * 1000), "update_at": 0}
        self.state.posts[post_id] = post
        return 201, post

    def _update_post(self, post_id: str, body: Any, me: str) -> tuple[int, Any]:
        """`PUT /posts/{id}`: a full replacement; fields not sent are reset, as on a server."""
        _check_id(post_id, "post_id")
        if not isinstance(body, dict) or body.get("id") != post_id:
            raise ApiError(400, "api.context.invalid_body_param.app_error",
                           "the body's id must be the post id of the URL")
        if not isinstance(body.get("message", ""), str):
            raise ApiError(400, "api.context.invalid_body_param.app_error", "message")
        _check_post_content(body)
        post = self.state.posts.get(post_id)
        if post is None:
            raise ApiError(404, "app.post.get.app_error")
        if post["user_id"] != me:
            raise ApiError(403, "api.context.permissions.app_error")
        post.update(message=body.get("message", ""), props=body.get("props", {}),
                    is_pinned=bool(body.get("is_pinned", False)),
                    has_reactions=bool(body.get("has_reactions", False)),
                    update_at=int(time.time() * 1000))
        return 200, post

    def _patch_post(self, post_id: str, body: Any, me: str) -> tuple[int, Any]:
        """`PUT /posts/{id}/patch`: only the fields sent change (a sent `props` replaces
        the props); the rest of the post, its pin and reactions included, stays."""
        _check_id(post_id, "post_id")
        if not isinstance(body, dict):
            raise ApiError(400, "api.context.invalid_body_param.app_error", "not an object")
        if "message" in body and not isinstance(body["message"], str):
            raise ApiError(400, "api.context.invalid_body_param.app_error", "message")
        _check_post_content(body)
        post = self.state.posts.get(post_id)
        if post is None:
            raise ApiError(404, "app.post.get.app_error")
        if post["user_id"] != me:
            raise ApiError(403, "api.context.permissions.app_error")
        for key in ("message", "props", "is_pinned", "has_reactions", "file_ids"):
            if key in body:
                post[key] = body[key]
        post["update_at"] = int(time.time() * 1000)
        return 200, post

    def _upload(self, body: Any, me: str) -> tuple[int, Any]:
        if not isinstance(body, dict) or "channel_id" not in body or "files" not in body:
            raise ApiError(400, "api.context.invalid_body_param.app_error",
                           "multipart form with channel_id and files expected")
        channel_id = body["channel_id"]
        if channel_id not in self.state.channels or me not in self.state.channel_members.get(
                channel_id, set()):
            raise ApiError(403, "api.context.permissions.app_error")
        infos = []
        for name, content in body["files"]:
            file_id = new_id()
            self.state.files[file_id] = {"id": file_id, "name": name, "size": len(content),
                                         "channel_id": channel_id, "content": content}
            infos.append({"id": file_id, "name": name, "size": len(content)})
        return 201, {"file_infos": infos, "client_ids": []}

    def _open_dialog(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "api.context.invalid_body_param.app_error", "object expected")
        trigger, url, dialog = body.get("trigger_id"), body.get("url"), body.get("dialog")
        if not isinstance(url, str) or not re.match(r"^https?://", url):
            raise ApiError(400, "interactive_message.invalid_url", "empty or invalid URL")
        if not isinstance(trigger, str) or not trigger:
            raise ApiError(400, "interactive_message.decode_trigger_id", "empty trigger id")
        if trigger not in self.state.triggers:
            raise ApiError(400, "interactive_message.decode_trigger_id.expired",
                           "trigger id unknown, used before or expired")
        self.state.triggers.discard(trigger)
        _check_dialog(dialog)
        self.state.dialogs.append(body)
        return 200, {"status": "OK"}

    def _create_command(self, body: Any, me: str) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "api.context.invalid_body_param.app_error", "object expected")
        for required in ("team_id", "method", "trigger", "url"):
            if not isinstance(body.get(required), str) or not body[required]:
                raise ApiError(400, "api.context.invalid_body_param.app_error", required)
        _check_command(body)
        if me not in self.state.team_members.get(body["team_id"], set()):
            raise ApiError(403, "api.context.permissions.app_error")
        trigger = body["trigger"].lower()
        if any(c["team_id"] == body["team_id"] and c["trigger"] == trigger
               for c in self.state.commands.values()):
            raise ApiError(400, "api.command.duplicate_trigger.app_error",
                           "This trigger word is already in use.")
        command = {**_command_defaults(), **body, "trigger": trigger, "id": new_id(),
                   "token": new_id(), "creator_id": me, "create_at": 1, "update_at": 1}
        self.state.commands[command["id"]] = command
        return 201, command

    def _update_command(self, command_id: str, body: Any) -> tuple[int, Any]:
        _check_id(command_id, "command_id")
        if not isinstance(body, dict) or body.get("id") != command_id:
            raise ApiError(400, "api.context.invalid_body_param.app_error", "id")
        old = self.state.commands.get(command_id)
        if old is None:
            raise ApiError(404, "store.sql_command.get.missing.app_error")
        _check_command(body)
        updated = {**_command_defaults(), **body, "trigger": body["trigger"].lower()}
        for kept in ("id", "token", "create_at", "creator_id", "team_id"):
            updated[kept] = old[kept]
        updated["update_at"] = old["update_at"] + 1
        self.state.commands[command_id] = updated
        return 200, updated


# --- rule checks from the API reference and the server model ------------------------------


def _check_id(value: str, name: str) -> None:
    if not ID.match(value):
        raise ApiError(400, "api.context.invalid_url_param.app_error", f"invalid {name}")


def _check_post_content(body: dict[str, Any]) -> None:
    message = body.get("message", "")
    if len(message) > POST_LIMIT:
        raise ApiError(400, "model.post.is_valid.message_length.app_error",
                       f"message has {len(message)} characters, more than {POST_LIMIT}")
    props = body.get("props", {})
    if not isinstance(props, dict):
        raise ApiError(400, "api.context.invalid_body_param.app_error", "props")
    for attachment in props.get("attachments", []):
        for key in ("text", "pretext", "title", "fallback"):
            if len(str(attachment.get(key, ""))) > POST_LIMIT:
                raise ApiError(400, "model.post.is_valid.props.app_error", f"{key} too long")
        for action in attachment.get("actions", []):
            _check_action(action)


def _check_action(action: dict[str, Any]) -> None:
    if not action.get("name"):
        raise ApiError(400, "model.post.is_valid.action.app_error", "action must have a name")
    if action.get("type") not in ("button", "select"):
        raise ApiError(400, "model.post.is_valid.action.app_error", "invalid action type")
    if action.get("style", "default") not in ("default", "primary", "success", "good",
                                              "warning", "danger"):
        raise ApiError(400, "model.post.is_valid.action.app_error", "invalid style")
    if action.get("id") and not re.fullmatch(r"[A-Za-z0-9]+", action["id"]):
        raise ApiError(400, "model.post.is_valid.action.app_error", "action id not alphanumeric")
    integration = action.get("integration")
    if not isinstance(integration, dict) or not re.match(r"^https?://",
                                                         str(integration.get("url", ""))):
        raise ApiError(400, "model.post.is_valid.action.app_error", "invalid integration URL")


def _check_dialog(dialog: Any) -> None:
    if not isinstance(dialog, dict):
        raise ApiError(400, "interactive_message.invalid_dialog", "dialog must be an object")
    title = dialog.get("title", "")
    if not isinstance(title, str) or not title or len(title) > DIALOG_TITLE_MAX:
        raise ApiError(400, "interactive_message.invalid_dialog", f"invalid title {title!r}")
    names = set()
    for element in dialog.get("elements", []):
        name, label = element.get("name", ""), element.get("display_name", "")
        if not name or name in names:
            raise ApiError(400, "interactive_message.invalid_dialog", f"bad element name {name!r}")
        names.add(name)
        if not label or len(label) > DIALOG_LABEL_MAX:
            raise ApiError(400, "interactive_message.invalid_dialog", f"bad label {label!r}")
        if len(element.get("help_text", "")) > DIALOG_HELP_MAX:
            raise ApiError(400, "interactive_message.invalid_dialog", "help text too long")
        kind = element.get("type")
        if kind not in ("text", "textarea", "select", "bool", "radio"):
            raise ApiError(400, "interactive_message.invalid_dialog", f"bad type {kind!r}")
        if kind == "text" and (len(element.get("default", "")) > 150
                               or len(element.get("placeholder", "")) > 150):
            raise ApiError(400, "interactive_message.invalid_dialog", "text default too long")
        limit = {"text": DIALOG_TEXT_MAX, "textarea": DIALOG_TEXTAREA_MAX}.get(kind)
        if limit is not None and element.get("max_length", 0) > limit:
            raise ApiError(400, "interactive_message.invalid_dialog",
                           f"{kind} element {name!r}: max_length over {limit}")
        if element.get("min_length", 0) > element.get("max_length", 0) and "max_length" in element:
            raise ApiError(400, "interactive_message.invalid_dialog", "min > max length")
        if kind == "select" and not element.get("data_source"):
            values = [o.get("value") for o in element.get("options") or []]
            if element.get("default") and element["default"] not in values:
                raise ApiError(400, "interactive_message.invalid_dialog", "default not in options")
            if not values:
                raise ApiError(400, "interactive_message.invalid_dialog", "select without options")


def _check_command(body: dict[str, Any]) -> None:
    trigger = str(body.get("trigger", ""))
    if not 1 <= len(trigger) <= 128 or trigger.startswith("/") or " " in trigger:
        raise ApiError(400, "model.command.is_valid.trigger.app_error", "invalid trigger")
    if body.get("method") not in ("P", "G"):
        raise ApiError(400, "model.command.is_valid.method.app_error", "method must be P or G")
    if not re.match(r"^https?://", str(body.get("url", ""))):
        raise ApiError(400, "model.command.is_valid.url_http.app_error", "invalid url")
    if len(str(body.get("display_name", ""))) > 64:
        raise ApiError(400, "model.command.is_valid.display_name.app_error", "display name")
    if len(str(body.get("description", ""))) > 128:
        raise ApiError(400, "model.command.is_valid.description.app_error", "description")


def _command_defaults() -> dict[str, Any]:
    return {"username": "", "icon_url": "", "auto_complete": False, "auto_complete_desc": "",
            "auto_complete_hint": "", "display_name": "", "description": "", "delete_at": 0,
            "plugin_id": ""}


# --- HTTP plumbing -----------------------------------------------------------------------------


def _decode(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    if content_type.startswith("application/json"):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        form: dict[str, Any] = {"files": []}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                form["files"].append((part.get_filename(), payload))
            elif name:
                form[str(name)] = payload.decode()
        if not form["files"]:
            del form["files"]
        return form
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    return raw


def _handler_for(server: FakeMattermost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        wbufsize = -1

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = server.handle(self.command, split.path, parse_qs(split.query),
                                                headers, raw)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
