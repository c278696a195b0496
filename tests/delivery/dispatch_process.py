"""A dispatcher process for the multi-process tests: the real Dispatcher, an httpx
transport to the fake platform, one PostgreSQL schema. It waits for a go-file, then
delivers until nothing is left to send, and prints its report as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, func
from sqlmodel import col, select

from bot.delivery.dispatcher import Dispatcher, DispatchReport
from storage.db import make_engine, read_session
from storage.models import Outbound
from tests.delivery.fake_platform import HttpTransport


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--platform-url", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--lease", type=float, default=3)
    parser.add_argument("--timeout", type=float, default=1)
    parser.add_argument("--go", required=True)
    parser.add_argument("--deadline", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    engine = make_engine(args.url, pool_size=2)

    @event.listens_for(engine, "connect")
    def search_path(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET search_path TO "{args.schema}"')
        cursor.close()
        dbapi_connection.commit()

    transport = HttpTransport(args.platform_url, timeout=args.timeout)
    dispatcher = Dispatcher(engine, {"fake": transport}, owner=args.owner,
                            lease_seconds=int(args.lease), send_timeout_seconds=args.timeout,
                            lease_margin_seconds=0.5, batch_size=10,
                            concurrency=args.concurrency)
    go = Path(args.go)
    while not go.exists():
        time.sleep(0.01)
    print(json.dumps({"started": True}), flush=True)
    total = DispatchReport()
    deadline = time.monotonic() + args.deadline
    while time.monotonic() < deadline:
        total.add(dispatcher.dispatch_due(datetime.now(UTC)))
        with read_session(engine) as session:
            left = session.exec(select(func.count()).select_from(Outbound).where(
                col(Outbound.status).in_(("pending", "sending")))).one()
        if not left:
            break
        time.sleep(min(0.2, dispatcher.seconds_until_next(datetime.now(UTC), 0.2)) + 0.01)
    print(json.dumps({"sent": total.sent, "retried": total.retried,
                      "reclaimed": total.reclaimed, "lost_lease": total.lost_lease}),
          flush=True)
    transport.close()
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
