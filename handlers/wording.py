"""Small helpers for the sentences people read."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 row`, `2 rows`; `many` for irregular plurals (`plural(2, "story", "stories")`)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
