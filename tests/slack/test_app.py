"""Slash commands, buttons and modals through the real bolt dispatch and a fake Web API."""

from __future__ import annotations

import json
import logging
import time
from datetime import date
from urllib.parse import urlencode

import pytest
from sqlmodel import col, select

from storage.db import read_session, write_session
from storage.models import Member, Outbound, Story, StoryCard, StoryEvent
from tests.slack.conftest import NOW, SlackBench, payload, signed_headers


def events(bench: SlackBench, story_id: int, action: str) -> list[StoryEvent]:
    with read_session(bench.engine) as session:
        return list(session.exec(select(StoryEvent).where(
            StoryEvent.story_id == story_id, StoryEvent.action == action)).all())


def pitch(bench: SlackBench, title: str = "Muon tomography of a pyramid #scicomm #reel") -> Story:
    assert bench.command(title).status_code == 200
    bench.settle()
    return bench.stories()[-1]


def story_version(bench: SlackBench, story_id: int) -> int:
    with read_session(bench.engine) as session:
        story = session.get(Story, story_id)
        assert story is not None
        return story.version


def move_to_review(bench: SlackBench, story_id: int) -> None:
    with write_session(bench.engine) as session:
        story = session.get(Story, story_id)
        assert story is not None
        story.state, story.version = "in_review", story.version + 1
        story.draft_link = "https://docs.example.org/d/1"
        session.add(story)


# --- slash commands ---------------------------------------------------------------------


def test_a_pitch_is_committed_before_the_ack_which_carries_the_answer(
        bench: SlackBench) -> None:
    response = bench.command("Muon tomography of a pyramid #scicomm #reel")
    assert response.status_code == 200
    answer = response.json()  # the ack itself is the answer
    assert answer["response_type"] == "ephemeral"
    assert "Story #1 is pitched" in answer["text"]
    [story] = bench.stories()  # committed before the ack, without waiting for anything
    assert (story.title, story.objective, story.format) == (
        "Muon tomography of a pyramid", "scicomm", "reel")
    bench.settle()
    assert bench.fake.calls_to("response_url") == []  # no second round trip
    assert bench.acks and len(bench.acks) == 1
    # the caller's name came from users.info, not from the request's user_name
    with read_session(bench.engine) as session:
        dana = session.exec(select(Member).where(Member.user_id == "U0DANA")).one()
        assert dana.timezone == "Europe/Berlin"


def test_story_subcommand_answers_through_the_same_runner(bench: SlackBench) -> None:
    pitch(bench)
    assert bench.command("show 1", command="/story", response="show").status_code == 200
    bench.settle()
    [answer] = bench.responses("show")
    texts = json.dumps(answer["blocks"])
    assert "Muon tomography of a pyramid" in texts and "History" in texts


def test_unknown_subcommand_gets_usage_not_a_traceback(bench: SlackBench) -> None:
    bench.command("frobnicate 3", command="/story", response="bad")
    bench.settle()
    [answer] = bench.responses("bad")
    assert answer["text"].startswith(":x:")
    assert bench.stories() == []


def test_pitch_without_text_opens_the_form_with_the_trigger(bench: SlackBench) -> None:
    bench.command("")
    bench.settle()
    [call] = bench.fake.calls_to("views.open")
    view = call.params["view"]
    assert call.params["trigger_id"] == "1.1700000000.u0dana"  # the command's own trigger
    assert view["callback_id"] == "storydesk_pitch"
    assert {b["block_id"] for b in view["blocks"]} >= {"title", "summary", "objective",
                                                      "format", "embargo_until"}
    assert bench.fake.calls_to("users.info") == []  # nothing slow before the form opens


def test_expired_trigger_tells_the_person_how_to_pitch_in_one_line(bench: SlackBench) -> None:
    from tests.slack.fake_slack import error

    bench.fake.script("views.open", error("expired_trigger_id"))
    bench.command("", response="late")
    bench.settle()
    [answer] = bench.responses("late")
    assert "/pitch &lt;title&gt;" in answer["text"]


# --- signatures -------------------------------------------------------------------------


