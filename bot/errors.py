"""Errors the command line reports in one line, without a traceback."""

from __future__ import annotations


class StartupError(Exception):
    """Something outside Storydesk stops it from starting; the message says what to fix."""
