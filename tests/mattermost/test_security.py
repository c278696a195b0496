"""Mattermost buttons and forms cannot be borrowed, replayed or broken with junk.

- a button context is bound to its post or its reader: pressed from another post or by
  another person it does nothing;
- contexts expire (7 days), dialog states too (1 hour);
- a dialog state works once: the same form submitted five times, or pressed twice at
  once by two coordinators, takes effect once;
- junk bodies get 400/401/403 and one log line, never a 500.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.applications import Starlette

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from bot.mattermost.signing import BUTTON_MAX_AGE_SECONDS, STATE_MAX_AGE_SECONDS
from bot.mattermost.web import MattermostEndpoints
from storage.db import read_session
from storage.models import Outbound
from storage.requests import HandledRequest
from tests.mattermost.conftest import PITCH_TOKEN, STORY_TOKEN, Adapter
from tests.mattermost.test_web import (
    card_buttons,
    context_of,
    open_pitch_dialog,
    pitch,
    stories,
)


def later(adapter: Adapter, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the signer's clock (Unix time) forward."""
    start = time.time()
    monkeypatch.setattr(adapter.service.signer, "_clock", lambda: start + seconds)


# --- bound to the post and the person ------------------------------------------------------


def test_a_context_shown_to_one_coordinator_cannot_be_used_by_another(
    adapter: Adapter, engine: Engine
) -> None:
    pitch(adapter)
    ada = adapter.world.user("ada")
    # The context of a button on an answer Ada got (bound to her, on any post of hers).
    context = adapter.service.signer.context("approve", 1, 1, user_id=ada)
    response = adapter.press("ben", context, post_id="q" * 26)
    assert response.status_code == 403
    assert "not made for you" in response.json()["ephemeral_text"]
    assert stories(engine)[0].state == "pitched"
    assert adapter.world.server.state.dialogs == []


def test_a_card_context_pressed_from_another_post_is_refused(
    adapter: Adapter, engine: Engine
) -> None:
    pitch(adapter)
    accept = card_buttons(adapter)["accept"]
    assert accept["post"] == accept["post_id"]
    response = adapter.press("ada", context_of(accept), post_id="z" * 26)
    assert response.status_code == 403
    assert adapter.world.server.state.dialogs == []
    # From its own post it works.
    assert adapter.press("ada", context_of(accept)).json() == {}
    assert len(adapter.world.server.state.dialogs) == 1


@pytest.mark.parametrize("field", ["post", "user", "expires"])
def test_the_binding_is_signed(adapter: Adapter, field: str) -> None:
    pitch(adapter)
    context = context_of(card_buttons(adapter)["accept"])
    context[field] = {"post": "z" * 26, "user": adapter.world.user("ada"),
                      "expires": str(int(time.time()) + 10 * BUTTON_MAX_AGE_SECONDS)}[field]
    assert adapter.press("ada", context, post_id=context["post"]).status_code == 403


def test_a_context_bound_to_nothing_is_refused(adapter: Adapter) -> None:
    pitch(adapter)
    context = context_of(card_buttons(adapter)["accept"])
    context.update(post="", user="")
    assert adapter.press("ada", context, post_id="z" * 26).status_code == 403


