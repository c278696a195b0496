"""The logger handed to bolt, without the one warning that is always wrong for Storydesk.

Storydesk gives bolt its own WebClient (built from SLACK_BOT_TOKEN, with its timeouts and
retry handlers). Bolt also reads SLACK_BOT_TOKEN from the environment by itself, and warns
"As you gave `client` as well, `token` will be unused" on every start when both are there:
a line nobody can act on, since the token is the same one. Every other bolt message passes.
"""

from __future__ import annotations

import logging

from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

LOGGER_NAME = "storydesk.slack.bolt"


class _DropClientTokenWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def bolt_logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, _DropClientTokenWarning) for f in logger.filters):
        logger.addFilter(_DropClientTokenWarning())
    return logger
