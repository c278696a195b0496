"""Prometheus metrics: commands handled, ack latency, outbox depth, inbox failures."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage.db import read_session
from storage.models import Outbound

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class Metrics:
    """One registry per runtime, so that tests and replicas never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "storydesk_commands_total", "Commands handled, by name and outcome",
            ["command", "outcome"], registry=self.registry,
        )
        self.answer_seconds = Histogram(
            "storydesk_command_seconds",
            "Time from a command's start to its answer, by platform and command",
            ["platform", "command"], buckets=ACK_BUCKETS, registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "storydesk_ack_seconds", "Time from a request's arrival to its acknowledgement",
            ["platform"], buckets=ACK_BUCKETS, registry=self.registry,
        )
        self.inbox_write_failures = Counter(
            "storydesk_inbox_write_failures_total",
            "Requests past the answer deadline that the inbox could not hold, by platform "
            "and error", ["platform", "error"], registry=self.registry,
        )

    def count_command(self, command: str, outcome: str, seconds: float, platform: str) -> None:
        name = command.split(":")[0]
        self.commands.labels(command=name, outcome=outcome).inc()
        self.answer_seconds.labels(platform=platform, command=name).observe(seconds)

    def count_inbox_write_failure(self, platform: str, error: str) -> None:
        self.inbox_write_failures.labels(platform=platform, error=error).inc()

    def watch_outbox(self, engine: Engine) -> None:
        self.registry.register(OutboxCollector(engine))


class OutboxCollector(Collector):
    """Reads the outbox depth at scrape time, so it is right on every replica."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "storydesk_outbox_messages", "Outbound messages by status", labels=["status"]
        )
        try:
            with read_session(self.engine) as session:
                rows = session.exec(
                    select(Outbound.status, func.count()).group_by(Outbound.status)
                ).all()
        except Exception:
            rows = []
        counts = dict.fromkeys(("pending", "sending", "sent", "failed", "expired"), 0)
        counts.update({status: count for status, count in rows})
        for status, count in sorted(counts.items()):
            gauge.add_metric([status], count)
        yield gauge
