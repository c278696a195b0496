"""The tick job that forgets requests handled long ago (see handlers/requests.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from handlers.requests import forget_before
from storage.db import write_session

EVERY = timedelta(hours=1)


def forget_handled_job(engine: Engine) -> Callable[[datetime], int]:
    """A tick job that prunes `handled_request` at most once an hour; returns rows removed."""
    last: list[datetime] = []

    def job(now: datetime) -> int:
        if last and now - last[0] < EVERY:
            return 0
        with write_session(engine) as session:
            removed = forget_before(session, now)
        last[:] = [now]
        return removed

    return job
