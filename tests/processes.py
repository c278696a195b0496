"""Helpers for tests and benchmarks that start real `storydesk run` (or other server)
processes: a free port to give one, and the wait until it is ready to serve."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx

POLL_SECONDS = 0.01  # short: benchmarks time the start-up from these polls


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_healthy(base_url: str, process: subprocess.Popen[Any], timeout: float = 60.0,
                 log: Callable[[], str] = lambda: "") -> None:
    """Return once `base_url`/healthz answers 200.

    A refused connection or a 503 (the database not answering yet) means "not yet": poll
    again after a short sleep. Fail at once if `process` exits, since it will never
    answer, and after `timeout` seconds otherwise; `log` supplies the process's output
    for the message."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{base_url} exited ({process.returncode}) before "
                                     f"/healthz answered: {log()}")
            try:
                if client.get(f"{base_url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{base_url} did not answer /healthz within "
                                     f"{timeout:.0f} s: {log()}")
            time.sleep(POLL_SECONDS)
