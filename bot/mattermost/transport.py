"""The Mattermost transport: what the outbox dispatcher sends, sent through REST API v4.

- channel posts go to the configured channel behind the logical name ("team", "group");
- story cards are updated in place once they exist (`PUT /posts/{id}/patch`, which keeps
  the card's pin and reactions);
- direct messages open the bot's DM channel with the member (`POST /channels/direct`),
  which is handed back to be cached on the member;
- charts are uploaded first (`POST /files`) and attached with `file_ids`;
- a post with buttons is created without them, then given buttons signed for its post id
  (and, in a direct message, for its reader): `PUT /posts/{id}/patch` right after `POST
  /posts`. Should that second call meet a 429, a 5xx or no answer, it is tried once more
  after the server's Retry-After (at most BUTTONS_RETRY_MAX_WAIT seconds); should that
  fail too, the post stays without buttons (a card gets them with its next update); the
  `/story` commands do the same.
- a send reports how many API calls it took (the post, its buttons, a DM channel opened,
  charts uploaded), and the dispatcher's pacer charges them all: Mattermost's rate limit
  counts calls.

Failures are sorted for the dispatcher: no answer, 429 and 5xx are temporary (with the
server's Retry-After); 401, 403 and 404 are permanent, with a stable cause.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bot.delivery.transport import Delivery, PermanentFailure, SendResult, TemporaryFailure
from bot.mattermost.client import MattermostClient, MattermostError, MattermostUnreachable
from bot.mattermost.directory import USER_ID
from bot.mattermost.render import MattermostRenderer, RenderedReply
from handlers.reply import Reply

log = logging.getLogger(__name__)

MAX_FILES_PER_POST = 5
BUTTONS_RETRY_MAX_WAIT = 5.0  # seconds a send waits, at most, to add a post's buttons again


def failure(error: MattermostError | MattermostUnreachable, what: str) -> Exception:
    """The dispatcher's view of an API error about `what` ("channel", "user", "post")."""
    if isinstance(error, MattermostUnreachable):
        return TemporaryFailure(f"Mattermost did not answer: {error}")
    if error.temporary:
        return TemporaryFailure(f"Mattermost answered {error.status}", error.retry_after)
    if error.status == 401:
        return PermanentFailure("mattermost_token_rejected",
                                "Mattermost refused the bot token (401); check "
                                "MATTERMOST_BOT_TOKEN")
    if error.status == 403:
        return PermanentFailure(f"{what}_forbidden",
                                f"the bot may not post there (403 {error.error_id}); add the "
                                "bot to the channel")
    if error.status == 404:
        return PermanentFailure(f"{what}_not_found", f"Mattermost has no such {what} (404)")
    return PermanentFailure("mattermost_rejected", f"{error.status} {error.error_id}: "
                            f"{error.message}"[:300])


class ChannelResolver:
    """Logical channel ("team", "group") -> Mattermost channel id, looked up once.

    A configured channel is given as a channel id (26 characters), as `team/channel` (the
    team's and the channel's URL names, as in https://chat.example.org/team/channels/channel),
    or as a bare channel name, searched in every team the bot belongs to.
    """

    def __init__(self, client: MattermostClient, channels: dict[str, str]) -> None:
        self.client = client
        self.channels = channels
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def resolve(self, logical: str) -> str:
        with self._lock:
            known = self._ids.get(logical)
        if known:
            return known
        spec = self.channels.get(logical, logical).strip().lstrip("~#")
        if not spec:
            raise PermanentFailure("channel_not_configured",
                                   f"no Mattermost channel is configured for {logical!r}")
        try:
            channel_id = self._find(spec)
        except (MattermostError, MattermostUnreachable) as error:
            raise failure(error, "channel") from error
        with self._lock:
            self._ids[logical] = channel_id
        return channel_id

    def forget(self, logical: str) -> None:
        with self._lock:
            self._ids.pop(logical, None)

    def _find(self, spec: str) -> str:
        if USER_ID.match(spec):
            try:
                return str(self.client.channel(spec)["id"])
            except MattermostError as error:
                if error.status != 404:
                    raise
        team_name, _, channel_name = spec.rpartition("/")
        team_name = team_name.replace("/channels", "").strip("/")
        if team_name:
            team = self.client.team_by_name(team_name)
            return str(self.client.channel_by_name(str(team["id"]), channel_name)["id"])
        found = []
        for team in self.client.my_teams():
            try:
                found.append(self.client.channel_by_name(str(team["id"]), channel_name))
            except MattermostError as error:
                if error.status not in (403, 404):
                    raise
        if len(found) > 1:
            raise PermanentFailure(
                "channel_ambiguous",
                f"channel {channel_name!r} exists in several teams; write it as team/channel")
        if not found:
            raise MattermostError(404, "store.sql_channel.get_by_name.missing.app_error",
                                  f"no channel {channel_name!r} in the bot's teams",
                                  path="channels")
        return str(found[0]["id"])


