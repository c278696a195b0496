"""A late answer: through the response URL, else by direct message.

A command that outlives its platform's deadline is acknowledged before it is done and
answered once it has committed, through the response URL the platform gave with it. That
URL can refuse the answer (expired, used up, the platform unreachable for a moment) although
the work has taken effect; a person who then hears nothing concludes that it was not taken,
and sends it again. So the answer goes to their direct messages with the bot instead. If
that fails too and nothing will try again, `lost` says so in the log, naming the person,
for the operator to follow up.

Each platform brings its own two ways of posting (each logs its own failure and returns
False): Slack's in bot/slack/deadline.py, Mattermost's in bot/mattermost/web.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

Answer = TypeVar("Answer")


def deliver(answer: Answer, user_id: str, response_url: str,
            respond: Callable[[str, Answer], bool],
            direct_message: Callable[[str, Answer], bool]) -> bool:
    """Whether `answer` reached the person: `respond(response_url, answer)` if there is a
    response URL, else (or if it refused) `direct_message(user_id, answer)`."""
    if response_url:
        if respond(response_url, answer):
            return True
        log.warning("the response URL refused an answer to %s; it goes by direct message",
                    user_id)
    return direct_message(user_id, answer)


def lost(user_id: str) -> None:
    """The log line for an answer nothing delivered and nothing will try again."""
    log.error("the late answer to a request of %s could not be delivered, not even by direct "
              "message: they were told to send it again if no answer came, although it may "
              "have taken effect", user_id)
