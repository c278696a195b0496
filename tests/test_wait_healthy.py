"""The wait for a started server's /healthz, shared by the end-to-end tests and benchmarks."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.processes import free_port, wait_healthy


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process that stays alive, standing in for the server being waited on."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def serve_healthz(statuses: list[int]) -> ThreadingHTTPServer:
    """A /healthz answering the given statuses in turn, then the last one forever."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_503_is_waited_through_until_healthz_answers_200(
        sleeper: subprocess.Popen[bytes]) -> None:
    statuses = [503, 503, 503, 200]
    server = serve_healthz(statuses)
    try:
        wait_healthy(f"http://127.0.0.1:{server.server_address[1]}", sleeper, timeout=10)
    finally:
        server.shutdown()
    assert statuses == [200]


def test_a_process_that_exits_fails_at_once_with_its_log() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"exited \(3\).*no token"):
        wait_healthy(f"http://127.0.0.1:{free_port()}", process, timeout=30,
                     log=lambda: "no token")
    assert time.monotonic() - started < 1


def test_a_server_that_never_answers_fails_after_the_timeout(
        sleeper: subprocess.Popen[bytes]) -> None:
    server = serve_healthz([503])
    try:
        with pytest.raises(AssertionError, match="did not answer /healthz within 1 s"):
            wait_healthy(f"http://127.0.0.1:{server.server_address[1]}", sleeper, timeout=1)
    finally:
        server.shutdown()
