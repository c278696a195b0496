"""The Slack transport against the fake Web API: where messages go, and how failures map."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.delivery.dispatcher import Dispatcher
from bot.delivery.transport import (
    CardRef,
    Delivery,
    PermanentFailure,
    Recipient,
    TemporaryFailure,
)
from bot.slack.client import make_web_client
from bot.slack.transport import SlackTransport
from handlers.outbox import enqueue
from handlers.reply import Action, Heading, Image, Paragraph, Reply
from storage.db import read_session, write_session
from storage.models import Member, Outbound
from tests.slack.conftest import CHANNELS, NOW, TOKEN
from tests.slack.fake_slack import FakeSlack, error, rate_limited, server_error

CARD = Reply(text="Story #4: Dark matter on a bike (pitched)",
             blocks=(Heading("#4 Dark matter on a bike"), Paragraph("A summary")),
             actions=(Action("accept", "Accept", 4, 2, "primary"),), visibility="in_channel",
             story_id=4)


@pytest.fixture
def transport(fake_slack: FakeSlack) -> SlackTransport:
    return SlackTransport(make_web_client(TOKEN, fake_slack.api_url, timeout=5, retry=False),
                          CHANNELS)


def delivery(reply: Reply = CARD, **fields: object) -> Delivery:
    values: dict[str, object] = {"outbound_id": 1, "platform": "slack", "kind": "message",
                                 "reply": reply, "channel": "team"}
    values.update(fields)
    return Delivery(**values)  # type: ignore[arg-type]


def test_channel_post_goes_to_the_configured_channel(
        transport: SlackTransport, fake_slack: FakeSlack) -> None:
    result = transport.send(delivery(channel="group"))
    [call] = fake_slack.calls_to("chat.postMessage")
    assert call.params["channel"] == "general"
    assert call.params["text"].startswith("Story #4")
    assert result.channel_id == "CGENERAL" and result.message_id.startswith("1700000000.")
    assert result.dm_channel is None


def test_direct_message_posts_to_the_user_and_keeps_the_dm_channel(
        transport: SlackTransport, fake_slack: FakeSlack) -> None:
    first = transport.send(delivery(channel=None, recipient=Recipient(7, "U0DANA", "Dana")))
    assert fake_slack.calls_to("chat.postMessage")[0].params["channel"] == "U0DANA"
    assert first.dm_channel == "D0DANA"
    transport.send(delivery(outbound_id=2, channel=None,
                            recipient=Recipient(7, "U0DANA", "Dana", dm_channel="D0DANA")))
    assert fake_slack.calls_to("chat.postMessage")[1].params["channel"] == "D0DANA"


def test_card_is_updated_in_place_and_reposted_when_gone(
        transport: SlackTransport, fake_slack: FakeSlack) -> None:
    ref = CardRef("C0TEAM", "1700000000.000042")
    result = transport.send(delivery(kind="card", card=ref))
    [update] = fake_slack.calls_to("chat.update")
    assert (update.params["channel"], update.params["ts"]) == ("C0TEAM", "1700000000.000042")
    assert result.message_id == "1700000000.000042" and result.channel_id == "C0TEAM"
    assert fake_slack.calls_to("chat.postMessage") == []
    # a card whose message was deleted is posted again, rather than lost
    fake_slack.script("chat.update", error("message_not_found"))
    again = transport.send(delivery(kind="card", card=ref))
    assert again.message_id != "1700000000.000042"
    assert fake_slack.calls_to("chat.postMessage")[0].params["channel"] == "storydesk-team"


def test_card_blocks_leave_out_the_lead_line_and_carry_versioned_buttons(
        transport: SlackTransport, fake_slack: FakeSlack) -> None:
    transport.send(delivery(kind="card"))
    blocks = fake_slack.calls_to("chat.postMessage")[0].params["blocks"]
    assert blocks[0]["text"]["text"] == "*#4 Dark matter on a bike*"
    assert blocks[-1]["elements"][0]["value"] == '{"story_id":4,"version":2}'


def test_every_update_of_a_card_carries_new_block_ids(
        transport: SlackTransport, fake_slack: FakeSlack) -> None:
    """Slack clients keep the state of a block id they know; an update must not reuse one."""
    ref = CardRef("C0TEAM", "1700000000.000042")
    transport.send(delivery(kind="card", card=ref))
    accepted = Reply(text="Story #4: Dark matter on a bike (accepted)", blocks=CARD.blocks,
                     actions=(Action("approve", "Approve", 4, 3, "primary"),),
                     visibility="in_channel", story_id=4)
    transport.send(delivery(outbound_id=2, kind="card", card=ref, reply=accepted))
    first, second = (call.params["blocks"] for call in fake_slack.calls_to("chat.update"))
    first_ids = [block.get("block_id") for block in first]
    second_ids = [block.get("block_id") for block in second]
    assert None not in first_ids and None not in second_ids
    assert len(set(first_ids)) == len(first_ids)
    assert not set(first_ids) & set(second_ids)
    assert second[-1]["block_id"] == "story-4-v3-0"


def test_rate_limit_becomes_retry_after_without_sleeping_or_retrying(
        transport: SlackTransport, fake_slack: FakeSlack) -> None:
    fake_slack.script("chat.postMessage", rate_limited(7))
    with pytest.raises(TemporaryFailure) as caught:
        transport.send(delivery())
    assert caught.value.retry_after == 7
    assert caught.value.scope == "destination"  # Slack limits chat.postMessage per channel
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # no retry in this thread


@pytest.mark.parametrize("answer", [server_error(503), server_error(500),
                                    error("internal_error"), error("service_unavailable")])
def test_server_trouble_is_temporary(transport: SlackTransport, fake_slack: FakeSlack,
                                     answer: object) -> None:
    fake_slack.script("chat.postMessage", answer)  # type: ignore[arg-type]
    with pytest.raises(TemporaryFailure):
        transport.send(delivery())


@pytest.mark.parametrize("code", ["channel_not_found", "user_not_found", "not_in_channel",
                                  "account_inactive", "is_archived", "invalid_blocks"])
def test_what_will_not_get_better_is_permanent(transport: SlackTransport,
                                               fake_slack: FakeSlack, code: str) -> None:
    fake_slack.script("chat.postMessage", error(code))
    with pytest.raises(PermanentFailure) as caught:
        transport.send(delivery())
    assert caught.value.cause == code


def test_timeout_and_refused_connection_are_temporary(fake_slack: FakeSlack) -> None:
    fake_slack.delay = 2.0
    slow = SlackTransport(make_web_client(TOKEN, fake_slack.api_url, timeout=1, retry=False),
                          CHANNELS)
    with pytest.raises(TemporaryFailure):
        slow.send(delivery())
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = SlackTransport(
        make_web_client(TOKEN, f"http://127.0.0.1:{port}/api", timeout=1, retry=False),
        CHANNELS)
    with pytest.raises(TemporaryFailure):
        closed.send(delivery())


def test_charts_go_through_files_upload_v2_into_the_same_channel(
        transport: SlackTransport, fake_slack: FakeSlack, tmp_path: Path) -> None:
    chart = tmp_path / "reach.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    reply = Reply(text="Weekly reach", blocks=(Paragraph("Up 12 %"),
                                               Image(str(chart), "Reach, last 12 weeks")))
    transport.send(delivery(reply, channel="group"))
    [post] = fake_slack.calls_to("chat.postMessage")
    assert "image" not in str(post.params["blocks"])
    [get_url] = fake_slack.calls_to("files.getUploadURLExternal")
    assert get_url.params["filename"] == "reach.png" and int(get_url.params["length"]) == 108
    [upload] = fake_slack.calls_to("upload")
    assert upload.params["bytes"] == 108
    [complete] = fake_slack.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == "CGENERAL"
    assert "Reach, last 12 weeks" in str(complete.params["files"])


def test_failed_upload_is_retried_without_posting_the_message_twice(
        transport: SlackTransport, fake_slack: FakeSlack, tmp_path: Path) -> None:
    chart = tmp_path / "reach.png"
    chart.write_bytes(b"png")
    reply = Reply(text="Weekly reach", blocks=(Image(str(chart), "Reach"),))
    fake_slack.script("files.completeUploadExternal", rate_limited(3))
    with pytest.raises(TemporaryFailure) as caught:
        transport.send(delivery(reply, outbound_id=9))
    assert caught.value.retry_after == 3
    assert caught.value.scope == "platform"  # a method limited workspace-wide
    transport.send(delivery(reply, outbound_id=9))
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 2


def test_missing_chart_file_fails_for_good_before_posting(
        transport: SlackTransport, fake_slack: FakeSlack, tmp_path: Path) -> None:
    reply = Reply(text="Weekly reach", blocks=(Image(str(tmp_path / "gone.png"), "Reach"),))
    with pytest.raises(PermanentFailure):
        transport.send(delivery(reply))
    assert fake_slack.calls_to("chat.postMessage") == []


# --- through the outbox dispatcher, on a real database ---------------------------------


@pytest.fixture
def dana(engine: Engine) -> Iterator[Member]:
    with write_session(engine) as session:
        member = Member(platform="slack", user_id="U0DANA", display_name="Dana",
                        created_at=NOW)
        session.add(member)
        session.flush()
    yield member


def test_rate_limited_message_waits_in_the_outbox_for_retry_after(
        engine: Engine, dana: Member, transport: SlackTransport, fake_slack: FakeSlack) -> None:
    with write_session(engine) as session:
        enqueue(session, key="hello", platform="slack", reply=Reply(text="Hello Dana"),
                now=NOW, member=dana)
    dispatcher = Dispatcher(engine, {"slack": transport})
    fake_slack.script("chat.postMessage", rate_limited(45))
    report = dispatcher.dispatch_due(NOW)
    assert (report.sent, report.retried) == (0, 1)
    with read_session(engine) as session:
        row = session.exec(select(Outbound)).one()
        assert row.status == "pending" and row.due_at is not None
        # Retry-After from the moment of the answer (the dispatcher's clock runs on), plus
        # a spread of up to half of it
        assert timedelta(seconds=45) <= row.due_at - NOW < timedelta(seconds=45 + 22.5 + 5)
    assert dispatcher.dispatch_due(NOW + timedelta(seconds=44)).sent == 0
    assert dispatcher.dispatch_due(NOW + timedelta(seconds=75)).sent == 1
    with read_session(engine) as session:
        row = session.exec(select(Outbound)).one()
        member = session.get(Member, dana.id)
        assert row.status == "sent" and member is not None
        assert member.dm_channel == "D0DANA"  # kept for the next message


def test_permanent_failure_marks_the_message_failed(
        engine: Engine, dana: Member, transport: SlackTransport, fake_slack: FakeSlack) -> None:
    with write_session(engine) as session:
        enqueue(session, key="gone", platform="slack", reply=Reply(text="Hello"), now=NOW,
                member=dana)
    fake_slack.script("chat.postMessage", error("user_not_found"))
    report = Dispatcher(engine, {"slack": transport}).dispatch_due(NOW)
    assert report.failed == 1
    with read_session(engine) as session:
        row = session.exec(select(Outbound).where(Outbound.unique_key == "gone")).one()
        assert (row.status, row.last_error) == ("failed", "user_not_found")
