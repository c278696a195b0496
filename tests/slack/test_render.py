"""Reply -> Block Kit: escaping everywhere, and Slack's limits with a visible ellipsis."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.slack.incoming import command_text
from bot.slack.render import (
    ELLIPSIS,
    MESSAGE_BLOCK_LIMIT,
    SECTION_LIMIT,
    cut_escaped,
    escape,
    render_blocks,
    render_message,
    render_response,
)
from handlers.reply import Action, Bullets, Code, Fields, Heading, Image, Paragraph, Reply

HOSTILE = "<!channel> <!here|here> <@U0ADA> <https://evil.example|arxiv.org> & &amp; >"


def texts(node: Any) -> list[str]:
    """Every `text` string in a rendered message, however deep."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(texts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(texts(item))
    return found


def everything(text: str) -> Reply:
    return Reply(
        text=text,
        blocks=(Heading(text), Paragraph(text), Fields(((text, text),)), Bullets((text, text)),
                Code(text), Image("/tmp/chart.png", text)),
        tone="warning",
    )


def test_user_text_is_escaped_in_every_kind_of_block() -> None:
    message = render_message(everything(HOSTILE))
    response = render_response(everything(HOSTILE))
    for text in texts(message) + texts(response):
        assert "<" not in text and ">" not in text
    raw = json.dumps([message, response])
    assert "&lt;!channel&gt;" in raw
    assert "&amp;amp;" in raw  # an entity typed by a person stays visible as typed


@given(st.text(max_size=4000))
def test_no_text_can_break_out_or_overflow(text: str) -> None:
    message = render_message(everything(text))
    assert len(message["blocks"]) <= MESSAGE_BLOCK_LIMIT
    for part in texts(message):
        assert "<" not in part and ">" not in part
        assert len(part) <= SECTION_LIMIT
        assert "&" not in part.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")


def test_long_paragraph_is_cut_to_the_section_limit_with_an_ellipsis() -> None:
    blocks = render_blocks(Reply(text="t", blocks=(Paragraph("x" * 5000),)))
    body = blocks[1]["text"]["text"]
    assert len(body) == SECTION_LIMIT and body.endswith(ELLIPSIS)


def test_cutting_never_splits_an_entity() -> None:
    cut = cut_escaped("a" * 2996 + "<<<<", SECTION_LIMIT)
    assert cut.endswith("a" + ELLIPSIS) or cut.endswith(";" + ELLIPSIS)
    assert "&l" + ELLIPSIS not in cut and "&" + ELLIPSIS not in cut


def test_many_blocks_stop_at_fifty_with_a_note_and_keep_the_buttons() -> None:
    reply = Reply(text="Long report", blocks=tuple(Paragraph(f"line {n}") for n in range(80)),
                  actions=(Action("accept", "Accept", 3, 5, "primary"),))
    blocks = render_blocks(reply)
    assert len(blocks) == MESSAGE_BLOCK_LIMIT
    assert blocks[-1]["type"] == "actions"
    note = blocks[-2]
    assert note["type"] == "context" and ELLIPSIS in note["elements"][0]["text"]
    assert "33 more blocks not shown" in note["elements"][0]["text"]


def test_bullets_are_packed_into_sections_within_the_limit() -> None:
    items = tuple(f"#{n} A story with a long enough title to fill space" for n in range(200))
    blocks = render_blocks(Reply(text="All", blocks=(Bullets(items),)))
    assert len(blocks) > 2
    assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in blocks)
    joined = "\n".join(b["text"]["text"] for b in blocks[1:])
    assert joined.count("•") == 200


def test_more_than_ten_fields_take_more_sections() -> None:
    pairs = tuple((f"Label {n}", f"value {n}") for n in range(13))
    blocks = render_blocks(Reply(text="Card", blocks=(Fields(pairs),)), lead_text=False)
    assert [len(b["fields"]) for b in blocks] == [10, 3]


def test_buttons_carry_story_and_version_and_styles() -> None:
    reply = Reply(text="Card", actions=(Action("accept", "Accept", 3, 5, "primary"),
                                        Action("decline", "Decline", 3, 5, "danger"),
                                        Action("reassign", "Reassign", 3, 5)))
    [actions] = [b for b in render_blocks(reply) if b["type"] == "actions"]
    assert [(e["action_id"], e.get("style")) for e in actions["elements"]] == [
        ("story_accept", "primary"), ("story_decline", "danger"), ("story_reassign", None)]
    assert json.loads(actions["elements"][0]["value"]) == {"story_id": 3, "version": 5}


def test_response_is_ephemeral_unless_meant_for_everyone() -> None:
    assert render_response(Reply(text="Only you"))["response_type"] == "ephemeral"
    shared = render_response(Reply(text="All", visibility="in_channel"))
    assert shared["response_type"] == "in_channel" and shared["replace_original"] is False


def test_heading_equal_to_the_text_is_not_repeated() -> None:
    blocks = render_blocks(Reply(text="Open stories", blocks=(Heading("Open stories"),)))
    assert len(blocks) == 1


def test_escape_is_the_three_characters_only() -> None:
    assert escape("a & b < c > d *e* _f_") == "a &amp; b &lt; c &gt; d *e* _f_"


# --- what Slack sends us ----------------------------------------------------------------


def test_command_text_turns_slack_markup_back_into_what_was_typed() -> None:
    raw = ("Muons &amp; pyramids &lt;3 <#C0PHYS|physics> <https://arxiv.org/abs/2401.1|paper> "
           "<mailto:ada@lab.org|ada@lab.org> <!channel> <!subteam^S0DET|@detectors> "
           "for <@U0BEN|ben> and <@U0CHLOE>")
    assert command_text(raw) == (
        "Muons & pyramids <3 #physics https://arxiv.org/abs/2401.1 ada@lab.org @channel "
        "@detectors for <@U0BEN|ben> and <@U0CHLOE>")


def test_link_labels_never_hide_the_address() -> None:
    assert command_text("<https://evil.example|https://arxiv.org>") == "https://evil.example"
