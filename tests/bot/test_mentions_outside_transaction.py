"""A person named in a command is asked of the platform before the transaction opens, so
that a slow users API never holds SQLite's write lock (every other writer would queue)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from bot.commands import Caller, CommandRunner
from handlers.context import Policy
from storage import migrate
from storage.db import _writers, make_engine

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class WatchingDirectory:
    """Looks people up like the Slack directory would, noting whether another writer
    could have written meanwhile (the lock free) at each lookup."""

    def __init__(self, lock: threading.RLock) -> None:
        self.lock = lock
        self.lookups: list[tuple[str, bool]] = []

    def lookup(self, mention: str) -> Caller | None:
        free: list[bool] = []

        def try_lock() -> None:  # from another thread: the RLock is reentrant
            got = self.lock.acquire(timeout=0.3)
            free.append(got)
            if got:
                self.lock.release()

        other = threading.Thread(target=try_lock)
        other.start()
        other.join()
        self.lookups.append((mention, free[0]))
        name = mention.strip("<@>").split("|")[-1]
        return Caller("slack", name.upper(), name.title())


def test_a_mention_is_looked_up_while_other_writers_can_write(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'mentions.db'}")
    migrate.upgrade(engine)
    directory = WatchingDirectory(_writers(engine))
    runner = CommandRunner(engine, Policy(), {"slack": directory})
    dana = Caller("slack", "UDANA", "Dana")
    assert runner.run(dana, "story", "team claim", NOW).ok

    added = runner.run(dana, "story", "team add <@UBEN|ben>", NOW)

    assert added.ok, added.text
    assert added.text == "Ben is now a coordinator."
    assert directory.lookups == [("<@UBEN|ben>", True)]
    engine.dispose()
