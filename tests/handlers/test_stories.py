"""Story handlers on a real database (SQLite and PostgreSQL), with "now" frozen."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from handlers import members, stories
from handlers.context import Policy
from handlers.errors import Refused
from handlers.reply import Reply
from handlers.stories import PitchForm
from storage.db import write_session
from storage.models import AwayPeriod, Member, Outbound, Story, StoryEvent
from tests.conftest import add_member


def outbox(session: Session) -> list[Outbound]:
    return list(session.exec(select(Outbound).order_by(col(Outbound.id))).all())


def pitch_as(
    session: Session,
    author: Member,
    now: datetime,
    policy: Policy,
    title: str = "Muon tomography of a volcano",
    **fields: object,
) -> int:
    reply = stories.pitch(session, author, now, policy, PitchForm(title=title, **fields))  # type: ignore[arg-type]
    assert reply.ok and reply.story_id is not None
    return reply.story_id


@freeze_time("2026-11-23 09:30:00")
def test_a_pitch_is_stored_assigned_announced_and_the_reviewer_told(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    now = datetime.now(UTC)
    reply = stories.pitch(
        session,
        team["Dana"],
        now,
        policy,
        PitchForm(
            title="Muon tomography",
            objective="outreach",
            format="reel",
            summary="Cosmic rays see inside a volcano",
        ),
    )
    story = session.get(Story, reply.story_id)
    assert story is not None and story.state == "pitched"
    assert story.reviewer_id == team["Ada"].id  # all at 0, never assigned: lowest id
    assert "Reviewer: Ada (0 open reviews, like the others; assigned least recently)" in reply.text
    rows = outbox(session)
    card = [r for r in rows if r.channel == "team"]
    dm = [r for r in rows if r.member_id == team["Ada"].id]
    assert len(card) == 1 and card[0].kind == "card" and card[0].story_id == story.id
    assert len(dm) == 1 and "You are reviewing story" in dm[0].text
    assert Reply.from_json(card[0].payload).actions[0].name == "accept"
    events = session.exec(select(StoryEvent).where(StoryEvent.story_id == story.id)).all()
    assert [e.action for e in events] == ["pitched", "assigned"]


def test_assignment_spreads_reviews_fairly(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    reviewers = []
    for minute in range(6):
        story_id = pitch_as(
            session, team["Dana"], now + timedelta(minutes=minute), policy, title=f"Story {minute}"
        )
        reviewers.append(session.get(Story, story_id).reviewer_id)  # type: ignore[union-attr]
    ada, ben, chloe = team["Ada"].id, team["Ben"].id, team["Chloe"].id
    assert reviewers == [ada, ben, chloe, ada, ben, chloe]


def test_the_author_and_the_away_are_never_assigned(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    assert team["Ben"].id is not None
    session.add(
        AwayPeriod(
            member_id=team["Ben"].id, first_day=date(2026, 11, 20), last_day=date(2026, 11, 30)
        )
    )
    session.flush()
    story_id = pitch_as(session, team["Ada"], now, policy)
    story = session.get(Story, story_id)
    assert story is not None and story.reviewer_id == team["Chloe"].id
    assert "Ada is the author" in story.assignment_reason
    assert "Ben is away until 2026-11-30" in story.assignment_reason


def test_invalid_pitches_are_refused_with_field_errors(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    with pytest.raises(Refused) as refusal:
        stories.pitch(
            session,
            team["Dana"],
            now,
            policy,
            PitchForm(title="x" * 151, result_link="not a link", embargo_until=date(2020, 1, 1)),
        )
    assert set(refusal.value.field_errors) == {"title", "result_link", "embargo_until"}
    assert session.exec(select(Story)).first() is None


def test_result_links_accept_urls_arxiv_ids_and_dois() -> None:
    for good in (
        "https://arxiv.org/abs/2401.12345",
        "2401.12345",
        "arXiv:2401.12345v2",
        "10.1088/1748-0221/3/08/S08004",
    ):
        assert stories.is_result_link(good), good
    for bad in ("javascript:alert(1)", "see my paper", "ftp://x"):
        assert not stories.is_result_link(bad), bad


def test_from_pitch_to_published_with_history_and_author_messages(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    dana, ada = team["Dana"], team["Ada"]
    story_id = pitch_as(session, dana, now, policy)
    stories.accept(session, ada, now, policy, story_id, date(2026, 12, 4))
    stories.start_drafting(session, dana, now, policy, story_id)
    stories.submit_draft(session, dana, now, policy, story_id, "https://docs.example.org/d1")
    stories.request_changes(session, ada, now, policy, story_id, "Shorter, please")
    stories.submit_draft(session, dana, now, policy, story_id, "https://docs.example.org/d2")
    reply = stories.approve(session, ada, now, policy, story_id)
    assert "approved and scheduled for Tue 2026-11-24 18:00" in reply.text
    stories.publish(
        session, ada, now, policy, story_id, "https://www.instagram.com/p/abc/", "17900000000000001"
    )
    story = session.get(Story, story_id)
    assert story is not None and story.state == "published"
    assert story.permalink == "https://www.instagram.com/p/abc/"
    assert story.media_id == "17900000000000001"
    actions = [
        e.action
        for e in session.exec(
            select(StoryEvent).where(StoryEvent.story_id == story_id).order_by(col(StoryEvent.id))
        )
    ]
    assert actions == [
        "pitched",
        "assigned",
        "accept",
        "start",
        "draft",
        "changes",
        "draft",
        "approve",
        "schedule",
        "publish",
    ]
    to_dana = [r.text for r in outbox(session) if r.member_id == dana.id]
    assert any("is accepted" in t and "Friday 04 December" in t for t in to_dana)
    assert any("asks for changes" in t and "Shorter, please" in t for t in to_dana)
    assert any("is approved by Ada. It goes out on Tuesday 24 November at 18:00" in t
               for t in to_dana)
    cards = [r for r in outbox(session) if r.kind == "card"]
    assert len(cards) == 10 - 2  # the pitch and each later move; approve+schedule is one
    assert len({r.unique_key for r in cards}) == len(cards)


def test_a_coordinator_who_wrote_the_story_gets_its_card_buttons_with_its_news(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    """Every DM to a coordinator about a story carries the story's buttons, also when they
    are its author; a contributor's carry none."""
    ada, dana = team["Ada"], team["Dana"]
    own = pitch_as(session, ada, now, policy, title="Life at the lab")
    theirs = pitch_as(session, dana, now, policy)
    for story_id in (own, theirs):
        story = session.get(Story, story_id)
        assert story is not None
        reviewer = session.get(Member, story.reviewer_id)
        assert reviewer is not None
        stories.accept(session, reviewer, now, policy, story_id, date(2026, 12, 4))

    def news(member: Member, story_id: int) -> Reply:
        [row] = [r for r in outbox(session) if r.member_id == member.id
                 and r.story_id == story_id and "is accepted" in r.text]
        return Reply.from_json(row.payload)

    story = session.get(Story, own)
    assert story is not None
    assert news(ada, own).actions == stories.card_actions(story)  # decline, reassign
    assert news(ada, own).actions
    assert news(dana, theirs).actions == ()


