"""The publication watch against a local Graph API: a post is recognised and recorded by
the next check, an unsure one is asked about, a post nobody scheduled is announced; checks
happen every interval while a slot is open and every six hours otherwise (never over the
account's history), by one replica."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.commands import Caller, CommandRunner
from bot.reach.instagram import GraphClient
from bot.reach.publication_watch import PublicationWatch, WatchTick, claim_check
from config.settings import Settings
from handlers.context import Policy
from handlers.reply import Reply
from storage.db import read_session, write_session
from storage.models import Member, Outbound, Story, StoryEvent
from storage.publication import SeenPost
from tests.conftest import add_member
from tests.reach.graph_server import TOKEN, USER, VERSION, Account, GraphServer

SLOT = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # Tuesday 1 December, 18:00 in Berlin
MORNING = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # the same day, 09:00 in Berlin
TITLE = "Muon tomography of a volcano"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def media(media_id: str, caption: str, at: datetime) -> dict[str, str]:
    return {"id": media_id, "caption": caption, "media_type": "VIDEO",
            "media_product_type": "REELS", "timestamp": stamp(at),
            "permalink": f"https://www.instagram.com/reel/C{media_id}x/"}


@pytest.fixture
def server() -> Iterator[GraphServer]:
    with GraphServer(Account(), page_size=50) as running:
        yield running


@pytest.fixture
def settings(server: GraphServer) -> Settings:
    return Settings(instagram_access_token=TOKEN, instagram_user_id=USER,
                    graph_api_url=server.url, graph_api_version=VERSION,
                    publication_check_minutes=10)


def client(s: Settings) -> GraphClient:
    return GraphClient(s.graph_api_url, s.graph_api_version, s.instagram_access_token,
                       s.instagram_user_id, attempts=2, sleep=lambda _: None)


@pytest.fixture
def watch(engine: Engine, settings: Settings, policy: Policy) -> PublicationWatch:
    return PublicationWatch(engine, settings, policy, client_factory=client, owner="replica-1")


@pytest.fixture
def people(engine: Engine) -> dict[str, Member]:
    with write_session(engine) as session:
        return {"Ada": add_member(session, "Ada", coordinator=True),
                "Dana": add_member(session, "Dana")}


def schedule(engine: Engine, people: dict[str, Member], title: str = TITLE,
             at: datetime = SLOT) -> int:
    with write_session(engine) as session:
        story = Story(title=title, author_id=people["Dana"].id, reviewer_id=people["Ada"].id,
                      state="scheduled", scheduled_at=at, created_at=at - timedelta(days=20),
                      state_changed_at=at - timedelta(days=2), version=7)
        session.add(story)
        session.flush()
        assert story.id is not None
        return story.id


def tick(watch: PublicationWatch, at: datetime) -> WatchTick:
    with freeze_time(at):
        return watch(datetime.now(UTC))


def story(engine: Engine, story_id: int) -> Story:
    with read_session(engine) as session:
        found = session.get(Story, story_id)
        assert found is not None
        return found


def outbox(engine: Engine) -> list[Outbound]:
    with read_session(engine) as session:
        return list(session.exec(select(Outbound).order_by(col(Outbound.id))).all())


def media_calls(server: GraphServer) -> int:
    return len(server.calls(f"{USER}/media"))


def test_a_post_at_1804_for_the_1800_slot_is_recorded_by_the_next_check(
    engine: Engine, watch: PublicationWatch, server: GraphServer, people: dict[str, Member]
) -> None:
    story_id = schedule(engine, people)
    assert tick(watch, SLOT - timedelta(minutes=10)).checked is False  # no slot open yet
    assert media_calls(server) == 0

    first = tick(watch, SLOT + timedelta(seconds=30))
    assert first.checked and first.report is not None and first.report.recorded == []
    assert story(engine, story_id).state == "scheduled"

    posted_at = SLOT + timedelta(minutes=4)
    server.account.media.insert(0, media("9001", "Muon tomography: how cosmic rays see "
                                                 "inside a volcano #physics", posted_at))
    assert tick(watch, SLOT + timedelta(minutes=5)).checked is False  # not 10 minutes yet
    second = tick(watch, SLOT + timedelta(minutes=10, seconds=30))
    assert second.checked and second.report is not None
    assert second.report.recorded == [story_id]
    assert media_calls(server) == 2

    recorded = story(engine, story_id)
    assert recorded.state == "published"
    assert recorded.permalink == "https://www.instagram.com/reel/C9001x/"
    assert recorded.media_id == "9001"
    assert recorded.published_at == posted_at
    texts = [row.text for row in outbox(engine)]
    assert any(text.startswith(f'Recorded from Instagram: story #{story_id} "{TITLE}" went '
                               "out at Tue 01 Dec 18:04") and "Dana has been thanked" in text
               for text in texts)
    thanks = [row for row in outbox(engine) if row.member_id == people["Dana"].id]
    assert [row.text for row in thanks] == [
        f'Story #{story_id} "{TITLE}" is published: '
        "https://www.instagram.com/reel/C9001x/. Thank you!"]
    with read_session(engine) as session:
        event = session.exec(select(StoryEvent).where(StoryEvent.action == "publish")).one()
        assert event.actor_id is None and "recognised on Instagram" in event.detail

    # Nothing open any more: no further calls to the Graph API.
    tick(watch, SLOT + timedelta(minutes=40))
    assert media_calls(server) == 2


def test_an_unsure_match_asks_the_team_and_one_click_records_it(
    engine: Engine, watch: PublicationWatch, server: GraphServer, people: dict[str, Member],
    policy: Policy,
) -> None:
    story_id = schedule(engine, people)
    server.account.media.insert(0, media("9002", "A night at the observatory ✨",
                                         SLOT + timedelta(minutes=2)))
    result = tick(watch, SLOT + timedelta(minutes=3))
    assert result.report is not None and result.report.asked == [story_id]
    assert story(engine, story_id).state == "scheduled"
    asked = [row for row in outbox(engine) if row.text.startswith("A new post on Instagram")]
    assert len(asked) == 1 and asked[0].channel == "team"
    assert f'may be story #{story_id} "{TITLE}"' in asked[0].text
    assert "caption does not name the story's title" in asked[0].text
    reply = Reply.from_json(asked[0].payload)
    [button] = reply.actions
    assert (button.name, button.story_id) == ("confirm_post", story_id)

    # The next check does not ask again.
    tick(watch, SLOT + timedelta(minutes=20))
    assert len([r for r in outbox(engine) if r.text.startswith("A new post on")]) == 1

    runner = CommandRunner(engine, policy)
    dana = runner.press(Caller("console", "dana", "Dana"), button.name, button.story_id,
                        button.version, SLOT + timedelta(minutes=30))
    assert not dana.ok and "Only coordinators" in dana.text
    ada = runner.press(Caller("console", "ada", "Ada"), button.name, button.story_id,
                       button.version, SLOT + timedelta(minutes=30))
    assert ada.ok, ada.text
    recorded = story(engine, story_id)
    assert (recorded.state, recorded.media_id) == ("published", "9002")
    again = runner.press(Caller("console", "ada", "Ada"), button.name, button.story_id,
                         button.version, SLOT + timedelta(minutes=31))
    assert not again.ok and "No post is waiting" in again.text
    with read_session(engine) as session:
        assert session.get(SeenPost, "9002").outcome == "confirmed"  # type: ignore[union-attr]


def test_a_post_nobody_scheduled_is_announced_once(
    engine: Engine, watch: PublicationWatch, server: GraphServer, people: dict[str, Member]
) -> None:
    story_id = schedule(engine, people)
    tick(watch, SLOT + timedelta(minutes=1))
    server.account.media.insert(0, media("9003", "Behind the scenes at the cryo lab",
                                         SLOT + timedelta(hours=16)))
    result = tick(watch, SLOT + timedelta(hours=16, minutes=5))
    assert result.report is not None and result.report.announced == ["9003"]
    assert result.report.asked == [] and story(engine, story_id).state == "scheduled"
    [row] = [r for r in outbox(engine) if r.text.startswith("A new post on Instagram")]
    assert "no story was scheduled for: https://www.instagram.com/reel/C9003x/" in row.text
    reply = Reply.from_json(row.payload)
    assert any("/story published N https://www.instagram.com/reel/C9003x/ 9003" in
               getattr(block, "text", "") for block in reply.blocks)
    tick(watch, SLOT + timedelta(hours=16, minutes=20))
    assert len([r for r in outbox(engine) if r.text.startswith("A new post on")]) == 1


def test_a_post_already_recorded_by_hand_is_not_announced(
    engine: Engine, watch: PublicationWatch, server: GraphServer, people: dict[str, Member]
) -> None:
    schedule(engine, people)
    with write_session(engine) as session:
        session.add(Story(title="Open day", author_id=people["Dana"].id, state="published",
                          permalink="https://www.instagram.com/reel/C9004x",
                          published_at=SLOT - timedelta(hours=1)))
    server.account.media.insert(0, media("9004", "Open day!", SLOT - timedelta(hours=1)))
    result = tick(watch, SLOT + timedelta(minutes=1))
    assert result.report is not None and result.report.known == 1
    assert not [r for r in outbox(engine) if r.text.startswith("A new post on")]


def test_a_graph_error_waits_for_the_next_interval(
    engine: Engine, watch: PublicationWatch, server: GraphServer, people: dict[str, Member]
) -> None:
    from tests.reach.graph_server import TEMPORARY

    schedule(engine, people)
    server.fail("/media", TEMPORARY, TEMPORARY)
    failed = tick(watch, SLOT + timedelta(minutes=1))
    assert failed.checked and failed.error and failed.report is None
    assert tick(watch, SLOT + timedelta(minutes=6)).checked is False
    assert tick(watch, SLOT + timedelta(minutes=11)).checked is True


def test_only_one_replica_checks(engine: Engine, people: dict[str, Member]) -> None:
    now = SLOT + timedelta(minutes=1)
    every = timedelta(minutes=10)
    assert claim_check(engine, "replica-1", now, every) is True
    assert claim_check(engine, "replica-2", now, every) is False  # replica-1 holds the lease
    # A holder that died is taken over once its lease has run out.
    assert claim_check(engine, "replica-2", now + timedelta(minutes=6), every) is True


def test_without_instagram_nothing_is_fetched(
    engine: Engine, server: GraphServer, people: dict[str, Member], policy: Policy
) -> None:
    schedule(engine, people)
    quiet = PublicationWatch(engine, Settings(), policy, client_factory=client)
    assert tick(quiet, SLOT + timedelta(minutes=15)).checked is False
    assert media_calls(server) == 0


def announced(engine: Engine) -> list[str]:
    return [r.text for r in outbox(engine) if r.text.startswith("A new post on Instagram")]


def test_with_no_slot_open_a_post_nobody_scheduled_is_announced_by_the_next_look(
    engine: Engine, watch: PublicationWatch, server: GraphServer, people: dict[str, Member]
) -> None:
    """No story is scheduled at all. The first tick only remembers when it was: the posts
    already on the account are history, never announced. Then the account is looked at
    every six hours, from the last look, and a new post is announced once."""
    server.account.media.insert(0, media("9101", "Last week's reel",
                                         MORNING - timedelta(days=2)))
    first = tick(watch, MORNING)
    assert first.checked is False and media_calls(server) == 0
    server.account.media.insert(0, media("9102", "Congratulations to our new PhDs!",
                                         MORNING + timedelta(hours=1)))
    assert tick(watch, MORNING + timedelta(hours=2)).checked is True
    assert len(announced(engine)) == 1 and "C9102x" in announced(engine)[0]
    assert tick(watch, MORNING + timedelta(hours=5)).checked is False  # six hours apart
    server.account.media.insert(0, media("9103", "Happy holidays from the institute",
                                         MORNING + timedelta(hours=6)))
    later = tick(watch, MORNING + timedelta(hours=8, minutes=1))
    assert later.report is not None and later.report.announced == ["9103"]
    assert media_calls(server) == 2
    assert not any("C9101x" in text for text in announced(engine))


def test_a_post_between_the_last_look_and_a_slot_is_not_missed(
    engine: Engine, watch: PublicationWatch, server: GraphServer, people: dict[str, Member]
) -> None:
    """A quiet look at 08:00 (UTC), the slot's watch from 15:00 (two hours before it): a
    post at 10:00 is announced by the slot's first check, not lost between the two."""
    story_id = schedule(engine, people)
    morning = SLOT.replace(hour=8)
    tick(watch, morning - timedelta(days=1))  # the first tick ever, a day before
    assert tick(watch, morning).checked is True
    server.account.media.insert(0, media("9104", "Behind the scenes at the cryo lab",
                                         SLOT.replace(hour=10)))
    server.account.media.insert(0, media("9105", f"{TITLE}! #physics",
                                         SLOT + timedelta(minutes=3)))
    result = tick(watch, SLOT + timedelta(minutes=5))
    assert result.report is not None
    assert (result.report.recorded, result.report.announced) == ([story_id], ["9104"])