def test_forged_signature_is_refused_and_changes_nothing(bench: SlackBench) -> None:
    fields = payload("slash_command.json")
    fields.update(text="Forged pitch", response_url=bench.fake.response_url("forged"))
    body = urlencode(fields)
    forged = signed_headers(body, secret="not-the-signing-secret-at-all-00")
    assert bench.post(body, forged).status_code == 401
    tampered = signed_headers(body)
    assert bench.post(body.replace("Forged", "Tampered"), tampered).status_code == 401
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    assert bench.post(body, unsigned).status_code == 401
    bench.settle()
    assert bench.stories() == []
    assert bench.fake.calls_to("response_url") == []


def test_stale_signature_older_than_five_minutes_is_refused(bench: SlackBench) -> None:
    fields = payload("slash_command.json")
    fields.update(text="Replayed pitch", response_url=bench.fake.response_url("stale"))
    body = urlencode(fields)
    stale = signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    assert bench.post(body, stale).status_code == 401
    fresh = signed_headers(body, timestamp=int(time.time()) - 4 * 60)
    assert bench.post(body, fresh).status_code == 200
    bench.settle()
    assert [s.title for s in bench.stories()] == ["Replayed pitch"]


# --- the pitch form ---------------------------------------------------------------------


def test_pitch_form_errors_come_back_inline_and_nothing_is_saved(bench: SlackBench) -> None:
    data = payload("view_submission_pitch.json")
    values = data["view"]["state"]["values"]
    values["result_link"]["value"]["value"] = "see my slides"
    values["embargo_until"]["value"]["selected_date"] = "2026-01-01"
    response = bench.interact(data)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"result_link", "embargo_until"}
    bench.settle()
    assert bench.stories() == []
    assert bench.fake.calls_to("chat.postMessage") == []


def test_pitch_form_makes_the_story_and_confirms_by_direct_message(bench: SlackBench) -> None:
    data = payload("view_submission_pitch.json")
    response = bench.interact(data)
    assert response.status_code == 200 and response.text == ""  # the modal closes
    bench.settle()
    [story] = bench.stories()
    assert story.result_link == "2401.12345" and story.featured == "Dana, the hodoscope team"
    [dm] = bench.fake.calls_to("chat.postMessage")
    assert dm.params["channel"] == "U0DANA"
    assert "Story #1 is pitched" in dm.params["text"]
    # Slack retrying the same submission does not pitch twice
    bench.interact(data, retry=1)
    bench.settle()
    assert len(bench.stories()) == 1


# --- story-card buttons -----------------------------------------------------------------


def test_contributor_pressing_a_card_button_gets_an_ephemeral_refusal(
        bench: SlackBench) -> None:
    story = pitch(bench)
    assert story.id is not None
    assert bench.press("approve", story.id, story.version, user="U0EMIL",
                       response="emil").status_code == 200
    assert bench.press("accept", story.id, story.version, user="U0EMIL",
                       action_ts="1700000101.000001", response="emil").status_code == 200
    bench.settle()
    answers = bench.responses("emil")
    assert len(answers) == 2
    for answer in answers:
        assert answer["response_type"] == "ephemeral"
        assert answer["replace_original"] is False
        assert "Only coordinators" in answer["text"]
    assert bench.fake.calls_to("views.open") == []
    assert bench.stories()[0].state == "pitched"


def test_a_press_while_stopping_is_still_acknowledged(
        bench: SlackBench, caplog: pytest.LogCaptureFixture) -> None:
    """What a listener leaves to the background threads is left undone once they have
    stopped: the press gets its ack, not a 500 and a listener error."""
    story = pitch(bench)
    assert story.id is not None
    bench.slack.listeners.background.pool.shutdown()
    with caplog.at_level(logging.INFO, logger="bot.slack.deadline"):
        response = bench.press("approve", story.id, story.version, user="U0EMIL")
    assert response.status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("left undone" in r.getMessage() for r in caplog.records)


