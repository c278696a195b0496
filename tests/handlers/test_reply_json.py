"""A reply's JSON, as the outbox and the stored answers keep it: written without
dataclasses.asdict's deep copies, byte for byte what asdict gave, and read back whole."""

from __future__ import annotations

import json
from dataclasses import asdict

from hypothesis import given
from hypothesis import strategies as st

from handlers.reply import (
    Action,
    Bullets,
    Code,
    Fields,
    Heading,
    Image,
    Paragraph,
    Reply,
)

text = st.text(max_size=30)
blocks = st.one_of(
    st.builds(Heading, text),
    st.builds(Paragraph, text),
    st.builds(Fields, st.lists(st.tuples(text, text), max_size=4).map(tuple)),
    st.builds(Bullets, st.lists(text, max_size=4).map(tuple)),
    st.builds(Code, text),
    st.builds(Image, text, text),
)
actions = st.builds(Action, text, text, st.integers(1, 10**6), st.integers(1, 50),
                    st.sampled_from(["primary", "danger", "default"]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
replies = st.builds(
    Reply,
    text=text,
    blocks=st.lists(blocks, max_size=5).map(tuple),
    actions=st.lists(actions, max_size=3).map(tuple),
    visibility=st.sampled_from(["ephemeral", "in_channel"]),
    tone=st.sampled_from(["info", "success", "warning", "error"]),
    story_id=st.none() | st.integers(1, 10**6),
    form=st.none() | text,
    data=st.dictionaries(text, json_values, max_size=4),
)


@given(replies)
def test_a_reply_is_written_as_asdict_wrote_it_and_read_back_whole(reply: Reply) -> None:
    written = reply.to_json()
    assert written == json.dumps(asdict(reply), ensure_ascii=False, sort_keys=True)
    assert Reply.from_json(written) == reply
