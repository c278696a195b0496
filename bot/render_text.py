"""Reply -> plain text, for the console and for logs."""

from __future__ import annotations

import textwrap

from handlers.reply import Bullets, Code, Fields, Heading, Image, Paragraph, Reply

TONE_MARK = {"info": "", "success": "✓ ", "warning": "! ", "error": "✗ "}


def render_text(reply: Reply, width: int = 88) -> str:
    lines = [TONE_MARK[reply.tone] + reply.text]
    for block in reply.blocks:
        if isinstance(block, Heading):
            if block.text != reply.text:
                lines.append(f"  == {block.text} ==")
        elif isinstance(block, Paragraph):
            if block.text == reply.text:
                continue
            lines.extend(
                textwrap.wrap(block.text, width, initial_indent="  ", subsequent_indent="  ")
                or [""]
            )
        elif isinstance(block, Fields):
            label_width = max((len(label) for label, _ in block.pairs), default=0)
            lines.extend(f"  {label:<{label_width}}  {value}" for label, value in block.pairs)
        elif isinstance(block, Bullets):
            lines.extend(f"  • {item}" for item in block.items)
        elif isinstance(block, Code):
            lines.extend(f"    {line}" for line in block.text.splitlines())
        elif isinstance(block, Image):
            lines.append(f"  [chart: {block.title} -> {block.path}]")
    if reply.actions:
        buttons = "  ".join(f"[{action.label}]" for action in reply.actions)
        lines.append(f"  {buttons}")
    return "\n".join(lines)
