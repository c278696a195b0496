"""Refusals a handler raises; the command layer turns them into an error Reply."""

from __future__ import annotations


class Refused(Exception):
    """The request is understood but not allowed or not possible; the message says why."""

    def __init__(self, message: str, field_errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
