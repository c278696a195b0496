"""The outbox through Mattermost: cards updated in place, DM channels cached, failures
waiting or reported once, all through the real dispatcher on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.commands import Caller
from bot.delivery.dispatcher import Dispatcher
from handlers.outbox import post_to_channel
from handlers.reply import Reply
from storage.db import read_session, write_session
from storage.models import Member, Outbound, StoryCard
from tests.mattermost.conftest import Adapter


def caller(adapter: Adapter, name: str) -> Caller:
    return adapter.service.directory.caller(adapter.world.user(name))


def test_cards_are_updated_in_place_and_dm_channels_cached(
    adapter: Adapter, engine: Engine
) -> None:
    world, now = adapter.world, adapter.now
    adapter.runner.run(caller(adapter, "dana"), "pitch", "Muon tomography #scicomm", now)
    first = adapter.dispatcher.dispatch_due(now)
    assert first.failed == 0 and first.sent >= 2
    [card] = world.server.posts_in(world.team_channel)
    with read_session(engine) as session:
        ref = session.exec(select(StoryCard)).one()
        assert (ref.channel_id, ref.message_id) == (world.team_channel, card["id"])
        reviewer = session.exec(select(Member).where(Member.dm_channel != None)).one()  # noqa: E711
    assert world.server.state.channels[reviewer.dm_channel or ""]["type"] == "D"
    opened = len(world.server.calls("POST", "/api/v4/channels/direct"))
    world.server.pin(card["id"])
    world.server.react(card["id"])
    reply = adapter.runner.run(Caller("mattermost", reviewer.user_id, reviewer.display_name),
                               "story", "accept 1", now)
    assert reply.ok, reply.text
    adapter.dispatcher.dispatch_due(now)
    assert [p["id"] for p in world.server.posts_in(world.team_channel)] == [card["id"]]
    # Patched, not replaced: a full `PUT /posts/{id}` would unpin the card and clear its
    # reactions flag.
    assert world.server.calls("PUT", f"/api/v4/posts/{card['id']}/patch")
    assert not world.server.calls("PUT", f"/api/v4/posts/{card['id']}")
    updated = world.server.state.posts[card["id"]]
    assert "accepted" in updated["message"]
    assert updated["is_pinned"] and updated["has_reactions"]
    # The author's DM opened one more channel; the reviewer's cached one was not reopened.
    assert len(world.server.calls("POST", "/api/v4/channels/direct")) == opened + 1
    assert world.server.violations == []


def group_post(engine: Engine, now: datetime, key: str) -> None:
    with write_session(engine) as session:
        post_to_channel(session, ["mattermost"], "group", Reply(text="Call for pitches"),
                        key=key, now=now)


def test_a_rate_limit_keeps_the_message_waiting_for_the_servers_delay(
    adapter: Adapter, engine: Engine
) -> None:
    world, now = adapter.world, adapter.now
    group_post(engine, now, "call-1")
    world.server.fail("POST", "/api/v4/posts", 429, headers={"Retry-After": "30"})
    report = adapter.dispatcher.dispatch_due(now)
    assert report.retried == 1
    with read_session(engine) as session:
        row = session.exec(select(Outbound)).one()
        assert row.status == "pending" and row.due_at is not None
        # The dispatcher's clock runs on from `now` while it works: a little past 30 s, plus
        # a spread of up to half of it so that throttled messages do not return together.
        assert now + timedelta(seconds=30) <= row.due_at < now + timedelta(seconds=30 + 15 + 10)
    early = Dispatcher(engine, {"mattermost": adapter.service.transport})
    assert early.dispatch_due(now + timedelta(seconds=20)).sent == 0
    assert early.dispatch_due(now + timedelta(seconds=56)).sent == 1
    assert [p["message"] for p in world.server.posts_in(world.town_square)] == [
        "Call for pitches"]


def test_a_channel_the_bot_left_fails_for_good_and_is_reported_once(
    adapter: Adapter, engine: Engine
) -> None:
    world, now = adapter.world, adapter.now
    world.server.state.channel_members[world.town_square].discard(world.bot)
    group_post(engine, now, "call-1")
    group_post(engine, now, "call-2")
    adapter.dispatcher.dispatch_due(now)
    adapter.dispatcher.dispatch_due(now + timedelta(minutes=5))
    with read_session(engine) as session:
        failed = session.exec(select(Outbound).where(Outbound.status == "failed")).all()
        assert {row.last_error for row in failed} == {"channel_forbidden"}
        assert len(failed) == 2
    reports = [p for p in world.server.posts_in(world.team_channel)
               if "could not be delivered" in p["message"]]
    assert len(reports) == 1
    assert "2 messages could not be delivered on mattermost: channel\\_forbidden" in reports[0][
        "message"]