def test_approve_twice_or_retried_changes_the_story_once(bench: SlackBench) -> None:
    story = pitch(bench)
    assert story.id is not None
    move_to_review(bench, story.id)
    version = story_version(bench, story.id)
    bench.press("approve", story.id, version, response="first")
    bench.press("approve", story.id, version, response="retry", retry=1)  # same action_ts
    bench.press("approve", story.id, version, action_ts="1700000102.000001",
                response="second")
    bench.settle()
    assert bench.stories()[0].state == "scheduled"  # approval schedules, once
    assert len(events(bench, story.id, "approve")) == 1
    assert "approved" in bench.responses("first")[0]["text"]
    assert bench.responses("retry") == []  # a retry is answered once, by the first
    [second] = bench.responses("second")
    assert "Nothing was done twice" in second["text"] and second["response_type"] == "ephemeral"


def test_accept_opens_a_date_form_and_its_submission_accepts(bench: SlackBench) -> None:
    story = pitch(bench)
    assert story.id is not None
    bench.press("accept", story.id, story.version, response="accept")
    bench.settle()
    [opened] = bench.fake.calls_to("views.open")
    view = opened.params["view"]
    assert view["callback_id"] == "storydesk_accept"
    meta = json.loads(view["private_metadata"])
    assert (meta["story_id"], meta["version"]) == (story.id, story.version)
    assert view["blocks"][0]["element"]["initial_date"] == "2026-12-07"  # 14 days on

    submission = payload("view_submission_accept.json")
    submission["view"]["private_metadata"] = view["private_metadata"]
    submission["view"]["state"]["values"]["due"]["value"]["selected_date"] = "2026-12-10"
    assert bench.interact(submission).text == ""
    bench.settle()
    accepted = bench.stories()[0]
    assert accepted.state == "accepted" and accepted.draft_due == date(2026, 12, 10)
    assert "accepted" in bench.responses("accept")[0]["text"]
    # the same form submitted again (a stale version) changes nothing
    submission["view"]["hash"] = "1700000400.Other"
    bench.interact(submission)
    bench.settle()
    assert len(events(bench, story.id, "accept")) == 1


def test_accept_form_refuses_a_past_date_inline(bench: SlackBench) -> None:
    story = pitch(bench)
    submission = payload("view_submission_accept.json")
    submission["view"]["state"]["values"]["due"]["value"]["selected_date"] = "2026-11-01"
    answer = bench.interact(submission).json()
    assert answer == {"response_action": "errors", "errors": {"due": "This date is in the past."}}
    bench.settle()
    assert bench.stories()[0].state == story.state == "pitched"


def test_decline_needs_a_reason_then_tells_the_author(bench: SlackBench) -> None:
    story = pitch(bench)
    submission = payload("view_submission_accept.json")
    view = submission["view"]
    view["callback_id"] = "storydesk_decline"
    view["private_metadata"] = bench.metadata(story, "decline")
    view["state"]["values"] = {"reason": {"value": {"type": "plain_text_input", "value": None}}}
    assert bench.interact(submission).json()["errors"] == {"reason": "A reason is required."}
    view["state"]["values"]["reason"]["value"]["value"] = "We ran a muon story in <May> & June"
    view["hash"] = "1700000500.Second"
    bench.interact(submission)
    bench.settle()
    declined = bench.stories()[0]
    assert declined.state == "declined"
    assert declined.decline_reason == "We ran a muon story in <May> & June"
    assert "declined" in bench.responses("decline")[0]["text"]
    assert story.id is not None
    with read_session(bench.engine) as session:
        rows = session.exec(select(Outbound).where(Outbound.member_id.is_not(None))  # type: ignore[union-attr]
                            .order_by(col(Outbound.id))).all()
    assert any("not taken this time" in row.text for row in rows)


def test_reassign_form_uses_the_picked_user(bench: SlackBench) -> None:
    story = pitch(bench)
    assert story.id is not None
    submission = payload("view_submission_accept.json")
    view = submission["view"]
    view["callback_id"] = "storydesk_reassign"
    view["private_metadata"] = json.dumps({"story_id": story.id, "version": story.version,
                                           "channel_id": "C0TEAM", "response_url": ""})
    with read_session(bench.engine) as session:
        reviewer = session.get(Member, story.reviewer_id)
        assert reviewer is not None
        current = reviewer.user_id
    target = next(u for u in ("U0ADA", "U0BEN", "U0CHLOE") if u != current)
    view["state"]["values"] = {"reviewer": {"value": {"type": "users_select",
                                                      "selected_user": target}}}
    bench.interact(submission)
    bench.settle()
    with read_session(bench.engine) as session:
        updated = session.get(Story, story.id)
        assert updated is not None
        new = session.get(Member, updated.reviewer_id)
        assert new is not None and new.user_id == target
    # without a response_url the result comes as a direct message to the presser
    dms = [c for c in bench.fake.calls_to("chat.postMessage") if c.params["channel"] == "U0ADA"]
    assert dms and "now reviewed by" in dms[-1].params["text"]


