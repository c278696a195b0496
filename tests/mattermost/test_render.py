"""Reply -> Mattermost markdown and attachments: escaping, mentions, limits, buttons."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.mattermost.render import (
    POST_LIMIT,
    ZWJ,
    MattermostRenderer,
    cut,
    escape_markdown,
    neutralize_mentions,
    plain_text,
    unescape,
)
from bot.mattermost.signing import ActionSigner
from handlers.reply import Action, Bullets, Code, Fields, Heading, Image, Paragraph, Reply

# How Mattermost finds mentions: words of letters, digits and . _ - : @ (mention parser).
_WORD = re.compile(r"[\w.\-:@]+")
GROUP_MENTIONS = {"@channel", "@all", "@here", "@everyone"}
SLACK_SPECIALS = re.compile(r"<!(channel|here|everyone|all)(\|[^>]*)?>", re.IGNORECASE)


def mentions_in(text: str) -> set[str]:
    words = {word.rstrip(".-_:").lower() for word in _WORD.findall(text)}
    return {w for w in words if w.startswith("@") and len(w) > 1}


def renderer(action_url: str | None = "https://sd.example/mattermost/action") -> MattermostRenderer:
    return MattermostRenderer(ActionSigner(b"k" * 32), action_url)


def test_group_mentions_and_slack_specials_never_notify() -> None:
    hostile = "Hi @channel and @ALL, @here; (@everyone) <!channel> <!here|here> x.@channel"
    out = escape_markdown(hostile)
    assert not mentions_in(out) & GROUP_MENTIONS
    assert not SLACK_SPECIALS.search(out)
    assert unescape(out) == hostile  # what people read is unchanged


def test_user_mentions_in_member_text_are_neutralised_but_emails_kept() -> None:
    out = neutralize_mentions("ping @dana.kim about ada@lab.example")
    assert mentions_in(out) == set()
    assert "ada@lab.example" in out


def test_markdown_in_user_text_cannot_change_the_layout() -> None:
    hostile = ("# Big heading\n> quote\n- list\n1. ordered\n    indented code\n"
               "**bold** _it_ ~~strike~~ [link](https://evil.example) ![img](https://x/y.png) "
               "| table | row |\n```\nfence\n```\n<b>html</b> \\")
    out = escape_markdown(hostile)
    for line in out.split("\n"):
        assert not re.match(r"^(#|>|-|\d+\.|\s{4}|```)", line), line
    assert "](" not in out.replace("\\](", "")
    assert "**" not in out.replace("\\*", "")
    assert "|" not in out.replace("\\|", "")
    assert "<b>" not in out


def test_links_and_code_spans_stay_usable() -> None:
    out = escape_markdown(
        "Draft: https://docs.example.org/d/a_b-c?x=1&y=2 and `/story draft 4 <link>`")
    assert "https://docs.example.org/d/a_b-c?x=1&y=2" in out
    assert "`/story draft 4 <link>`" in out


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_escaping_keeps_the_visible_text_and_kills_every_mention(text: str) -> None:
    out = escape_markdown(text)
    assert not mentions_in(out) & GROUP_MENTIONS
    assert not SLACK_SPECIALS.search(out)
    if "`" not in text and "http" not in text and "    " not in text and "\t" not in text:
        assert unescape(out) == text.replace(ZWJ, "")


def test_texts_are_cut_to_the_post_limit_with_a_visible_ellipsis() -> None:
    long_title = "x" * (POST_LIMIT + 500)
    rendered = renderer().render(Reply(text=long_title, blocks=(Paragraph("*" * 20000),)))
    assert len(rendered.message) == POST_LIMIT
    assert rendered.message.endswith("…")
    assert len(rendered.attachments[0]["text"]) <= POST_LIMIT
    assert rendered.attachments[0]["text"].endswith("…")
    assert not cut("ab\\" + "c" * 10, 4).endswith("\\…")


def test_a_card_becomes_an_attachment_with_fields_and_signed_buttons() -> None:
    reply = Reply(
        text="Story #3: Muons @channel (pitched)",
        blocks=(Heading("#3 Muons *live*"), Paragraph("A summary with @here"),
                Fields((("State", "pitched"), ("Author", "Dana [Kim]")))),
        actions=(Action("accept", "Accept", 3, 2, "primary"),
                 Action("decline", "Decline", 3, 2, "danger")),
        visibility="in_channel",
    )
    signer = ActionSigner(b"k" * 32)
    renderer = MattermostRenderer(signer, "https://sd.example/mattermost/action")
    post_id = "k1a7b3xq9pfm3m8cmt7ycbrnpc"
    rendered = renderer.render(reply, post_id=post_id)
    [attachment] = rendered.attachments
    assert unescape(attachment["title"]) == "#3 Muons *live*"
    assert attachment["fields"][1] == {"title": "Author", "value": "Dana \\[Kim\\]",
                                       "short": True}
    assert not mentions_in(rendered.message + attachment["text"]) & GROUP_MENTIONS
    accept, decline = attachment["actions"]
    assert accept["type"] == "button" and accept["style"] == "primary"
    assert accept["integration"]["url"] == "https://sd.example/mattermost/action"
    signed = signer.verify_context(accept["integration"]["context"])
    assert signed is not None and (signed.action, signed.story_id, signed.version) == (
        "accept", 3, 2)
    assert (signed.post_id, signed.user_id) == (post_id, "")
    assert re.fullmatch(r"[A-Za-z0-9]+", decline["id"])
    # Nothing to bind the buttons to (no post yet, no person): no buttons at all.
    assert "actions" not in renderer.render(reply).attachments[0]


def test_without_a_public_url_there_are_no_buttons() -> None:
    reply = Reply(text="card", actions=(Action("approve", "Approve", 1, 1),))
    assert renderer(None).render(reply).attachments == []


def test_every_heading_starts_an_attachment_and_images_are_kept_apart() -> None:
    reply = Reply(text="Story #1", blocks=(
        Heading("#1 Title"), Fields((("State", "accepted"),)), Heading("History"),
        Bullets(("2026-11-23 Ada — pitched", "- not a list")), Code("a ``` b"),
        Image("/tmp/chart.png", "Reach"),
    ))
    rendered = renderer().render(reply)
    assert [a.get("title") for a in rendered.attachments] == ["\\#1 Title", "History"]
    history = rendered.attachments[1]["text"]
    assert history.splitlines()[1] == "- \\- not a list"
    assert "````\na ``` b\n````" in history
    assert [image.title for image in rendered.images] == ["Reach"]
    text = plain_text(rendered)
    assert "2026-11-23 Ada — pitched" in text and "State: accepted" in text


def test_command_response_shape() -> None:
    rendered = renderer().render(Reply(text="Done", tone="success", visibility="in_channel",
                                       blocks=(Paragraph("More"),)))
    response = rendered.command_response("in_channel")
    assert response["response_type"] == "in_channel"
    assert response["skip_slack_parsing"] is True
    assert response["text"] == "✓ Done"
    # Sent once, as the documented `attachments` field; never again under `props`.
    assert response["attachments"] == rendered.attachments
    assert "props" not in response
