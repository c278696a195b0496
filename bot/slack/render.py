"""Reply -> Slack Block Kit, within Slack's limits and with every user text escaped.

Slack reads `&`, `<` and `>` as control characters in message text: `<!channel>` pings a
whole channel and `<https://a|b>` hides a link behind a label. Replies hold raw text, so
everything that came from a person goes through `escape` here, once, at the edge.

Limits (Block Kit reference): a section's text is at most 3,000 characters, a section holds
at most 10 fields of 2,000 characters, a message at most 50 blocks, a button label 75
characters and a button value 2,000. What does not fit is cut with a visible ellipsis.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from handlers.reply import Action, Bullets, Code, Fields, Heading, Image, Paragraph, Reply

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
FIELDS_PER_SECTION = 10
MESSAGE_BLOCK_LIMIT = 50
BUTTON_LABEL_LIMIT = 75
FALLBACK_TEXT_LIMIT = 3000
ELLIPSIS = "…"
TONE_MARK = {"info": "", "success": ":white_check_mark: ", "warning": ":warning: ",
             "error": ":x: "}
ACTION_PREFIX = "story_"

SlackBlock = dict[str, Any]
ImageMode = Literal["skip", "note"]


def escape(text: str) -> str:
    """Make raw text inert in Slack: no mentions, no hidden links, no broken entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """The reverse, for text Slack sends us (it encodes the same three characters)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its start and a visible ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def cut_escaped(raw: str, limit: int) -> str:
    """Escape `raw` and fit it in `limit`, never cutting an entity such as `&amp;` in two."""
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped
    kept = escaped[: limit - len(ELLIPSIS)]
    amp = kept.rfind("&")
    if amp != -1 and ";" not in kept[amp:]:
        kept = kept[:amp]
    return kept.rstrip() + ELLIPSIS


def section(mrkdwn: str) -> SlackBlock:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def context(mrkdwn: str) -> SlackBlock:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn}]}


def _sections_for_lines(lines: list[str]) -> list[SlackBlock]:
    """Escaped lines packed into as few sections as fit; a too-long line is cut."""
    blocks: list[SlackBlock] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = cut(line, SECTION_LIMIT)
        extra = len(line) + (1 if current else 0)
        if current and size + extra > SECTION_LIMIT:
            blocks.append(section("\n".join(current)))
            current, size = [], 0
            extra = len(line)
        current.append(line)
        size += extra
    if current:
        blocks.append(section("\n".join(current)))
    return blocks


def _render_block(block: object, reply: Reply, images: ImageMode) -> list[SlackBlock]:
    if isinstance(block, Heading):
        if block.text == reply.text:
            return []
        return [section("*" + cut_escaped(block.text, SECTION_LIMIT - 2) + "*")]
    if isinstance(block, Paragraph):
        return [section(cut_escaped(block.text, SECTION_LIMIT))] if block.text.strip() else []
    if isinstance(block, Fields):
        result = []
        pairs = list(block.pairs)
        for start in range(0, len(pairs), FIELDS_PER_SECTION):
            fields = []
            for label, value in pairs[start:start + FIELDS_PER_SECTION]:
                label_text = "*" + cut_escaped(label, 100) + "*\n"
                body = cut_escaped(value or "—", FIELD_LIMIT - len(label_text))
                fields.append({"type": "mrkdwn", "text": label_text + body})
            result.append({"type": "section", "fields": fields})
        return result
    if isinstance(block, Bullets):
        return _sections_for_lines(
            ["• " + cut_escaped(item, SECTION_LIMIT - 2) for item in block.items]
        )
    if isinstance(block, Code):
        fence = "```"
        body = cut_escaped(block.text, SECTION_LIMIT - 2 * len(fence) - 2)
        return [section(f"{fence}\n{body}\n{fence}")] if block.text.strip() else []
    if isinstance(block, Image):
        if images == "skip":
            return []
        return [context(":bar_chart: " + cut_escaped(block.title, SECTION_LIMIT - 20)
                        + " (the chart is posted in the channel)")]
    return []


def action_value(action: Action) -> str:
    return json.dumps({"story_id": action.story_id, "version": action.version},
                      separators=(",", ":"))


def _groups(actions: tuple[Action, ...]) -> list[tuple[int, tuple[Action, ...]]]:
    """(index of the first, actions) per run of one story's buttons, at most 25 each: an
    action_id must be unique within its block, and two stories both have a "Posted"."""
    groups: list[tuple[int, tuple[Action, ...]]] = []
    start = 0
    for index in range(1, len(actions) + 1):
        if (index == len(actions) or actions[index].story_id != actions[start].story_id
                or index - start == 25):
            groups.append((start, actions[start:index]))
            start = index
    return groups


def render_actions(actions: tuple[Action, ...]) -> list[SlackBlock]:
    """Buttons, one actions block per story (at most 25 to a block); the value carries
    story id and version."""
    blocks = []
    for start, group in _groups(actions):
        elements = []
        for action in group:
            button: SlackBlock = {
                "type": "button",
                "action_id": ACTION_PREFIX + action.name,
                "text": {"type": "plain_text", "text": cut(action.label, BUTTON_LABEL_LIMIT)},
                "value": action_value(action),
            }
            if action.style in ("primary", "danger"):
                button["style"] = action.style
            elements.append(button)
        # The version makes the id new on every update of a card: Slack clients keep the
        # state of a block whose id they have seen before (a pressed button, for one).
        first = actions[start]
        blocks.append({"type": "actions",
                       "block_id": f"story-{first.story_id}-v{first.version}-{start}",
                       "elements": elements})
    return blocks


def render_blocks(
    reply: Reply, *, lead_text: bool = True, images: ImageMode = "skip",
    limit: int = MESSAGE_BLOCK_LIMIT, iteration: str | None = None,
) -> list[SlackBlock]:
    """The blocks of a message; over `limit`, the last block says how many were left out.

    `iteration` names this version of a message that is updated in place: every block then
    gets a `block_id` made from it, new for each update, as Slack asks of updated messages.
    """
    body: list[SlackBlock] = []
    if lead_text or not reply.blocks:
        body.append(section(TONE_MARK[reply.tone] + cut_escaped(reply.text, SECTION_LIMIT - 30)))
    for block in reply.blocks:
        body.extend(_render_block(block, reply, images))
    actions = render_actions(reply.actions)
    room = limit - len(actions)
    if len(body) > room:
        hidden = len(body) - (room - 1)
        body = [*body[: room - 1], context(f"{ELLIPSIS} {hidden} more blocks not shown "
                                           f"(a Slack message holds at most {limit}).")]
    if iteration is not None:
        body = [{**block, "block_id": f"{iteration}-{index}"}
                for index, block in enumerate(body)]
    return body + actions


def fallback_text(reply: Reply) -> str:
    """The message's `text`: what notifications and screen readers show."""
    return TONE_MARK[reply.tone] + cut_escaped(reply.text, FALLBACK_TEXT_LIMIT)


def render_message(reply: Reply, *, lead_text: bool = True,
                   iteration: str | None = None) -> dict[str, Any]:
    """Keyword arguments for chat.postMessage / chat.update."""
    return {"text": fallback_text(reply),
            "blocks": render_blocks(reply, lead_text=lead_text, iteration=iteration)}


def render_response(reply: Reply) -> dict[str, Any]:
    """Keyword arguments for `respond` (a response_url): ephemeral unless meant for all."""
    return {
        "text": fallback_text(reply),
        "blocks": render_blocks(reply, images="note"),
        "response_type": "in_channel" if reply.visibility == "in_channel" else "ephemeral",
        "replace_original": False,
    }


def render_ack(reply: Reply) -> dict[str, Any]:
    """Keyword arguments for a slash command's ack, which carries the answer itself."""
    return {
        "text": fallback_text(reply),
        "blocks": render_blocks(reply, images="note"),
        "response_type": "in_channel" if reply.visibility == "in_channel" else "ephemeral",
    }


def image_blocks(reply: Reply) -> list[Image]:
    return [block for block in reply.blocks if isinstance(block, Image)]