def test_a_failed_look_leaves_the_next_one_to_start_where_the_last_good_one_did(
    engine: Engine, watch: PublicationWatch, server: GraphServer, people: dict[str, Member]
) -> None:
    from tests.reach.graph_server import TEMPORARY

    start = MORNING - timedelta(hours=1)  # 08:00 in Berlin
    tick(watch, start)
    server.account.media.insert(0, media("9106", "Open day this Saturday",
                                         start + timedelta(hours=1)))
    server.fail("/media", TEMPORARY, TEMPORARY)
    assert tick(watch, start + timedelta(hours=1, minutes=30)).report is None
    result = tick(watch, start + timedelta(hours=7, minutes=31))
    assert result.report is not None and result.report.announced == ["9106"]


def test_with_no_slot_open_the_account_is_looked_at_only_in_working_time(
    engine: Engine, watch: PublicationWatch, server: GraphServer, people: dict[str, Member]
) -> None:
    """A post on Friday night is announced to the team on Monday morning, not at night or
    at the weekend: the look waits for working time, and starts from the last one."""
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # 16:00 in Berlin
    tick(watch, friday)  # the first tick ever
    server.account.media.insert(0, media("9107", "Night at the observatory",
                                         friday + timedelta(hours=7)))
    for later in (timedelta(hours=8), timedelta(days=1), timedelta(days=2, hours=2)):
        assert tick(watch, friday + later).checked is False  # 23:00, Saturday, Sunday
    assert media_calls(server) == 0 and announced(engine) == []
    monday = tick(watch, datetime(2026, 12, 7, 7, 30, tzinfo=UTC))  # 08:30 in Berlin
    assert monday.report is not None and monday.report.announced == ["9107"]
