"""A desk for delivery tests: the real tick job, ticker and dispatcher on a frozen clock,
and a transport that records what it is handed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.delivery.dispatcher import Dispatcher
from bot.delivery.scheduler import Ticker, reminder_job
from bot.delivery.transport import Delivery, SendResult
from handlers.context import Policy
from storage.db import read_session
from storage.models import Outbound

BERLIN = ZoneInfo("Europe/Berlin")


def local(text: str, zone: ZoneInfo = BERLIN) -> datetime:
    """'2026-11-30 09:00' in `zone` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


@dataclass
class RecordingTransport:
    platform: str = "console"
    sent: list[Delivery] = field(default_factory=list)

    def send(self, delivery: Delivery) -> SendResult:
        self.sent.append(delivery)
        return SendResult(f"msg-{delivery.outbound_id}", channel_id="C1")


@dataclass
class Desk:
    engine: Engine
    policy: Policy
    clock: FrozenDateTimeFactory
    transport: RecordingTransport
    dispatcher: Dispatcher
    ticker: Ticker

    def at(self, when: datetime) -> list[Delivery]:
        """Move the frozen clock to `when`, tick as the scheduler does, deliver."""
        self.clock.move_to(when)
        before = len(self.transport.sent)
        self.ticker.tick()
        self.dispatcher.dispatch_due(datetime.now(UTC))
        return self.transport.sent[before:]

    def dispatch(self, when: datetime) -> list[Delivery]:
        """Move the clock to `when` and deliver without ticking: the dispatcher's worker
        wakes on its own when a held message falls due, whenever the next tick comes."""
        self.clock.move_to(when)
        before = len(self.transport.sent)
        self.dispatcher.dispatch_due(datetime.now(UTC))
        return self.transport.sent[before:]

    def keys(self, status: str | None = None) -> list[str]:
        with read_session(self.engine) as session:
            query = select(Outbound.unique_key).order_by(col(Outbound.id))
            if status is not None:
                query = query.where(Outbound.status == status)
            return list(session.exec(query).all())


def dms(deliveries: list[Delivery], name: str | None = None) -> list[Delivery]:
    return [d for d in deliveries if d.recipient is not None
            and (name is None or d.recipient.display_name == name)]


def posts(deliveries: list[Delivery], channel: str) -> list[Delivery]:
    return [d for d in deliveries if d.recipient is None and d.channel == channel]


@pytest.fixture
def desk(engine: Engine, policy: Policy) -> Iterator[Desk]:
    with freeze_time(datetime(2026, 11, 23, 8, 0, tzinfo=UTC)) as clock:
        transport = RecordingTransport()
        dispatcher = Dispatcher(engine, {"console": transport}, owner="test")
        ticker = Ticker([reminder_job(engine, policy)], 30, wake=lambda: None)
        yield Desk(engine, policy, clock, transport, dispatcher, ticker)
