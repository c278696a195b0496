"""What every benchmark here shares: percentiles and rewriting its section of the README."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).with_name("README.md")


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` of the sorted values (nearest rank)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


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
