"""Reply -> Mattermost: markdown text, message attachments and buttons.

Everything in a Reply is raw text, much of it typed by members. Before it reaches Mattermost
it is made inert:

- markdown that could change the layout (emphasis, links, images, tables, headings, lists,
  quotes, code fences, raw HTML) is escaped with backslashes, except inside `code spans`
  the handlers write and inside bare web links, which stay clickable;
- mentions never notify: `@channel`, `@all`, `@here` (and `@everyone`) get a zero-width
  joiner after the `@`, as does any other `@name` that starts a word, and Slack-style
  `<!channel>` is broken the same way (posts also carry `skip_slack_parsing`);
- every text is cut to Mattermost's limit (16383 characters for a post) with a visible `…`.

Buttons carry their action, the story, its version, the post or person they are bound to,
an expiry and an HMAC over all of them in the integration context; Mattermost strips contexts
before posts reach clients, and the action endpoint refuses any call whose HMAC does not
match or whose post or person differs (see `signing.py`). A reply rendered without a post or
a person to bind its buttons to has no buttons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.mattermost.signing import ActionSigner
from handlers.reply import Action, Bullets, Code, Fields, Heading, Image, Paragraph, Reply

POST_LIMIT = 16383  # model.PostMessageMaxRunesV2
TITLE_LIMIT = 300
FIELD_LIMIT = 2000
ELLIPSIS = "…"
ZWJ = "\u200d"
TONE_MARK = {"info": "", "success": "✓ ", "warning": "⚠️ ", "error": "✗ "}
TONE_COLOR = {"info": "#3A6EA5", "success": "#2E7D32", "warning": "#E0A100", "error": "#C62828"}
BUTTON_STYLE = {"primary": "primary", "danger": "danger", "default": "default"}

_GROUP_MENTION = re.compile(r"@(?=(?:channel|all|here|everyone)\b)", re.IGNORECASE)
_WORD_MENTION = re.compile(r"(?<![A-Za-z0-9_])@(?=[A-Za-z0-9_.\-])")
_SLACK_SPECIAL = re.compile(r"<(?=[!@#])")
_TOKENS = re.compile(r"(?P<code>`[^`\n]+`)|(?P<url>https?://[^\s<>`|\[\]()*]+)")
_INLINE_SPECIAL = re.compile(r"([\\`*_~\[\]<>|])")
_LINE_START = re.compile(r"^([ \t]*)([#>+=\-]|\d+[.)])", re.MULTILINE)


def neutralize_mentions(text: str) -> str:
    """Insert a zero-width joiner so that no mention in `text` notifies anyone."""
    text = _GROUP_MENTION.sub("@" + ZWJ, text)
    text = _WORD_MENTION.sub("@" + ZWJ, text)
    return _SLACK_SPECIAL.sub("<" + ZWJ, text)


def escape_markdown(text: str) -> str:
    """Raw text -> markdown that shows exactly that text; mentions neutralised."""
    out: list[str] = []
    position = 0
    for match in _TOKENS.finditer(text):
        out.append(_escape_plain(text[position:match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(_escape_plain(text[position:]))
    return neutralize_mentions(_escape_line_starts("".join(out)))


def _escape_plain(text: str) -> str:
    return _INLINE_SPECIAL.sub(r"\\\1", text)


def _escape_line_starts(text: str) -> str:
    """Headings, quotes, lists and rules only start a line; escape those starts."""
    def escape(match: re.Match[str]) -> str:
        marker = match.group(2)
        if marker[0].isdigit():
            return f"{match.group(1)}{marker[:-1]}\\{marker[-1]}"
        return f"{match.group(1)}\\{marker}"

    lines = [line.lstrip(" \t") if _is_indented_code(line) else line for line in text.split("\n")]
    return _LINE_START.sub(escape, "\n".join(lines))


def _is_indented_code(line: str) -> bool:
    return line.startswith("    ") or line.startswith("\t")


def one_line(text: str) -> str:
    return " ".join(text.split())


def cut(text: str, limit: int) -> str:
    """`text` shortened to at most `limit` characters, ending in a visible ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS)]
    trailing = len(head) - len(head.rstrip("\\"))
    if trailing % 2:
        head = head[:-1]  # never leave a lone backslash escaping the ellipsis
    if head.endswith(ZWJ) or head.endswith("@"):
        head = head.rstrip(ZWJ + "@")
    return head + ELLIPSIS


