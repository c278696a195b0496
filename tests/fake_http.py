"""The HTTP server under the tests' local fakes of Slack, Mattermost and the Graph API."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class FakeHTTPServer(ThreadingHTTPServer):
    """A client that hung up (a test's timeout, a client giving up on a held answer) is
    part of the tests, not an error to print; anything else still is."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)
