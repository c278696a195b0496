"""The Slack Web API client, the start-up token check, and how Slack errors are classified."""

from __future__ import annotations

import http.client
import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.delivery.transport import PermanentFailure, TemporaryFailure
from bot.errors import StartupError
from bot.slack.render import render_message
from handlers.reply import Reply

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_RETRY_AFTER = 30.0
# Codes Slack documents as transient; anything else with "ok": false will not get better.
TEMPORARY_ERRORS = frozenset({
    "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
    "request_timeout", "timeout", "team_added_to_org",
})
BAD_TOKEN_ERRORS = frozenset({
    "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
    "no_permission", "org_login_required", "ekm_access_denied", "missing_scope",
    "not_allowed_token_type", "invalid_token",
})


def api_base_url(configured: str) -> str:
    """SLACK_API_URL (or Slack's own), always ending with the slash WebClient needs."""
    return (configured.rstrip("/") + "/") if configured else DEFAULT_API_URL


def make_web_client(token: str, api_url: str = "", *, timeout: int = 20,
                    retry: bool = True) -> WebClient:
    """A WebClient that never sleeps on a 429: the outbox waits instead of a thread.

    slack_sdk only retries rate-limited calls when a RateLimitErrorRetryHandler is added;
    none is. `retry=False` also drops the one retry on a connection error, for the
    outbox transport, whose messages are retried by the dispatcher.
    """
    client = WebClient(token=token, base_url=api_base_url(api_url), timeout=timeout)
    if not retry:
        client.retry_handlers = []
    return client


def error_code(error: SlackApiError) -> str:
    data = error.response.data if error.response is not None else None
    if isinstance(data, dict):
        return str(data.get("error") or "unknown_error")
    return "unknown_error"


def retry_after(error: SlackApiError) -> float:
    headers = error.response.headers if error.response is not None else {}
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name) if headers else None
        if value is not None:
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER


# Slack limits these methods per channel (about a message a second each), beside a
# workspace-wide limit: their 429 holds back that channel, not every send.
PER_CHANNEL_METHODS = frozenset({"chat.postMessage", "chat.update"})


def classify(error: Exception) -> TemporaryFailure | PermanentFailure:
    """A Slack client exception as the dispatcher understands it."""
    if isinstance(error, SlackApiError):
        status = error.response.status_code if error.response is not None else 0
        code = error_code(error)
        if status == 429 or code in {"ratelimited", "rate_limited"}:
            api_url = getattr(error.response, "api_url", "") or ""
            scope = ("destination" if api_url.rsplit("/", 1)[-1] in PER_CHANNEL_METHODS
                     else "platform")
            return TemporaryFailure(f"slack: rate limited ({code})", retry_after(error), scope)
        if status >= 500:
            return TemporaryFailure(f"slack: HTTP {status}")
        if code in TEMPORARY_ERRORS:
            return TemporaryFailure(f"slack: {code}")
        return PermanentFailure(code, f"slack: {code}")
    if isinstance(error, (OSError, http.client.HTTPException, SlackClientError)):
        # Timeouts, refused or dropped connections, a failed upload: worth another try.
        return TemporaryFailure(f"slack: {type(error).__name__}: {error}")
    return PermanentFailure("unexpected", f"slack: {type(error).__name__}: {error}")


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BotIdentity:
    team: str
    team_id: str
    user_id: str
    bot_id: str


def check_token(client: WebClient) -> BotIdentity:
    """auth.test once at start-up; a bad token becomes one clear StartupError."""
    try:
        response = client.auth_test()
    except SlackApiError as error:
        code = error_code(error)
        if code in BAD_TOKEN_ERRORS:
            raise StartupError(
                f"Slack refused SLACK_BOT_TOKEN ({code}): the token is wrong, revoked or the "
                "app was uninstalled. Copy the Bot User OAuth Token (xoxb-...) from the app's "
                "OAuth & Permissions page."
            ) from None
        raise StartupError(f"Slack's auth.test failed ({code}); try again shortly.") from None
    except (OSError, http.client.HTTPException, SlackClientError) as error:
        raise StartupError(
            f"cannot reach the Slack Web API at {client.base_url} ({type(error).__name__}: "
            f"{error}); check the network or SLACK_API_URL."
        ) from None
    return BotIdentity(
        team=str(response.get("team") or ""), team_id=str(response.get("team_id") or ""),
        user_id=str(response.get("user_id") or ""), bot_id=str(response.get("bot_id") or ""),
    )


def post_message(client: WebClient, channel: str, reply: Reply, thread_ts: str = "") -> bool:
    """Post `reply` straight away (a user id for their DM with the bot, or a channel, with
    `thread_ts` in a thread); False, logged, if Slack did not take it."""
    if not channel:
        return False
    message = render_message(reply)
    if thread_ts:
        message["thread_ts"] = thread_ts
    try:
        client.chat_postMessage(channel=channel, **message)
    except (SlackApiError, SlackClientError, OSError) as error:
        log.warning("message to %s failed: %s", channel, error)
        return False
    return True