# --- what leaves through the outbox -----------------------------------------------------


def test_mention_injection_in_a_title_pings_nobody(bench: SlackBench) -> None:
    # Typed literally, `<!channel>` reaches us as entities; typed as @channel, as a token.
    bench.command("&lt;!channel&gt; free pizza &amp; <!here> muons")
    bench.settle()
    [story] = bench.stories()
    assert story.title == "<!channel> free pizza & @here muons"
    report = bench.dispatch()
    assert report.sent >= 1
    posted = bench.fake.calls_to("chat.postMessage") + bench.fake.calls_to("response_url")
    assert posted
    for call in posted:
        raw = json.dumps(call.params)
        assert "<!channel>" not in raw and "<!here>" not in raw and "<!" not in raw
    card = next(c for c in bench.fake.calls_to("chat.postMessage")
                if c.params["channel"] == "storydesk-team")
    assert "&lt;!channel&gt; free pizza &amp; @here muons" in json.dumps(card.params["blocks"])


def test_card_is_posted_once_then_updated_in_place(bench: SlackBench) -> None:
    story = pitch(bench)
    assert story.id is not None
    bench.dispatch()
    [posted] = [c for c in bench.fake.calls_to("chat.postMessage")
                if c.params["channel"] == "storydesk-team"]
    buttons = [e["action_id"] for b in posted.params["blocks"] if b["type"] == "actions"
               for e in b["elements"]]
    assert buttons == ["story_accept", "story_decline", "story_reassign"]
    bench.press("approve", story.id, story.version, response="x")  # not possible: pitched
    bench.settle()
    move_to_review(bench, story.id)
    bench.press("approve", story.id, story_version(bench, story.id), response="ok",
                action_ts="1700000103.000001")
    bench.settle()
    bench.dispatch()
    [update] = bench.fake.calls_to("chat.update")
    with read_session(bench.engine) as session:
        card = session.exec(select(StoryCard).where(StoryCard.story_id == story.id)).one()
    assert (update.params["channel"], update.params["ts"]) == (card.channel_id, card.message_id)
    assert card.channel_id == "CSTORYDESKT"  # the id Slack answered, not the channel's name
    assert "(scheduled)" in update.params["text"]  # approval put it into a slot
    assert len([c for c in bench.fake.calls_to("chat.postMessage")
                if c.params["channel"] == "storydesk-team"]) == 1


def test_acks_are_timed_into_the_metrics_hook(bench: SlackBench) -> None:
    bench.command("A")
    bench.interact(payload("view_submission_pitch.json"))
    bench.settle()
    assert len(bench.acks) == 2 and all(0 <= seconds < 30 for seconds in bench.acks)


def test_now_is_the_injected_clock(bench: SlackBench) -> None:
    story = pitch(bench)
    assert story.created_at == NOW


def test_mentions_in_story_commands_resolve_through_users_info(bench: SlackBench) -> None:
    story = pitch(bench)
    assert story.id is not None
    bench.fake.add_user("U0FARAH", "farah", tz="America/Chicago", real_name="Farah Haddad",
                        display_name="")  # no display name set: the real name is used
    bench.command("team add <@U0FARAH|farah>", command="/story", user="U0ADA", response="team")
    bench.settle()
    assert "Farah Haddad is now a coordinator" in bench.responses("team")[0]["text"]
    bench.command(f"reassign {story.id} <@U0FARAH>", command="/story", user="U0ADA",
                  response="reassign")
    bench.settle()
    assert "now reviewed by Farah Haddad" in bench.responses("reassign")[0]["text"]
    with read_session(bench.engine) as session:
        farah = session.exec(select(Member).where(Member.user_id == "U0FARAH")).one()
        assert (farah.platform, farah.timezone) == ("slack", "America/Chicago")
