"""What every benchmark here shares: percentiles, the floors' SQLite file, and rewriting
its section of the README."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

README = Path(__file__).with_name("README.md")


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` of the sorted values (nearest rank)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class FloorDatabase:
    """The SQLite file a floor writes to, set up as Storydesk sets up its own
    (storage/db.py): WAL, synchronous=NORMAL, a busy timeout, one connection per thread
    kept from one request to the next, and the writers of the process queued on a lock.

    A floor that opened a connection per request, or synced every commit to disk, would be
    slower than Storydesk for want of tuning, and a ratio to it would flatter the product.
    """

    def __init__(self, path: Path | str, schema: str) -> None:
        self.path = str(path)
        self.local = threading.local()
        self.writers = threading.Lock()
        with self.writers:
            self.connection().execute(schema)

    def connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self.local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self.local.connection = connection
        return connection

    def insert(self, statement: str, parameters: Sequence[object]) -> None:
        """One write transaction, as a command's is: BEGIN IMMEDIATE, the insert, COMMIT."""
        with self.writers:
            connection = self.connection()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(statement, parameters)
            connection.execute("COMMIT")


def write_section(section: str, text: str, readme: Path = README) -> None:
    """Replace the `## section` of the README with `text`, or append it if it is new."""
    content = readme.read_text() if readme.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    block = f"## {section}\n\n{text.strip()}\n\n"
    if pattern.search(content):
        content = pattern.sub(lambda _match: block, content)
    else:
        content = content.rstrip("\n") + "\n\n" + block
    readme.write_text(content.rstrip("\n") + "\n")
