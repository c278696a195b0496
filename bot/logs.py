"""Logging for every `storydesk` command: one line per thing an operator can act on.

At the default level (INFO) the log says when Storydesk starts and stops, what failed and
what it did about it. What happens every tick or every request is DEBUG:

- APScheduler writes "Running job …" and "… executed successfully" on each tick (two lines
  every 30 s, about 5,700 a day) and warns about a skipped tick, which the next tick makes
  good: its loggers show only errors unless STORYDESK_LOG_LEVEL=DEBUG.
- httpx and httpcore log every request at INFO: shown only at DEBUG.
- Alembic reports each migration step: shown only at DEBUG.

`STORYDESK_LOG_FORMAT=json` writes one JSON object per line (time, level, logger, message,
and the exception's traceback as `exception` when there is one) for log collectors.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries that talk too much at INFO, and the level they get unless DEBUG is asked for.
CHATTY_LIBRARIES: dict[str, int] = {
    "apscheduler": logging.ERROR,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "alembic": logging.WARNING,
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text", *,
                      stream: TextIO | None = None, floor: str | None = None) -> logging.Handler:
    """Set up the root logger once for this process, replacing any earlier set-up.

    `floor` raises the level for commands whose output is for a person at a prompt (the
    console): there only warnings belong between the replies, unless DEBUG was asked for.
    """
    effective = level.upper()
    if floor is not None and effective != "DEBUG":
        effective = max(effective, floor.upper(), key=logging.getLevelName)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(effective)
    for name, quiet_level in CHATTY_LIBRARIES.items():
        logging.getLogger(name).setLevel(logging.NOTSET if effective == "DEBUG" else quiet_level)
    return handler
