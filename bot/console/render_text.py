"""Reply -> plain text, for the console and for logs.

Lines after the first (the reply's gist, kept whole) are wrapped at `width` with a hanging
indent, so a long help line or bullet stays readable in a terminal. A heading with nothing
under it (a summary with no data says so in its first line) is left out rather than
printed as an empty section.
"""

from __future__ import annotations

import textwrap

from handlers.reply import Bullets, Code, Fields, Heading, Image, Paragraph, Reply

TONE_MARK = {"info": "", "success": "✓ ", "warning": "! ", "error": "✗ "}


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False, break_long_words=False) or [first.rstrip()]


def _block_lines(block: object, reply: Reply, width: int) -> list[str]:
    if isinstance(block, Paragraph):
        if block.text == reply.text:
            return []
        return _wrap(block.text, width, "  ", "  ") if block.text.strip() else [""]
    if isinstance(block, Fields):
        label_width = max((len(label) for label, _ in block.pairs), default=0)
        indent = " " * (label_width + 4)
        lines: list[str] = []
        for label, value in block.pairs:
            lines.extend(_wrap(value, width, f"  {label:<{label_width}}  ", indent))
        return lines
    if isinstance(block, Bullets):
        return [line for item in block.items for line in _wrap(item, width, "  • ", "    ")]
    if isinstance(block, Code):
        return [f"    {line}" for line in block.text.splitlines()]
    if isinstance(block, Image):
        return [f"  [chart: {block.title} -> {block.path}]"]
    return []


def render_text(reply: Reply, width: int = 88) -> str:
    # The first line is the reply's gist, whole, as chat shows it; what follows is wrapped.
    lines = [TONE_MARK[reply.tone] + reply.text]
    heading: str | None = None  # shown only once something follows it
    for block in reply.blocks:
        if isinstance(block, Heading):
            heading = f"  == {block.text} ==" if block.text != reply.text else None
            continue
        body = _block_lines(block, reply, width)
        if body and heading is not None:
            lines.append(heading)
            heading = None
        lines.extend(body)
    if reply.actions:
        buttons = "  ".join(f"[{action.label}]" for action in reply.actions)
        lines.append(f"  {buttons}")
    return "\n".join(lines)
