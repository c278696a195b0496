"""The Mattermost transport against the fake REST API: posts, cards, DMs, files, failures."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from bot.delivery.transport import (
    CardRef,
    Delivery,
    PermanentFailure,
    Recipient,
    SendResult,
    TemporaryFailure,
)
from bot.mattermost.client import MattermostClient
from bot.mattermost.service import MattermostService, build_mattermost
from bot.mattermost.transport import MattermostTransport
from handlers.reply import Action, Heading, Image, Paragraph, Reply
from tests.mattermost.conftest import BOT_TOKEN, World, mm_settings


def channel_post(text: str = "Coming week: two stories.", channel: str = "team") -> Delivery:
    return Delivery(outbound_id=1, platform="mattermost", kind="message",
                    reply=Reply(text=text), channel=channel)


def dm(world: World, user: str, cached: str | None = None) -> Delivery:
    return Delivery(outbound_id=2, platform="mattermost", kind="message",
                    reply=Reply(text="Your draft is due on Friday."),
                    recipient=Recipient(7, world.user(user), user.title(), cached))


def card(ref: CardRef | None = None, version: int = 1) -> Delivery:
    reply = Reply(text="Story #4: Muons (pitched)", blocks=(Heading("#4 Muons"),),
                  actions=(Action("accept", "Accept", 4, version, "primary"),),
                  visibility="in_channel", story_id=4)
    return Delivery(outbound_id=3, platform="mattermost", kind="card", reply=reply,
                    channel="team", story_id=4, card=ref)


def test_every_call_carries_the_bot_token(world: World, service: MattermostService) -> None:
    service.transport.send(channel_post())
    service.transport.send(dm(world, "dana"))
    assert world.server.requests
    assert all(r.headers.get("authorization") == f"Bearer {BOT_TOKEN}"
               for r in world.server.requests)
    assert world.server.violations == []


def test_a_channel_post_goes_to_the_configured_channel(
    world: World, service: MattermostService
) -> None:
    result = service.transport.send(channel_post())
    assert result.channel_id == world.team_channel
    [post] = world.server.posts_in(world.team_channel)
    assert post["id"] == result.message_id
    assert post["message"] == "Coming week: two stories."
    group = service.transport.send(channel_post("Call for pitches", "group"))
    assert group.channel_id == world.town_square


@pytest.mark.parametrize("spec", ["id", "lab/storydesk-team", "lab/channels/storydesk-team",
                                  "~storydesk-team", "storydesk-team"])
def test_channels_are_given_by_id_team_and_name_or_bare_name(world: World, spec: str) -> None:
    value = world.team_channel if spec == "id" else spec
    service = build_mattermost(mm_settings(world, team_channel=value))
    assert service.transport.send(channel_post()).channel_id == world.team_channel


def test_a_bare_name_in_two_teams_is_ambiguous(world: World) -> None:
    other = world.server.add_team("outreach", [world.bot])
    world.server.add_channel(other, "storydesk-team", [world.bot])
    service = build_mattermost(mm_settings(world))
    with pytest.raises(PermanentFailure) as failure:
        service.transport.send(channel_post())
    assert failure.value.cause == "channel_ambiguous"


def test_a_missing_channel_is_a_permanent_failure(world: World) -> None:
    service = build_mattermost(mm_settings(world, team_channel="lab/no-such-channel"))
    with pytest.raises(PermanentFailure) as failure:
        service.transport.send(channel_post())
    assert failure.value.cause == "channel_not_found"


def test_a_channel_the_bot_is_not_in_is_a_permanent_failure(world: World) -> None:
    world.server.add_channel(world.team, "private-corner", [world.user("ada")])
    service = build_mattermost(mm_settings(world, team_channel="lab/private-corner"))
    with pytest.raises(PermanentFailure) as failure:
        service.transport.send(channel_post())
    assert failure.value.cause == "channel_forbidden"


def test_a_card_is_posted_once_then_updated_in_place(
    world: World, service: MattermostService
) -> None:
    first = service.transport.send(card())
    [created] = world.server.calls("POST", "/api/v4/posts")
    assert "actions" not in json.dumps(created.body)  # no post id to bind buttons to yet
    [with_buttons] = world.server.calls("PUT", f"/api/v4/posts/{first.message_id}/patch")
    [button] = with_buttons.body["props"]["attachments"][0]["actions"]
    assert button["integration"]["context"]["post"] == first.message_id
    ref = CardRef(first.channel_id or "", first.message_id)
    second = service.transport.send(card(ref, version=2))
    assert second == SendResult(message_id=first.message_id, channel_id=world.team_channel)
    assert len(world.server.posts_in(world.team_channel)) == 1
    _, update = world.server.calls("PUT", f"/api/v4/posts/{first.message_id}/patch")
    assert set(update.body) == {"message", "props"}  # a patch: nothing else is touched
    post = world.server.state.posts[first.message_id]
    [button] = post["props"]["attachments"][0]["actions"]
    context = button["integration"]["context"]
    assert (context["version"], context["post"], context["user"]) == (
        "2", first.message_id, "")
    assert service.signer.verify_context(context) is not None


def test_buttons_in_a_direct_message_are_bound_to_the_post_and_the_reader(
    world: World, service: MattermostService
) -> None:
    ada = world.user("ada")
    sent = service.transport.send(Delivery(
        outbound_id=9, platform="mattermost", kind="message", channel=None,
        recipient=Recipient(1, ada, "Ada"),
        reply=Reply(text="Review #3?", actions=(Action("accept", "Accept", 3, 1),))))
    post = world.server.state.posts[sent.message_id]
    [button] = post["props"]["attachments"][0]["actions"]
    signed = service.signer.verify_context(button["integration"]["context"])
    assert signed is not None and (signed.post_id, signed.user_id) == (sent.message_id, ada)


def test_a_post_whose_buttons_cannot_be_added_is_still_sent(
    world: World, service: MattermostService
) -> None:
    service.transport.sleep = lambda seconds: None
    world.server.fail("PUT", "/api/v4/posts/.*", 503, times=2)  # the try and the retry
    sent = service.transport.send(card())
    post = world.server.state.posts[sent.message_id]
    assert "actions" not in json.dumps(post["props"])
    assert len(world.server.posts_in(world.team_channel)) == 1


@pytest.mark.parametrize("retry_after, waited", [("2", 2.0), ("30", 5.0)])
def test_buttons_turned_away_once_are_added_after_the_retry_after(
    world: World, service: MattermostService, retry_after: str, waited: float
) -> None:
    """The post is out; without its buttons a reminder could not be acted on, for good."""
    waits: list[float] = []
    service.transport.sleep = waits.append
    service.transport.send(channel_post())  # resolves and caches the channel
    world.server.fail("PUT", "/api/v4/posts/.*", 429, headers={"Retry-After": retry_after})
    sent = service.transport.send(card())
    post = world.server.state.posts[sent.message_id]
    assert "actions" in json.dumps(post["props"])
    assert waits == [waited]  # the server's delay, but never long in a sender thread
    assert sent.calls == 3  # the post, the refused buttons, the buttons: all paced


def test_a_send_reports_every_api_call_it_made(world: World, service: MattermostService) -> None:
    assert service.transport.send(channel_post()).calls > 1  # the channel is looked up once
    assert service.transport.send(channel_post()).calls == 1
    assert service.transport.send(card()).calls == 2  # the post, then its buttons
    opened = service.transport.send(dm(world, "dana"))
    assert opened.calls == 2  # the DM channel, then the post
    cached = service.transport.send(dm(world, "dana", cached=opened.dm_channel))
    assert cached.calls == 1


def test_a_deleted_card_is_posted_anew(world: World, service: MattermostService) -> None:
    first = service.transport.send(card())
    del world.server.state.posts[first.message_id]
    again = service.transport.send(card(CardRef(world.team_channel, first.message_id)))
    assert again.message_id != first.message_id
    assert again.message_id in world.server.state.posts


def test_a_direct_message_opens_the_dm_channel_and_hands_it_back(
    world: World, service: MattermostService
) -> None:
    result = service.transport.send(dm(world, "dana"))
    [opened] = world.server.calls("POST", "/api/v4/channels/direct")
    assert sorted(opened.body) == sorted([world.bot, world.user("dana")])
    assert result.dm_channel == result.channel_id
    assert world.server.state.posts[result.message_id]["channel_id"] == result.dm_channel
    again = service.transport.send(dm(world, "dana", cached=result.dm_channel))
    assert again.dm_channel == result.dm_channel
    assert len(world.server.calls("POST", "/api/v4/channels/direct")) == 1


def test_a_stale_cached_dm_channel_is_opened_anew(
    world: World, service: MattermostService
) -> None:
    gone = "z" * 26
    result = service.transport.send(dm(world, "dana", cached=gone))
    assert result.dm_channel != gone
    assert len(world.server.calls("POST", "/api/v4/channels/direct")) == 1


def test_a_dm_to_an_unknown_user_is_a_permanent_failure(
    world: World, service: MattermostService
) -> None:
    delivery = Delivery(outbound_id=5, platform="mattermost", kind="message",
                        reply=Reply(text="hi"), recipient=Recipient(9, "q" * 26, "Gone"))
    with pytest.raises(PermanentFailure) as failure:
        service.transport.send(delivery)
    assert failure.value.cause == "user_not_found"


def test_charts_are_uploaded_then_attached(
    world: World, service: MattermostService, tmp_path: Path
) -> None:
    chart = tmp_path / "reach-2026-w47.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    reply = Reply(text="Weekly reach", blocks=(Paragraph("Up 12 %"), Image(str(chart), "Reach")))
    result = service.transport.send(Delivery(outbound_id=6, platform="mattermost",
                                             kind="message", reply=reply, channel="group"))
    [upload] = world.server.calls("POST", "/api/v4/files")
    assert upload.body["channel_id"] == world.town_square
    assert upload.body["files"] == [("reach-2026-w47.png", b"\x89PNG\r\n\x1a\nfake")]
    post = world.server.state.posts[result.message_id]
    [file_id] = post["file_ids"]
    assert world.server.state.files[file_id]["name"] == "reach-2026-w47.png"
    assert world.server.violations == []


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "7"}, 7.0),
    ({"X-Ratelimit-Limit": "10", "X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "3"}, 3.0),
])
def test_rate_limits_are_temporary_with_the_servers_delay(
    world: World, service: MattermostService, headers: dict[str, str], expected: float
) -> None:
    service.transport.send(channel_post())  # resolves and caches the channel
    world.server.fail("POST", "/api/v4/posts", 429, headers=headers)
    with pytest.raises(TemporaryFailure) as failure:
        service.transport.send(channel_post())
    assert failure.value.retry_after == expected


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_temporary(world: World, service: MattermostService,
                                     status: int) -> None:
    world.server.fail("POST", "/api/v4/posts", status)
    with pytest.raises(TemporaryFailure):
        service.transport.send(channel_post())
    assert service.transport.send(channel_post()).message_id  # and the next try works


def test_a_timeout_is_temporary(world: World) -> None:
    service = build_mattermost(mm_settings(world, send_timeout_seconds=1))
    world.server.fail("POST", "/api/v4/posts", 201, delay=1.5)
    with pytest.raises(TemporaryFailure):
        service.transport.send(channel_post())


def test_an_unreachable_server_is_temporary(world: World, service: MattermostService) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = service.transport
    gone = MattermostTransport(MattermostClient(f"http://127.0.0.1:{port}", BOT_TOKEN),
                               transport.renderer, transport.resolver, transport.bot_user_id)
    with pytest.raises(TemporaryFailure):
        gone.send(dm(world, "dana", cached="c" * 26))


def test_a_revoked_token_is_permanent_with_a_stable_cause(
    world: World, service: MattermostService
) -> None:
    world.server.state.tokens.clear()
    with pytest.raises(PermanentFailure) as failure:
        service.transport.send(channel_post())
    assert failure.value.cause == "mattermost_token_rejected"


def test_403_on_a_post_is_permanent(world: World, service: MattermostService) -> None:
    service.transport.send(channel_post())
    world.server.fail("POST", "/api/v4/posts", 403)
    with pytest.raises(PermanentFailure) as failure:
        service.transport.send(channel_post())
    assert failure.value.cause == "channel_forbidden"
