"""The neutral reply: what Storydesk says, before any platform decides how it looks.

All text in a Reply is plain and raw, exactly as users typed it. Renderers (console text,
Slack Block Kit, Mattermost markdown and attachments) escape and format it for their
platform; nothing here knows about `<`, `*` or `@channel`.

A Reply survives a round trip through JSON (`to_json` / `from_json`), which is how it is
kept in the outbox until the dispatcher renders it for the platform at send time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

Visibility = Literal["ephemeral", "in_channel"]
Tone = Literal["info", "success", "warning", "error"]


@dataclass(frozen=True)
class Heading:
    text: str
    kind: Literal["heading"] = "heading"


@dataclass(frozen=True)
class Paragraph:
    text: str
    kind: Literal["paragraph"] = "paragraph"


@dataclass(frozen=True)
class Fields:
    """Label/value pairs, such as a story's objective, format and reviewer."""

    pairs: tuple[tuple[str, str], ...]
    kind: Literal["fields"] = "fields"


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]
    kind: Literal["bullets"] = "bullets"


@dataclass(frozen=True)
class Code:
    """Preformatted text: usage lines, tables."""

    text: str
    kind: Literal["code"] = "code"


@dataclass(frozen=True)
class Image:
    """A chart or file to attach; `path` is a file the bot wrote, `title` its caption."""

    path: str
    title: str
    kind: Literal["image"] = "image"


@dataclass(frozen=True)
class Action:
    """A button on a story card: `name` is the command verb it stands for."""

    name: str
    label: str
    story_id: int
    version: int
    style: Literal["primary", "danger", "default"] = "default"


Block = Heading | Paragraph | Fields | Bullets | Code | Image
_BLOCK_TYPES: dict[str, type[Any]] = {
    "heading": Heading,
    "paragraph": Paragraph,
    "fields": Fields,
    "bullets": Bullets,
    "code": Code,
    "image": Image,
}


@dataclass(frozen=True)
class Reply:
    """What a handler answers. `text` is the one-line gist (notification text, fallback)."""

    text: str
    blocks: tuple[Block, ...] = ()
    actions: tuple[Action, ...] = ()
    visibility: Visibility = "ephemeral"
    tone: Tone = "info"
    story_id: int | None = None
    form: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.tone != "error"

    def to_json(self) -> str:
        return json.dumps(_plain(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> Reply:
        data = json.loads(raw)
        blocks = tuple(_block_from_dict(block) for block in data.get("blocks", ()))
        actions = tuple(Action(**action) for action in data.get("actions", ()))
        return cls(
            text=data["text"],
            blocks=blocks,
            actions=actions,
            visibility=data.get("visibility", "ephemeral"),
            tone=data.get("tone", "info"),
            story_id=data.get("story_id"),
            form=data.get("form"),
            data=data.get("data", {}),
        )


def _plain(value: Any) -> Any:
    """What `dataclasses.asdict` makes of a reply, as JSON writes it, without the deep
    copies asdict takes of every part: a reply is written to the outbox inside a command's
    write transaction."""
    if isinstance(value, (str, int, float)) or value is None:
        return value
    names = _FIELD_NAMES.get(type(value))
    if names is None and is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _block_from_dict(data: dict[str, Any]) -> Block:
    kind = data["kind"]
    block_type = _BLOCK_TYPES[kind]
    values = dict(data)
    if kind == "fields":
        values["pairs"] = tuple(tuple(pair) for pair in values["pairs"])
    if kind == "bullets":
        values["items"] = tuple(values["items"])
    result: Block = block_type(**values)
    return result


def error(text: str, *blocks: Block) -> Reply:
    return Reply(text=text, blocks=blocks, tone="error")


def info(text: str, *blocks: Block) -> Reply:
    return Reply(text=text, blocks=blocks)


def success(text: str, *blocks: Block, story_id: int | None = None) -> Reply:
    return Reply(text=text, blocks=blocks, tone="success", story_id=story_id)


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 row`, `2 rows`; `many` for irregular plurals (`plural(2, "story", "stories")`).
    One function for every count in every reply, so that none says "1 days"."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
