"""A small client for the Mattermost REST API v4, authenticated with a bot token.

Only the calls Storydesk makes. Every call raises `MattermostError` with the HTTP status,
Mattermost's error id and, for 429, how long to wait; network failures and timeouts raise
`MattermostUnreachable`. The transport and the web endpoints decide what each means.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

USER_AGENT = "Storydesk (Mattermost adapter)"


class MattermostUnreachable(Exception):
    """The server did not answer: connection refused, DNS, TLS, timeout."""


class MattermostError(Exception):
    def __init__(
        self, status: int, error_id: str, message: str, *, path: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {error_id or 'error'} on {path}: {message}".strip())
        self.status = status
        self.error_id = error_id
        self.message = message
        self.path = path
        self.retry_after = retry_after

    @property
    def temporary(self) -> bool:
        return self.status == 429 or self.status >= 500


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait after a 429: Retry-After, else X-Ratelimit-Reset.

    Mattermost's limiter sends both as a number of seconds; an absolute epoch value (as some
    proxies send in X-Ratelimit-Reset) is turned into a delay.
    """
    for name in ("Retry-After", "X-Ratelimit-Reset"):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw.strip())
        except ValueError:
            continue
        if value > 1e9:
            value -= now if now is not None else time.time()
        return max(0.0, min(value, 3600.0))
    return None


class MattermostClient:
    def __init__(
        self, url: str, token: str, *, timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url + "/api/v4",
            headers={"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT},
            timeout=timeout,
            transport=transport,
        )
        # Response URLs and the like are not the API: never send the bot token there.
        self.plain = httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=timeout,
                                  transport=transport)
        self._made = threading.local()

    def requests_made(self) -> int:
        """API calls this thread has made so far: a send counts its own, which the
        dispatcher's pacer charges (Mattermost's rate limit counts calls, not messages)."""
        return int(getattr(self._made, "count", 0))

    def close(self) -> None:
        self.http.close()
        self.plain.close()

    # --- the one request function ------------------------------------------------------

    def request(
        self, method: str, path: str, *, json: Any = None,
        params: Mapping[str, str] | None = None, files: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        self._made.count = self.requests_made() + 1
        try:
            response = self.http.request(method, path, json=json, params=params, files=files,
                                         data=data)
        except httpx.TimeoutException as error:
            raise MattermostUnreachable(f"timed out: {method} {path}") from error
        except httpx.HTTPError as error:
            raise MattermostUnreachable(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 400:
            raise _error_from(response, path)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    # --- users and the bot ---------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/users/me")
        return result

    def user(self, user_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/users/{quote(user_id, safe='')}")
        return result

    def user_by_username(self, username: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "GET", f"/users/username/{quote(username, safe='')}")
        return result

    # --- teams and channels --------------------------------------------------------------

    def team_by_name(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/teams/name/{quote(name, safe='')}")
        return result

    def team(self, team_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/teams/{quote(team_id, safe='')}")
        return result

    def my_teams(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/users/me/teams")
        return result

    def channel(self, channel_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/channels/{quote(channel_id, safe='')}")
        return result

    def channel_by_name(self, team_id: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "GET", f"/teams/{quote(team_id, safe='')}/channels/name/{quote(name, safe='')}")
        return result

    def direct_channel(self, user_a: str, user_b: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/channels/direct", json=[user_a, user_b])
        return result

    # --- posts and files ------------------------------------------------------------------

    def create_post(self, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/posts", json=dict(body))
        return result

    def update_post(self, post_id: str, message: str, props: Mapping[str, Any]) -> dict[str, Any]:
        """Change a post's message and props, and nothing else.

        `PUT /posts/{id}` replaces the whole post (a pinned card comes unpinned, its
        reactions flag is cleared); the patch endpoint changes only the fields it is sent.
        """
        body = {"message": message, "props": dict(props)}
        result: dict[str, Any] = self.request(
            "PUT", f"/posts/{quote(post_id, safe='')}/patch", json=body)
        return result

    def upload_file(self, channel_id: str, filename: str, content: bytes) -> str:
        result = self.request(
            "POST", "/files", data={"channel_id": channel_id},
            files={"files": (filename, content, _content_type(filename))},
        )
        infos = result.get("file_infos") if isinstance(result, dict) else None
        if not infos:
            raise MattermostError(500, "no_file_infos", "upload answered no file", path="/files")
        file_id: str = infos[0]["id"]
        return file_id

    # --- interactivity ---------------------------------------------------------------------

    def open_dialog(self, trigger_id: str, url: str, dialog: Mapping[str, Any]) -> None:
        self.request("POST", "/actions/dialogs/open",
                     json={"trigger_id": trigger_id, "url": url, "dialog": dict(dialog)})

    def respond(self, response_url: str, body: Mapping[str, Any]) -> None:
        """Answer a slash command later, through the response URL it came with."""
        try:
            response = self.plain.post(response_url, json=dict(body))
        except httpx.HTTPError as error:
            raise MattermostUnreachable(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 400:
            raise _error_from(response, "response_url")

    # --- slash commands ---------------------------------------------------------------------

    def list_commands(self, team_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request(
            "GET", "/commands", params={"team_id": team_id, "custom_only": "true"})
        return result

    def create_command(self, command: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/commands", json=dict(command))
        return result

    def update_command(self, command: Mapping[str, Any]) -> dict[str, Any]:
        command_id = quote(str(command["id"]), safe="")
        result: dict[str, Any] = self.request("PUT", f"/commands/{command_id}",
                                              json=dict(command))
        return result


def _error_from(response: httpx.Response, path: str) -> MattermostError:
    error_id, message = "", response.reason_phrase
    try:
        body = response.json()
        if isinstance(body, dict):
            error_id = str(body.get("id", ""))
            message = str(body.get("message", message))
    except ValueError:
        pass
    retry = retry_after_seconds(response.headers) if response.status_code == 429 else None
    return MattermostError(response.status_code, error_id, message, path=path,
                           retry_after=retry)


def _content_type(filename: str) -> str:
    lowered = filename.lower()
    for suffix, kind in ((".png", "image/png"), (".svg", "image/svg+xml"),
                         (".jpg", "image/jpeg"), (".jpeg", "image/jpeg"),
                         (".csv", "text/csv"), (".pdf", "application/pdf")):
        if lowered.endswith(suffix):
            return kind
    return "application/octet-stream"


def display_name(user: Mapping[str, Any]) -> str:
    """How a person is shown: full name, else nickname, else username."""
    full = " ".join(str(user.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    return full or str(user.get("nickname") or "").strip() or str(user.get("username") or "")


def user_timezone(user: Mapping[str, Any]) -> str | None:
    zone = user.get("timezone")
    if not isinstance(zone, Mapping):
        return None
    automatic = str(zone.get("useAutomaticTimezone", "")).lower() == "true"
    name = zone.get("automaticTimezone") if automatic else zone.get("manualTimezone")
    return str(name) if name else None