def code_block(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{neutralize_mentions(text)}\n{fence}"


@dataclass
class RenderedReply:
    """What a post (or a command response) carries."""

    message: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    images: tuple[Image, ...] = ()

    @property
    def props(self) -> dict[str, Any]:
        return {"attachments": self.attachments} if self.attachments else {}

    def post_body(self, channel_id: str, file_ids: Sequence[str] = ()) -> dict[str, Any]:
        body: dict[str, Any] = {"channel_id": channel_id, "message": self.message}
        if self.attachments:
            body["props"] = self.props
        if file_ids:
            body["file_ids"] = list(file_ids)
        return body

    def command_response(self, visibility: str) -> dict[str, Any]:
        response: dict[str, Any] = {
            "response_type": "in_channel" if visibility == "in_channel" else "ephemeral",
            "text": self.message,
            "skip_slack_parsing": True,
        }
        # The documented field is `attachments`; the server moves it into the post's
        # props itself, so sending `props.attachments` too would say it twice.
        if self.attachments:
            response["attachments"] = self.attachments
        return response


class MattermostRenderer:
    """Renders neutral replies; buttons need the public URL of the action endpoint."""

    def __init__(self, signer: ActionSigner, action_url: str | None) -> None:
        self.signer = signer
        self.action_url = action_url

    def render(self, reply: Reply, *, with_actions: bool = True, post_id: str = "",
               user_id: str = "") -> RenderedReply:
        """`post_id` / `user_id`: the post the buttons will sit on, the person they are for."""
        message = cut(TONE_MARK[reply.tone] + escape_markdown(reply.text), POST_LIMIT)
        images = tuple(block for block in reply.blocks if isinstance(block, Image))
        attachments = self._attachments(reply)
        bound = with_actions and bool(post_id or user_id)
        buttons = self.buttons(reply.actions, post_id=post_id, user_id=user_id) if bound else []
        if buttons:
            if not attachments:
                attachments = [self._attachment(reply)]
            attachments[0]["actions"] = buttons
        return RenderedReply(message=message, attachments=attachments, images=images)

    def buttons(self, actions: Iterable[Action], *, post_id: str = "",
                user_id: str = "") -> list[dict[str, Any]]:
        if not self.action_url:
            return []
        return [
            {
                # Mattermost takes only letters and digits in an action id.
                "id": re.sub(r"[^A-Za-z0-9]", "", action.name)
                      + f"{action.story_id}v{action.version}",
                "type": "button",
                "name": cut(one_line(action.label), 50),
                "style": BUTTON_STYLE.get(action.style, "default"),
                "integration": {
                    "url": self.action_url,
                    "context": self.signer.context(action.name, action.story_id,
                                                   action.version, post_id=post_id,
                                                   user_id=user_id),
                },
            }
            for action in actions
        ]

    def _attachment(self, reply: Reply) -> dict[str, Any]:
        return {
            "fallback": cut(neutralize_mentions(one_line(reply.text)), TITLE_LIMIT),
            "color": TONE_COLOR[reply.tone],
        }

    def _attachments(self, reply: Reply) -> list[dict[str, Any]]:
        """One attachment per heading: its title, then its text, then its fields."""
        attachments: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None
        texts: list[str] = []

        def flush() -> None:
            if current is not None and texts:
                current["text"] = cut("\n\n".join(texts), POST_LIMIT)

        for block in reply.blocks:
            if isinstance(block, Image):
                continue
            if current is None or isinstance(block, Heading):
                flush()
                texts = []
                current = self._attachment(reply)
                attachments.append(current)
            if isinstance(block, Heading):
                current["title"] = cut(escape_markdown(one_line(block.text)), TITLE_LIMIT)
            elif isinstance(block, Paragraph):
                texts.append(escape_markdown(block.text))
            elif isinstance(block, Bullets):
                texts.append("\n".join(f"- {escape_markdown(one_line(item))}"
                                       for item in block.items))
            elif isinstance(block, Code):
                texts.append(code_block(block.text))
            elif isinstance(block, Fields):
                current.setdefault("fields", []).extend(
                    {
                        "title": cut(neutralize_mentions(one_line(label)), 100),
                        "value": cut(escape_markdown(one_line(value)), FIELD_LIMIT),
                        "short": len(value) <= 40,
                    }
                    for label, value in block.pairs
                )
        flush()
        return attachments


def plain_text(rendered: RenderedReply) -> str:
    """The visible text of a rendered reply, markdown escapes removed (for tests and logs)."""
    parts = [rendered.message]
    for attachment in rendered.attachments:
        parts.extend(str(attachment.get(key, "")) for key in ("title", "text"))
        parts.extend(f"{f['title']}: {f['value']}" for f in attachment.get("fields", []))
    return unescape("\n".join(part for part in parts if part))


def unescape(text: str) -> str:
    return re.sub(r"\\([\\`*_~\[\]<>|#+=\-.)])", r"\1", text).replace(ZWJ, "")
