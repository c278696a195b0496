"""The Slack Transport: the outbox dispatcher's way into Slack.

- a channel post goes to the configured channel (STORYDESK_TEAM_CHANNEL / _GROUP_CHANNEL);
- a story card is posted once, then updated in place with chat.update;
- a direct message is chat.postMessage to the user id (Slack opens the DM; the returned
  channel id is kept so later messages go straight to it);
- charts and files follow the message through files_upload_v2, into the same channel;
- an answer owed to a button press or a form (kind "response") goes to the request's
  response_url, where Slack shows it to that person only (unless meant for all).

Nothing here sleeps: a 429 becomes TemporaryFailure(retry_after) and the message waits in
the outbox for its Retry-After, without holding a thread.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.delivery.transport import Delivery, PermanentFailure, SendResult, TemporaryFailure
from bot.slack.client import classify, error_code
from bot.slack.render import image_blocks, render_message, render_response
from handlers.reply import Image

log = logging.getLogger(__name__)

# chat.update cannot reach the old card any more: post a new one instead.
CARD_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed",
                       "channel_not_found", "is_archived"})
_REMEMBERED = 500


class SlackTransport:
    platform = "slack"

    def __init__(self, client: WebClient, channels: Mapping[str, str]) -> None:
        self.client = client
        self.channels = dict(channels)
        # Messages already posted whose files are still to upload, by outbound id: a
        # retry after a failed upload must not post the message a second time.
        self._posted: OrderedDict[int, SendResult] = OrderedDict()
        self._lock = threading.Lock()

    def send(self, delivery: Delivery) -> SendResult:
        try:
            return self._send(delivery)
        except (SlackApiError, SlackClientError, OSError, http.client.HTTPException) as error:
            raise classify(error) from error

    def _send(self, delivery: Delivery) -> SendResult:
        if delivery.kind == "response":
            return self._respond(delivery)
        images = image_blocks(delivery.reply)
        for image in images:
            if not os.path.isfile(image.path):
                raise PermanentFailure("file_missing", f"no such file to upload: {image.path}")
        with self._lock:
            result = self._posted.get(delivery.outbound_id)
        if result is None:
            result = self._post(delivery)
            if images:
                self._remember(delivery.outbound_id, result)
        for image in images:
            assert result.channel_id is not None
            self._upload(image, result.channel_id)
        with self._lock:
            self._posted.pop(delivery.outbound_id, None)
        return result

    def _post(self, delivery: Delivery) -> SendResult:
        is_card = delivery.kind == "card"
        # Each version of a card is its own outbox row, so its id names this iteration.
        iteration = f"card{delivery.reply.story_id or 0}-m{delivery.outbound_id}" if is_card \
            else None
        message = render_message(delivery.reply, lead_text=not is_card, iteration=iteration)
        if is_card and delivery.card is not None:
            try:
                self.client.chat_update(channel=delivery.card.channel_id,
                                        ts=delivery.card.message_id, **message)
                return SendResult(delivery.card.message_id, channel_id=delivery.card.channel_id)
            except SlackApiError as error:
                if error_code(error) not in CARD_GONE:
                    raise
                log.info("story card %s is gone (%s); posting a new one",
                         delivery.card.message_id, error_code(error))
        target = self._target(delivery)
        response = self.client.chat_postMessage(channel=target, **message)
        channel_id = str(response.get("channel") or target)
        ts = str(response.get("ts"))
        dm_channel = channel_id if delivery.recipient is not None else None
        return SendResult(ts, channel_id=channel_id, dm_channel=dm_channel)

    def _respond(self, delivery: Delivery) -> SendResult:
        """A response_url takes five posts in thirty minutes; after that, Slack says 404."""
        url = str(delivery.reply.data.get("response_url") or "")
        if not url:
            raise PermanentFailure("no_response_url", "an answer without a response_url")
        timeout = getattr(self.client, "timeout", 10)
        response = WebhookClient(url, timeout=timeout).send_dict(
            render_response(delivery.reply))
        if response.status_code == 429 or response.status_code >= 500:
            raise TemporaryFailure(f"response_url answered {response.status_code}")
        if response.status_code != 200:
            raise PermanentFailure("response_url_expired",
                                   f"response_url answered {response.status_code}")
        return SendResult(f"response:{delivery.outbound_id}")

    def _target(self, delivery: Delivery) -> str:
        if delivery.recipient is not None:
            return delivery.recipient.dm_channel or delivery.recipient.user_id
        logical = delivery.channel or "team"
        configured = self.channels.get(logical)
        if not configured:
            raise PermanentFailure("channel_not_configured",
                                   f"no Slack channel configured for {logical!r}")
        return configured

    def _upload(self, image: Image, channel_id: str) -> None:
        self.client.files_upload_v2(
            channel=channel_id, file=image.path, filename=os.path.basename(image.path),
            title=image.title[:250],
        )

    def _remember(self, outbound_id: int, result: SendResult) -> None:
        with self._lock:
            self._posted[outbound_id] = result
            while len(self._posted) > _REMEMBERED:
                self._posted.popitem(last=False)
