"""What a member's personal calendar holds, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select

from handlers import personal_calendar, reminders, stories
from handlers.context import Policy
from handlers.personal_calendar import member_for_token, personal_entries
from handlers.stories import PitchForm
from handlers.timing import zone_named
from storage.calendars import CalendarToken
from storage.models import Member, Outbound, Story

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday
WINDOW = (NOW - timedelta(weeks=8), NOW + timedelta(weeks=26))


def pitched(session: Session, author: Member, policy: Policy, at: datetime, title: str) -> int:
    reply = stories.pitch(session, author, at, policy, PitchForm(title=title))
    assert reply.ok and reply.story_id is not None
    return reply.story_id


def test_author_and_reviewer_each_see_only_their_part(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    dana, ada = team["Dana"], team["Ada"]
    first = pitched(session, dana, policy, NOW, "Muon tomography")
    second = pitched(session, dana, policy, NOW, "Life at the lab")
    stories.accept(session, ada, NOW, policy, first, date(2026, 12, 7))
    reviewer_of_second = session.get(Member, stories.get_story(session, second).reviewer_id)
    assert reviewer_of_second is not None

    dana_entries = personal_entries(session, dana, policy, *WINDOW)
    assert [(e.uid, e.kind, e.day) for e in dana_entries] == [
        (f"story-{first}-draft-due", "draft-due", date(2026, 12, 7))
    ]
    assert personal_entries(session, team["Emil"], policy, *WINDOW) == []

    waiting = personal_entries(session, reviewer_of_second, policy, *WINDOW)
    assert [e.uid for e in waiting] == [f"story-{second}-pitch-waiting"]
    # Placed when the review nudge would come: three days on, at 09:00 the team's time.
    assert waiting[0].at == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def test_the_reviewers_own_time_zone_places_the_review(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    for member in team.values():
        member.timezone = "Asia/Tokyo"
        session.add(member)
    story_id = pitched(session, team["Dana"], policy, NOW, "Neutrinos")
    reviewer = session.get(Member, stories.get_story(session, story_id).reviewer_id)
    assert reviewer is not None
    [entry] = personal_entries(session, reviewer, policy, *WINDOW)
    assert entry.at == datetime.combine(
        date(2026, 11, 26), time(9, 0), tzinfo=zone_named(reviewer.timezone, policy.zone)
    )

    reviewer.timezone = "Not/AZone"
    assert zone_named(reviewer.timezone, policy.zone) == policy.zone


def test_the_stamp_is_the_storys_last_change_and_the_window_is_kept(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    dana, ada = team["Dana"], team["Ada"]
    story_id = pitched(session, dana, policy, NOW - timedelta(days=20), "Old one")
    stories.accept(session, ada, NOW - timedelta(days=19), policy, story_id, date(2026, 11, 20))
    [entry] = personal_entries(session, dana, policy, *WINDOW)
    assert entry.changed_at == NOW - timedelta(days=19)
    # The due date lies before the window: not listed.
    assert personal_entries(session, dana, policy, NOW, NOW + timedelta(days=30)) == []

    stories.start_drafting(session, dana, NOW, policy, story_id)
    [entry] = personal_entries(session, dana, policy, *WINDOW)
    assert entry.changed_at == NOW


def test_published_stories_show_when_they_went_out(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    dana, ada = team["Dana"], team["Ada"]
    story_id = pitched(session, dana, policy, NOW, "Cloud chamber")
    assert stories.accept(session, ada, NOW, policy, story_id).ok
    assert stories.submit_draft(session, dana, NOW, policy, story_id, "https://d.example/x").ok
    assert stories.approve(session, ada, NOW, policy, story_id).ok
    assert stories.schedule(session, ada, NOW, policy, story_id, None).ok
    [scheduled] = personal_entries(session, dana, policy, *WINDOW)
    assert scheduled.kind == "publication" and scheduled.title.startswith("Publishing")
    later = NOW + timedelta(days=2)
    link = "https://www.instagram.com/p/abc123/"
    assert stories.publish(session, ada, later, policy, story_id, link, None).ok
    [published] = personal_entries(session, dana, policy, *WINDOW)
    assert published.uid == scheduled.uid  # the same event, moved on
    assert published.title.startswith("Published") and published.url == link
    assert published.at == later and published.changed_at == later


def test_links_are_found_by_their_token_only(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    dana = team["Dana"]
    with_url = replace(policy, public_url="https://storydesk.lab.example")
    token = "t" * 43
    assert personal_calendar.calendar_link(session, dana, NOW, with_url, token=token).ok
    assert member_for_token(session, token) == dana
    assert member_for_token(session, token[:-1]) is None
    assert member_for_token(session, "") is None
    [row] = session.exec(select(CalendarToken)).all()
    assert row.token_hash == personal_calendar.fingerprint(token) and token not in row.token_hash
    [dm] = session.exec(select(Outbound)).all()
    assert dm.member_id == dana.id
    assert f"https://storydesk.lab.example/calendar/{token}.ics" in dm.text

    assert personal_calendar.reset_link(session, dana, NOW, with_url, token="u" * 43).ok
    assert member_for_token(session, token) is None
    assert member_for_token(session, "u" * 43) == dana


def test_a_draft_waiting_for_review_is_placed_when_its_first_reminder_falls_due(
    session: Session, team: dict[str, Member], policy: Policy
) -> None:
    ada, dana = team["Ada"], team["Dana"]
    assert ada.id is not None and dana.id is not None
    tuesday = datetime(2026, 11, 24, 14, 20, tzinfo=UTC)  # 15:20 in Berlin
    thursday = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # three days on is a Sunday
    for title, submitted in (("Cloud chamber", tuesday), ("Muons", thursday)):
        session.add(Story(title=title, author_id=dana.id, reviewer_id=ada.id,
                          state="in_review", created_at=submitted - timedelta(days=20),
                          state_changed_at=submitted, draft_link="https://docs.example.org/d"))
    session.flush()
    entries = personal_entries(session, ada, policy, tuesday, tuesday + timedelta(weeks=2))
    assert [(entry.kind, entry.at) for entry in entries] == [
        ("review-waiting", datetime(2026, 11, 27, 14, 20, tzinfo=UTC)),  # Friday, 15:20
        ("review-waiting", datetime(2026, 11, 30, 8, 0, tzinfo=UTC)),  # Monday, 09:00
    ]
    for entry in entries:  # the reminders' tick queues each nudge for that very moment
        assert entry.at is not None
        reminders.run_tick(session, entry.at, policy)
    nudges = session.exec(select(Outbound).where(col(Outbound.unique_key).like(
        "review-nudge:%")).order_by(col(Outbound.id))).all()
    assert [row.due_at for row in nudges] == [entry.at for entry in entries]
