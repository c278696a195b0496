"""The listeners' work in child processes of lower priority than the web app.

Behind every ack there is about ten milliseconds of CPU (the command's transaction, the
rendering, the Web API calls). In the process that acknowledges, that work competes with
the acks of the requests that follow for the interpreter lock, and a burst of pitches
delays the acks of the burst. In a child process with a higher nice value it competes for
nothing the acks need: the operating system runs the web app first.

A child builds its own runtime from the same Settings (one engine per process, as
SQLAlchemy wants) and runs the very same Listeners methods. When a piece of work is done,
the child delivers what is due from the outbox itself, so the card and the messages the
work queued go out at once, and their rendering and Web API calls stay out of the web app's
process too. The outbox's leases keep this exactly-once beside the web app's own
dispatcher, which still ticks and retries.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient

from config.settings import Settings

log = logging.getLogger(__name__)

CHILD_NICENESS = 10
_child: Any = None  # the child's Listeners, built by _start_child
_client: WebClient | None = None  # the child's WebClient
_runtime: Any = None  # the child's Runtime


class _ClientHere:
    """Stands for "this process's WebClient" in work sent to a child."""


def _start_child(settings: Settings, niceness: int) -> None:
    global _child, _client, _runtime
    try:
        os.nice(niceness)
    except OSError:  # not allowed here: the work still runs, at the same priority
        log.warning("could not lower the priority of the Slack work process")
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.log_level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    from bot.runtime import build_runtime
    from bot.slack.app import Listeners, SlackDeps
    from bot.slack.directory import SlackDirectory

    runtime = build_runtime(settings, platforms=("slack",))
    directory = runtime.directories["slack"]
    assert isinstance(directory, SlackDirectory)
    deps = SlackDeps(runner=runtime.runner, engine=runtime.engine, policy=runtime.policy,
                     directory=directory)
    _child = Listeners(deps, work=InlineWork())
    _client = directory.client
    _runtime = runtime


def _run_in_child(name: str, args: tuple[Any, ...]) -> None:
    from bot.slack.app import Listeners

    here = tuple(_client if isinstance(arg, _ClientHere) else arg for arg in args)
    Listeners._guarded(getattr(_child, name), *here)
    try:
        _runtime.dispatcher.dispatch_due(datetime.now(UTC))
    except Exception:  # the web app's dispatcher retries at its next tick
        log.exception("delivering after Slack work failed")


class InlineWork(Executor):
    """Runs the work where it is submitted (inside a child, which is already the worker)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class ProcessWork(Executor):
    """Sends `Listeners._guarded(method, *args)` to a child process by the method's name."""

    def __init__(self, settings: Settings, workers: int = 2,
                 niceness: int = CHILD_NICENESS) -> None:
        self.pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_child, initargs=(settings, niceness),
        )

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        method, *rest = args
        sendable = tuple(_ClientHere() if isinstance(arg, WebClient) else arg for arg in rest)
        future = self.pool.submit(_run_in_child, method.__name__, sendable)
        future.add_done_callback(self._done)
        return future

    @staticmethod
    def _done(future: Future[Any]) -> None:
        error = future.exception()
        if error is not None:
            log.error("Slack work process failed: %r", error)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)
