"""Slack and Mattermost enabled together: one runtime, members told apart by platform."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import col, select

from bot.commands import Caller
from bot.runtime import build_runtime
from storage.db import read_session
from storage.models import Member, Story
from tests.mattermost.conftest import World, mm_settings, world  # noqa: F401  (fixture)
from tests.slack.conftest import SECRET, TOKEN, fake_slack  # noqa: F401  (fixture)
from tests.slack.fake_slack import FakeSlack


def test_one_runtime_serves_both_and_keeps_their_members_apart(
    world: World,  # noqa: F811
    fake_slack: FakeSlack,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = mm_settings(
        world,
        database_url=f"sqlite:///{tmp_path / 'both.db'}",
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake_slack.api_url.rstrip("/"),
        coordinators=("slack:U0ADA", "mattermost:ada"),
    )
    runtime = build_runtime(settings)
    assert set(runtime.transports) == {"slack", "mattermost"}
    assert runtime.policy.channel_platforms == ("slack", "mattermost")
    now = datetime.now(UTC)
    on_slack = runtime.runner.run(Caller("slack", "U0DANA", "Dana"), "pitch", "Muons", now)
    on_mattermost = runtime.runner.run(
        Caller("mattermost", world.user("dana"), "dana"), "pitch", "Neutrinos", now
    )
    assert on_slack.ok and on_mattermost.ok, (on_slack.text, on_mattermost.text)
    with read_session(runtime.engine) as session:
        danas = session.exec(
            select(Member).where(col(Member.display_name).in_(["Dana", "dana"]))
        ).all()
        assert sorted(m.platform for m in danas) == ["mattermost", "slack"]
        reviewers = {
            story.title: session.get(Member, story.reviewer_id)
            for story in session.exec(select(Story)).all()
        }
    # One team across both platforms: the two pitches went to the two coordinators.
    assert all(r is not None and r.role == "coordinator" for r in reviewers.values())
    assert {r.platform for r in reviewers.values() if r} == {"slack", "mattermost"}
    report = runtime.dispatcher.dispatch_due(now)
    assert report.failed == 0
    slack_cards = [
        c
        for c in fake_slack.calls_to("chat.postMessage")
        if c.params.get("channel") == "storydesk-team"
    ]
    assert len(slack_cards) == 2  # both stories' cards, on Slack's team channel
    assert len(world.server.posts_in(world.team_channel)) >= 2  # and on Mattermost's
    runtime.engine.dispose()


def test_each_platform_may_have_its_own_channels(
    world: World,  # noqa: F811
    fake_slack: FakeSlack,  # noqa: F811
    tmp_path: Path,
) -> None:
    """SLACK_TEAM_CHANNEL names Slack's; Mattermost keeps the shared STORYDESK_TEAM_CHANNEL."""
    settings = mm_settings(
        world,
        database_url=f"sqlite:///{tmp_path / 'both.db'}",
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake_slack.api_url.rstrip("/"),
        slack_team_channel="newsroom",
        coordinators=("slack:U0ADA", "mattermost:ada"),
    )
    assert settings.team_channel == "storydesk-team"
    runtime = build_runtime(settings)
    now = datetime.now(UTC)
    assert runtime.runner.run(Caller("slack", "U0DANA", "Dana"), "pitch", "Muons", now).ok
    assert runtime.dispatcher.dispatch_due(now).failed == 0
    channels = {c.params.get("channel") for c in fake_slack.calls_to("chat.postMessage")}
    assert "newsroom" in channels and "storydesk-team" not in channels
    assert len(world.server.posts_in(world.team_channel)) == 1  # the card, on Mattermost's
    runtime.engine.dispose()