def test_a_contributor_cannot_do_a_coordinators_move(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = pitch_as(session, team["Dana"], now, policy)
    with pytest.raises(Refused, match=r"Only coordinators can accept story #1\. Ask a coordinator"):
        stories.accept(session, team["Emil"], now, policy, story_id)


def test_only_the_author_submits_and_withdraws(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = pitch_as(session, team["Dana"], now, policy)
    stories.accept(session, team["Ada"], now, policy, story_id)
    with pytest.raises(Refused, match="Only the author or a coordinator can submit a draft"):
        stories.submit_draft(session, team["Emil"], now, policy, story_id, "https://x.org/d")
    with pytest.raises(Refused, match="Only the author or a coordinator can withdraw"):
        stories.withdraw(session, team["Emil"], now, policy, story_id)
    stories.withdraw(session, team["Dana"], now, policy, story_id)
    with pytest.raises(Refused, match="withdrawn, so it cannot approve any more"):
        stories.approve(session, team["Ada"], now, policy, story_id)


def test_an_illegal_move_lists_what_is_possible(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = pitch_as(session, team["Dana"], now, policy)
    with pytest.raises(Refused) as refusal:
        stories.approve(session, team["Ada"], now, policy, story_id)
    assert refusal.value.message == (
        "Story #1 is pitched, so you cannot approve it. From here: accept, decline, withdraw, "
        "reassign."
    )


def test_accept_refuses_a_past_date_and_defaults_to_two_weeks(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = pitch_as(session, team["Dana"], now, policy)
    with pytest.raises(Refused, match="in the past"):
        stories.accept(session, team["Ada"], now, policy, story_id, date(2026, 11, 22))
    stories.accept(session, team["Ada"], now, policy, story_id)
    story = session.get(Story, story_id)
    assert story is not None and story.draft_due == date(2026, 12, 7)


def test_decline_needs_a_reason_and_tells_the_author(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = pitch_as(session, team["Dana"], now, policy)
    with pytest.raises(Refused, match="Say why"):
        stories.decline(session, team["Ada"], now, policy, story_id, "  ")
    stories.decline(session, team["Ada"], now, policy, story_id, "Too close to #3")
    texts = [r.text for r in outbox(session) if r.member_id == team["Dana"].id]
    assert any("Too close to #3" in t for t in texts)


def approved_story(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime, title: str = "A story"
) -> int:
    story_id = pitch_as(session, team["Dana"], now, policy, title=title)
    stories.accept(session, team["Ada"], now, policy, story_id)
    stories.submit_draft(session, team["Dana"], now, policy, story_id, "https://x.org/d")
    stories.approve(session, team["Ada"], now, policy, story_id, unscheduled=True)
    return story_id


def test_schedule_next_takes_free_slots_in_order_and_warns_of_a_clash(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    first = approved_story(session, team, policy, now, "First")
    second = approved_story(session, team, policy, now, "Second")
    third = approved_story(session, team, policy, now, "Third")
    stories.schedule(session, team["Ada"], now, policy, first, None)
    reply = stories.schedule(session, team["Ada"], now, policy, second, None)
    assert "Thu 2026-11-26 18:00" in reply.text and reply.tone == "success"
    clash = stories.schedule(
        session, team["Ada"], now, policy, third, datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    )
    assert clash.tone == "warning" and "#2 is also on that day" in clash.text


def test_scheduling_into_the_slot_it_already_has_moves_nothing_and_tells_nobody(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = pitch_as(session, team["Dana"], now, policy)
    stories.accept(session, team["Ada"], now, policy, story_id)
    stories.submit_draft(session, team["Dana"], now, policy, story_id, "https://x.org/d")
    stories.approve(session, team["Ada"], now, policy, story_id)  # into Tue 24 Nov 18:00
    story = session.get(Story, story_id)
    assert story is not None and story.scheduled_at is not None
    slot, version, queued = story.scheduled_at, story.version, len(outbox(session))
    for when in (None, slot.astimezone(policy.zone)):
        reply = stories.schedule(session, team["Ada"], now, policy, story_id, when)
        assert reply.ok and reply.tone == "info"
        assert reply.text == (f"Story #{story_id} is already scheduled for Tue 2026-11-24 18:00 "
                              "(Europe/Berlin); nothing moved and nobody was told again.")
    assert story.scheduled_at == slot and story.version == version
    assert len(outbox(session)) == queued


def test_schedule_refuses_the_past_and_the_embargo(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = pitch_as(session, team["Dana"], now, policy, embargo_until=date(2026, 12, 10))
    stories.accept(session, team["Ada"], now, policy, story_id)
    stories.submit_draft(session, team["Dana"], now, policy, story_id, "https://x.org/d")
    stories.approve(session, team["Ada"], now, policy, story_id, unscheduled=True)
    with pytest.raises(Refused, match="in the past"):
        stories.schedule(session, team["Ada"], now, policy, story_id, now - timedelta(hours=1))
    with pytest.raises(Refused, match="under embargo until 2026-12-10"):
        stories.schedule(
            session, team["Ada"], now, policy, story_id, datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
        )
    reply = stories.schedule(session, team["Ada"], now, policy, story_id, None)
    assert "Thu 2026-12-10 18:00" in reply.text


def test_reassign_by_hand_and_automatically(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = pitch_as(session, team["Dana"], now, policy)
    reply = stories.reassign(session, team["Ada"], now, policy, story_id, team["Chloe"])
    assert "now reviewed by Chloe (was Ada)" in reply.text
    with pytest.raises(Refused, match="not a coordinator"):
        stories.reassign(session, team["Ada"], now, policy, story_id, team["Emil"])
    reply = stories.reassign(session, team["Ada"], now, policy, story_id)
    story = session.get(Story, story_id)
    assert story is not None and story.reviewer_id != team["Chloe"].id
    assert any(
        r.member_id == story.reviewer_id and "now reviewing" in r.text for r in outbox(session)
    )


def test_a_stale_button_changes_nothing_twice(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    story_id = pitch_as(session, team["Dana"], now, policy)
    story = session.get(Story, story_id)
    assert story is not None
    version = story.version
    stories.accept(session, team["Ada"], now, policy, story_id, None, version)
    before = len(outbox(session))
    with pytest.raises(Refused, match="has changed since this card was shown"):
        stories.accept(session, team["Ada"], now, policy, story_id, None, version)
    assert len(outbox(session)) == before


def test_unknown_story_numbers_are_refused(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    for number in (0, 99, 10**12):
        with pytest.raises(Refused, match=f"There is no story #{number}"):
            stories.show(session, team["Ada"], now, policy, number)


def test_list_and_show(
    session: Session, team: dict[str, Member], policy: Policy, now: datetime
) -> None:
    open_id = pitch_as(session, team["Dana"], now, policy, title="Open one")
    closed = pitch_as(session, team["Emil"], now, policy, title="Closed one")
    stories.decline(session, team["Ada"], now, policy, closed, "No")
    text = str(stories.list_stories(session, team["Dana"], now, policy, "open").blocks)
    assert "Open one" in text and "Closed one" not in text
    mine = str(stories.list_stories(session, team["Emil"], now, policy, "mine").blocks)
    assert "Closed one" in mine and "Open one" not in mine
    shown = stories.show(session, team["Dana"], now, policy, open_id)
    assert "History" in str(shown.blocks) and "Why this reviewer" in str(shown.blocks)


def test_team_management_and_away(session: Session, team: dict[str, Member], now: datetime) -> None:
    with pytest.raises(Refused, match="Only coordinators can change the team"):
        members.add_coordinator(session, team["Dana"], team["Emil"])
    members.add_coordinator(session, team["Ada"], team["Emil"])
    assert team["Emil"].role == "coordinator"
    members.remove_coordinator(session, team["Ada"], team["Emil"])
    assert team["Emil"].role == "contributor"
    with pytest.raises(Refused, match=r"ends .* before it starts"):
        members.add_away(session, team["Ada"], date(2026, 12, 5), date(2026, 12, 1), now.date())
    members.add_away(session, team["Ada"], date(2026, 12, 1), date(2026, 12, 5), now.date())
    listing = members.team(session, now.date())
    assert "Ada (away 2026-12-01 to 2026-12-05)" in str(listing.blocks)


def test_the_last_coordinator_cannot_be_removed(session: Session, now: datetime) -> None:
    solo = add_member(session, "Solo", coordinator=True)
    with pytest.raises(Refused, match="without coordinators"):
        members.remove_coordinator(session, solo, solo)


def test_seeding_happens_once(session: Session, now: datetime) -> None:
    assert members.seed_coordinators(session, [("console", "ada")], now) == 1
    assert members.seed_coordinators(session, [("console", "ben")], now) == 0
    ada = members.find_member(session, "console", "ada")
    assert ada is not None and ada.role == "coordinator"
    assert members.find_member(session, "console", "ben") is None


def test_two_presses_at_once_change_the_story_once(
    engine: Engine, policy: Policy, now: datetime
) -> None:
    """The second press waits for the first one's transaction and then sees its version."""
    with write_session(engine) as session:
        ada = add_member(session, "Ada", coordinator=True)
        dana = add_member(session, "Dana")
        story_id = pitch_as(session, dana, now, policy)
        stories.accept(session, ada, now, policy, story_id)
        stories.submit_draft(session, dana, now, policy, story_id, "https://x.org/d")
        story = session.get(Story, story_id)
        assert story is not None
        version, ada_id = story.version, ada.id
    first_done: threading.Event = threading.Event()
    outcomes: dict[str, str] = {}

    def press(wait_for: threading.Event | None) -> None:
        role = "first" if wait_for is None else "second"
        if wait_for is not None:
            wait_for.wait(10)
        try:
            with write_session(engine) as session:
                actor = session.get(Member, ada_id)
                assert actor is not None
                stories.approve(session, actor, now, policy, story_id, version)
                if wait_for is None:
                    first_done.set()
                    time.sleep(0.5)  # keep the transaction open while the second press runs
            outcomes[role] = "approved"
        except Refused as refusal:
            outcomes[role] = refusal.message

    threads = [
        threading.Thread(target=press, args=(None,)),
        threading.Thread(target=press, args=(first_done,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes["first"] == "approved"
    assert "has changed since this card was shown" in outcomes["second"]
    with write_session(engine) as session:
        approvals = session.exec(
            select(StoryEvent).where(
                StoryEvent.story_id == story_id, StoryEvent.action == "approve"
            )
        ).all()
    assert len(approvals) == 1