class MattermostTransport:
    platform = "mattermost"

    def __init__(
        self, client: MattermostClient, renderer: MattermostRenderer, resolver: ChannelResolver,
        bot_user_id: str, *, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.renderer = renderer
        self.resolver = resolver
        self.bot_user_id = bot_user_id
        self.sleep = sleep  # only the dispatcher's sender threads wait here

    def send(self, delivery: Delivery) -> SendResult:
        before = self.client.requests_made()
        result = self._send(delivery)
        return replace(result, calls=max(1, self.client.requests_made() - before))

    def _send(self, delivery: Delivery) -> SendResult:
        rendered = self.renderer.render(delivery.reply, with_actions=False)
        if delivery.recipient is not None:
            return self._send_direct(delivery, rendered)
        if not delivery.channel:
            raise PermanentFailure("no_destination", "neither a channel nor a member")
        if delivery.kind == "card" and delivery.card is not None:
            updated = self._update_card(delivery)
            if updated is not None:
                return updated
        channel_id = self.resolver.resolve(delivery.channel)
        try:
            post_id = self.post(channel_id, rendered)
        except MattermostError as error:
            if error.status in (403, 404):
                self.resolver.forget(delivery.channel)
            raise failure(error, "channel") from error
        except MattermostUnreachable as error:
            raise failure(error, "channel") from error
        self.add_buttons(post_id, delivery.reply)
        return SendResult(message_id=post_id, channel_id=channel_id)

    def add_buttons(self, post_id: str, reply: Reply, user_id: str = "") -> None:
        """Give a new post its buttons, signed for the post (and the person reading it)."""
        if not reply.actions or not self.renderer.action_url:
            return
        rendered = self.renderer.render(reply, post_id=post_id, user_id=user_id)
        try:
            self._update_with_one_retry(post_id, rendered)
        except (MattermostError, MattermostUnreachable) as error:
            log.warning("post %s went out without its buttons: %s", post_id, error)

    def _update_with_one_retry(self, post_id: str, rendered: RenderedReply) -> None:
        """The post is out already, so a passing failure (429, 5xx, no answer) is worth one
        more try after the server's Retry-After, briefly: the post cannot be sent again."""
        try:
            self.client.update_post(post_id, rendered.message, rendered.props)
        except (MattermostError, MattermostUnreachable) as error:
            if isinstance(error, MattermostError) and not error.temporary:
                raise
            wait = error.retry_after if isinstance(error, MattermostError) else None
            self.sleep(min(BUTTONS_RETRY_MAX_WAIT, 1.0 if wait is None else wait))
            self.client.update_post(post_id, rendered.message, rendered.props)

    def _update_card(self, delivery: Delivery) -> SendResult | None:
        assert delivery.card is not None
        rendered = self.renderer.render(delivery.reply, post_id=delivery.card.message_id)
        try:
            self.client.update_post(delivery.card.message_id, rendered.message, rendered.props)
        except MattermostError as error:
            if error.status in (403, 404):
                log.info("card %s is gone (%s); posting a new one", delivery.card.message_id,
                         error.status)
                return None
            raise failure(error, "post") from error
        except MattermostUnreachable as error:
            raise failure(error, "post") from error
        return SendResult(message_id=delivery.card.message_id,
                          channel_id=delivery.card.channel_id)

    def _send_direct(self, delivery: Delivery, rendered: RenderedReply) -> SendResult:
        recipient = delivery.recipient
        assert recipient is not None
        cached = recipient.dm_channel
        channel_id = cached or self.open_direct(recipient.user_id)
        try:
            post_id = self.post(channel_id, rendered)
        except MattermostError as error:
            if cached and error.status in (403, 404):
                # The cached channel is gone (user re-created, data retention): open it anew.
                channel_id = self.open_direct(recipient.user_id)
                post_id = self._post_or_fail(channel_id, rendered)
            else:
                raise failure(error, "user") from error
        except MattermostUnreachable as error:
            raise failure(error, "user") from error
        self.add_buttons(post_id, delivery.reply, recipient.user_id)
        return SendResult(message_id=post_id, channel_id=channel_id, dm_channel=channel_id)

    def open_direct(self, user_id: str) -> str:
        try:
            channel = self.client.direct_channel(self.bot_user_id, user_id)
        except (MattermostError, MattermostUnreachable) as error:
            raise failure(error, "user") from error
        return str(channel["id"])

    def _post_or_fail(self, channel_id: str, rendered: RenderedReply) -> str:
        try:
            return self.post(channel_id, rendered)
        except (MattermostError, MattermostUnreachable) as error:
            raise failure(error, "user") from error

    def post(self, channel_id: str, rendered: RenderedReply) -> str:
        file_ids = self.upload_images(channel_id, rendered)
        post = self.client.create_post(rendered.post_body(channel_id, file_ids))
        return str(post["id"])

    def upload_images(self, channel_id: str, rendered: RenderedReply) -> list[str]:
        file_ids = []
        for image in rendered.images[:MAX_FILES_PER_POST]:
            path = Path(image.path)
            try:
                content = path.read_bytes()
            except OSError as error:
                log.warning("chart %s cannot be read (%s); posting without it", path, error)
                continue
            file_ids.append(self.client.upload_file(channel_id, path.name, content))
        return file_ids
