"""What reaches /slack/events that Slack did not mean, or meant once: junk, replays, copies.

A copy of a request (Slack's retry, a replay, a double submission) takes effect once, and
that is decided by the database's unique key on the request's identity, so two apps (two
processes or replicas, each with its own memory) sharing one database act once too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from sqlmodel import func, select

from storage.db import read_session
from storage.models import Outbound, Story
from storage.requests import HandledRequest
from tests.slack.conftest import SECRET, SlackBench, make_bench, payload, signed_headers

JUNK = [
    ("application/x-www-form-urlencoded", b"payload=[]"),
    ("application/x-www-form-urlencoded", b"payload=notjson"),
    ("application/x-www-form-urlencoded", b"payload=%7B%7D"),  # {} without a type
    ("application/x-www-form-urlencoded", b"\xff\xfe\x00binary\x00"),
    ("application/x-www-form-urlencoded", b"text=no+command+field"),
    ("application/json", b"[]"),
    ("application/json", b"{not json"),
]


@pytest.mark.parametrize(("content_type", "body"), JUNK)
def test_signed_junk_gets_400_and_one_log_line(bench: SlackBench, content_type: str,
                                               body: bytes,
                                               caplog: pytest.LogCaptureFixture) -> None:
    timestamp = int(time.time())
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(timestamp),
               "X-Slack-Signature": sign_bytes(body, timestamp)}
    with caplog.at_level("WARNING"):
        response = bench.http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 400
    assert [r.name for r in caplog.records] == ["bot.slack.web"]
    assert not any(r.exc_info for r in caplog.records)  # one line, never a traceback
    assert bench.stories() == []


def sign_bytes(body: bytes, timestamp: int) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("body", [b"payload=[]", b"payload=notjson", b"\x00\x01", b"[]"])
def test_unsigned_junk_gets_401_before_anything_is_parsed(bench: SlackBench,
                                                          body: bytes) -> None:
    response = bench.http.post("/slack/events", content=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"})
    assert response.status_code == 401


def test_a_signed_view_without_a_type_is_refused(bench: SlackBench) -> None:
    data = payload("view_submission_pitch.json")
    del data["type"]
    assert bench.interact(data).status_code == 400
    assert bench.stories() == []


def count(bench: SlackBench, model: type) -> int:
    with read_session(bench.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_the_same_view_submitted_twice_pitches_once(bench: SlackBench) -> None:
    data = payload("view_submission_pitch.json")
    for retry in (None, 1, 2):
        assert bench.interact(data, retry=retry).status_code == 200
    bench.settle()
    assert count(bench, Story) == 1
    assert len(bench.fake.calls_to("chat.postMessage")) == 1  # one confirmation


def test_two_apps_on_one_database_act_once_on_a_replayed_view(bench: SlackBench) -> None:
    """A second process has none of the first one's memory: only the database decides."""
    other, other_app = make_bench(bench.engine, bench.fake, people=False)
    try:
        data = payload("view_submission_pitch.json")
        assert bench.interact(data).status_code == 200
        assert other.interact(data, retry=1).status_code == 200
        bench.settle()
        other.settle()
        assert count(bench, Story) == 1
        with read_session(bench.engine) as session:
            keys = session.exec(select(HandledRequest.key)).all()
        assert [k for k in keys if k.startswith("slack:view:")] == [
            "slack:view:{}:{}".format(data["view"]["id"], data["view"]["hash"])]
    finally:
        other_app.close(wait=True)


def test_a_double_click_on_a_button_changes_the_story_once(bench: SlackBench) -> None:
    bench.command("A story to accept")
    [story] = bench.stories()
    assert story.id is not None
    bench.press("approve", story.id, story.version, action_ts="1700000100.000001",
                response="first")
    bench.press("approve", story.id, story.version, action_ts="1700000100.000001",
                response="again", retry=1)
    bench.settle()
    with read_session(bench.engine) as session:
        answers = session.exec(select(Outbound).where(
            Outbound.kind == "response")).all()
    assert len(answers) <= 1  # at most one answer queued, for the first press


def test_replaying_a_slash_command_with_its_trigger_pitches_once(bench: SlackBench) -> None:
    fields = payload("slash_command.json")
    fields.update(text="Replayed pitch", user_id="U0DANA", user_name="dana",
                  trigger_id="42.1700000000.replay",
                  response_url=bench.fake.response_url("replay"))
    body = urlencode(fields)
    first = bench.post(body, signed_headers(body)).json()
    second = bench.post(body, signed_headers(body)).json()
    assert count(bench, Story) == 1
    assert first["text"] == second["text"]  # the copy gets the first answer
    assert json.loads(json.dumps(second))["response_type"] == "ephemeral"


def dm_texts(bench: SlackBench, user: str) -> list[str]:
    return [str(c.params.get("text")) for c in bench.fake.calls_to("chat.postMessage")
            if c.params.get("channel") == user]


def test_a_pitch_sent_again_as_a_new_command_is_answered_not_applied(
        bench: SlackBench) -> None:
    """Told that the first /pitch was taking longer, the person sends it again: a new
    trigger id, so a new request, but the same pitch."""
    first = bench.command("Muon tomography of a volcano #outreach", response="first").json()
    again = bench.command("muon tomography of a volcano", response="again").json()
    assert "Story #1 is pitched" in first["text"]
    assert "You pitched this a moment ago: it is #1, reviewer Ada." in again["text"]
    assert count(bench, Story) == 1


def test_the_pitch_form_after_the_same_pitch_by_command_reaches_the_same_check(
        bench: SlackBench) -> None:
    """The form (a view with an id of its own) goes through the same handler as the
    command: the copy is named in the direct message that answers a form."""
    bench.command("Muon tomography of a pyramid", user="U0DANA")
    data = payload("view_submission_pitch.json")
    data["view"]["state"]["values"]["title"]["value"]["value"] = "Muon Tomography of a Pyramid"
    assert bench.interact(data).status_code == 200
    bench.settle()
    assert count(bench, Story) == 1
    [answer] = dm_texts(bench, data["user"]["id"])
    assert "You pitched this a moment ago: it is #1" in answer


def test_the_pitch_form_opened_and_sent_twice_pitches_once(bench: SlackBench) -> None:
    for view_id in ("V0PITCH01", "V0PITCH02"):  # the form opened a second time
        data = payload("view_submission_pitch.json")
        data["view"].update(id=view_id, hash=f"1700000200.{view_id}")
        assert bench.interact(data).status_code == 200
        bench.settle()
    assert count(bench, Story) == 1
    first, again = dm_texts(bench, "U0DANA")
    assert "Story #1 is pitched" in first
    assert "You pitched this a moment ago: it is #1" in again