def test_a_button_older_than_a_week_does_nothing(
    adapter: Adapter, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pitch(adapter)
    approve_at_once = card_buttons(adapter)["accept"]
    later(adapter, monkeypatch, BUTTON_MAX_AGE_SECONDS + 60)
    response = adapter.press("ada", context_of(approve_at_once))
    assert response.status_code == 200
    assert "more than a week old" in response.json()["ephemeral_text"]
    assert "/story show 1" in response.json()["ephemeral_text"]
    assert adapter.world.server.state.dialogs == []
    assert stories(engine)[0].state == "pitched"


def test_a_dialog_state_older_than_an_hour_does_nothing(
    adapter: Adapter, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened, _ = open_pitch_dialog(adapter)
    later(adapter, monkeypatch, STATE_MAX_AGE_SECONDS + 60)
    response = adapter.submit("dana", "pitch", opened["dialog"]["state"], {"title": "Late"})
    assert response.status_code == 200
    assert "more than an hour ago" in response.json()["error"]
    assert stories(engine) == []


# --- once -----------------------------------------------------------------------------------


def test_the_same_dialog_submitted_five_times_pitches_once(
    adapter: Adapter, engine: Engine
) -> None:
    opened, hook = open_pitch_dialog(adapter)
    state = opened["dialog"]["state"]
    for _ in range(5):
        response = adapter.submit("dana", "pitch", state, {"title": "Open day at the lab"})
        assert response.status_code == 200 and response.json() == {}
    assert [s.title for s in stories(engine)] == ["Open day at the lab"]
    assert len(adapter.world.server.hook_bodies(hook)) == 1  # confirmed once
    with read_session(engine) as session:
        [handled] = session.exec(select(HandledRequest)).all()
    assert (handled.platform, handled.kind) == ("mattermost", "dialog")


def test_a_state_respaced_to_look_new_is_still_the_same_state(
    adapter: Adapter, engine: Engine
) -> None:
    opened, _ = open_pitch_dialog(adapter)
    state = opened["dialog"]["state"]
    respaced = json.dumps(json.loads(state), indent=1)
    assert respaced != state
    for candidate in (state, respaced):
        assert adapter.submit("dana", "pitch", candidate, {"title": "Twice?"}).json() == {}
    assert len(stories(engine)) == 1


def test_a_refused_submission_can_be_corrected_and_sent_again(
    adapter: Adapter, engine: Engine
) -> None:
    opened, _ = open_pitch_dialog(adapter)
    state = opened["dialog"]["state"]
    bad = adapter.submit("dana", "pitch", state, {"title": "Fine", "result_link": "nope"})
    assert set(bad.json()["errors"]) == {"result_link"}
    assert adapter.submit("dana", "pitch", state, {"title": "Fine"}).json() == {}
    assert len(stories(engine)) == 1


def second_endpoints(adapter: Adapter, engine: Engine) -> tuple[MattermostEndpoints, TestClient]:
    """Another replica: its own endpoints and thread pool over the same database."""
    endpoints = MattermostEndpoints(adapter.service, adapter.runner, engine,
                                    adapter.endpoints.policy, clock=lambda: adapter.now)
    return endpoints, TestClient(Starlette(routes=endpoints.routes()))


def test_five_copies_of_a_press_form_racing_on_two_replicas_act_once(
    adapter: Adapter, engine: Engine
) -> None:
    pitch(adapter)
    adapter.press("ben", context_of(card_buttons(adapter)["decline"]))
    state = adapter.world.server.state.dialogs[-1]["dialog"]["state"]
    other, other_client = second_endpoints(adapter, engine)
    body = adapter_body = json.dumps({
        "type": "dialog_submission", "callback_id": "press", "state": state,
        "user_id": adapter.world.user("ben"), "channel_id": adapter.world.team_channel,
        "team_id": adapter.world.team, "submission": {"reason": "Too close to #3"},
        "cancelled": False})
    assert body == adapter_body
    answers: list[Any] = []
    start = threading.Barrier(5)

    def submit(client: TestClient) -> None:
        start.wait(10)
        answers.append(client.post("/mattermost/dialog", content=body,
                                   headers={"Content-Type": "application/json"}))

    with other_client:
        threads = [threading.Thread(target=submit,
                                    args=(adapter.client if i % 2 else other_client,))
                   for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    other.close()
    assert [a.status_code for a in answers] == [200] * 5
    assert all(a.json() == {} for a in answers), [a.json() for a in answers]
    [story] = stories(engine)
    assert story.state == "declined"
    with read_session(engine) as session:
        notices = session.exec(select(Outbound).where(Outbound.story_id == story.id)).all()
        keys = [n.unique_key for n in notices]
    assert len(keys) == len(set(keys))
    assert sum("decline" in key for key in keys) == 1, keys


def test_a_double_press_by_two_coordinators_approves_once(
    adapter: Adapter, engine: Engine
) -> None:
    pitch(adapter)
    adapter.command("ada", "story", "accept 1")
    adapter.command("dana", "story", "draft 1 https://docs.example.org/d/1")
    adapter.deliver()
    approve = card_buttons(adapter)["approve"]
    other, other_client = second_endpoints(adapter, engine)
    answers: list[str] = []
    start = threading.Barrier(2)

    def press(client: TestClient, user: str) -> None:
        body = json.dumps({
            "user_id": adapter.world.user(user), "user_name": user,
            "channel_id": adapter.world.team_channel, "channel_name": "storydesk-team",
            "team_id": adapter.world.team, "team_domain": "lab", "post_id": approve["post"],
            "trigger_id": adapter.world.server.issue_trigger(), "type": "button",
            "data_source": "", "context": context_of(approve)})
        start.wait(10)
        response = client.post("/mattermost/action", content=body,
                               headers={"Content-Type": "application/json"})
        answers.append(response.json()["ephemeral_text"])

    with other_client:
        threads = [threading.Thread(target=press, args=(adapter.client, "ben")),
                   threading.Thread(target=press, args=(other_client, "chloe"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    other.close()
    assert len(answers) == 2
    [story] = stories(engine)
    assert story.state == "scheduled"  # approval puts it into the next free slot
    with read_session(engine) as session:
        keys = session.exec(select(Outbound.unique_key)).all()
    assert sum("approve" in key for key in keys) <= 1, keys
    assert any(answer.startswith("✓ Story #1 approved") for answer in answers), answers


def test_a_slash_command_has_committed_when_its_answer_arrives(
    adapter: Adapter, engine: Engine
) -> None:
    response = adapter.command("dana", "pitch", "Muons #scicomm", token=PITCH_TOKEN)
    assert response.json()["text"].startswith("✓")
    # Read on a fresh connection right after the answer: the story is there.
    assert [s.title for s in stories(engine)] == ["Muons"]


# --- junk -----------------------------------------------------------------------------------

JUNK = [
    b"",
    b"not json",
    b"\xff\xfe\x00garbage",
    b"[]",
    b'"a string"',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"user_id": 5, "post_id": [], "context": "x"}',
    b'{"user_id": "u", "post_id": "p", "context": {"sig": 5, "story": {}}}',
    b'{"user_id": "u", "post_id": "p", "context": {"action": "accept", "story": "1e9",'
    b' "version": "-1", "post": "p", "user": "", "expires": "9", "sig": "00"}}',
    b'{"callback_id": 7, "state": ["x"], "user_id": null, "cancelled": "no"}',
    b'{"callback_id": "press", "state": "{\\"body\\": 5, \\"sig\\": []}", "user_id": "u"}',
    b'{"callback_id": "press", "state": "[1]", "user_id": "u", "submission": 3}',
    b'{"a": ' * 5000 + b"1" + b"}" * 5000,
    b"x" * 70_000,
]


@pytest.mark.parametrize("path", ["/mattermost/action", "/mattermost/dialog"])
@pytest.mark.parametrize("body", JUNK, ids=range(len(JUNK)))
def test_junk_gets_a_4xx_and_one_log_line(
    adapter: Adapter, engine: Engine, caplog: pytest.LogCaptureFixture, path: str, body: bytes
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.mattermost.web")
    response = adapter.client.post(path, content=body,
                                   headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 403), response.text
    assert len([r for r in caplog.records if r.name == "bot.mattermost.web"]) == 1
    assert stories(engine) == []


@pytest.mark.parametrize("body", JUNK, ids=range(len(JUNK)))
def test_junk_commands_get_a_4xx(adapter: Adapter, body: bytes,
                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.mattermost.web")
    response = adapter.client.post(
        "/mattermost/command", content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": f"Token {STORY_TOKEN}"})
    assert response.status_code in (400, 413), response.text
    assert len([r for r in caplog.records if r.name == "bot.mattermost.web"]) == 1


def test_the_token_is_checked_before_the_body_is_read(adapter: Adapter) -> None:
    huge = b"text=" + b"x" * 200_000
    for header in ("Token wrong-token-wrong-token", "Bearer " + STORY_TOKEN, "Token "):
        response = adapter.client.post(
            "/mattermost/command", content=huge,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Authorization": header})
        assert response.status_code == 401  # not 413: the body was never looked at
