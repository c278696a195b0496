"""The Mattermost endpoints, fed requests shaped like Mattermost's, over a real database."""

from __future__ import annotations

import json
import logging
import time
import warnings
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.applications import Starlette

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from bot.commands import Caller, CommandRunner
from bot.mattermost.dialogs import pitch_dialog, press_dialog
from bot.mattermost.web import MattermostEndpoints
from handlers.reply import Image, Reply
from storage.db import read_session
from storage.models import Member, Story
from tests.mattermost.conftest import PITCH_TOKEN, PUBLIC_URL, STORY_TOKEN, Adapter

GROUP_MENTIONS = ("@channel", "@all", "@here", "<!channel>", "<!here>")


def stories(engine: Engine) -> list[Story]:
    with read_session(engine) as session:
        return list(session.exec(select(Story).order_by(Story.id)).all())


def card_buttons(adapter: Adapter) -> dict[str, dict[str, Any]]:
    server, channel = adapter.world.server, adapter.world.team_channel
    [post] = [p for p in server.posts_in(channel) if p["props"].get("attachments")]
    actions = post["props"]["attachments"][0].get("actions", [])
    return {a["integration"]["context"]["action"]: {**a["integration"]["context"],
                                                     "post_id": post["id"]} for a in actions}


def context_of(button: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in button.items() if k != "post_id"}


def markdown_of(attachments: list[dict[str, Any]]) -> str:
    """What Mattermost renders as markdown (the fallback is plain notification text)."""
    shown = [{k: v for k, v in a.items() if k != "fallback"} for a in attachments]
    return json.dumps(shown, ensure_ascii=False)


def pitch(adapter: Adapter, text: str = "Muon tomography of a volcano #scicomm",
          user: str = "dana") -> None:
    response = adapter.command(user, "pitch", text, token=PITCH_TOKEN)
    assert response.status_code == 200, response.text
    adapter.deliver()


def wait_for(probe: Any, seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    return probe()


# --- slash commands ------------------------------------------------------------------------


@pytest.mark.parametrize("token, header", [("wrong-token", True), ("", True), ("wrong", False),
                                           ("", False), ("tøken-ünicode", False)])
def test_a_wrong_or_missing_token_gets_401_and_has_no_effect(
    adapter: Adapter, engine: Engine, token: str, header: bool
) -> None:
    response = adapter.command("dana", "pitch", "Sneaky pitch", token=token, header=header)
    assert response.status_code == 401
    assert stories(engine) == []
    with read_session(engine) as session:
        assert session.exec(select(Member).where(Member.display_name == "Dana Kim")).first() \
            is None


def test_the_token_may_come_as_a_form_field(adapter: Adapter, engine: Engine) -> None:
    response = adapter.command("dana", "pitch", "Muons", token=PITCH_TOKEN, header=False)
    assert response.status_code == 200
    assert [s.title for s in stories(engine)] == ["Muons"]


def test_story_help_answers_with_command_response_json(adapter: Adapter) -> None:
    response = adapter.command("emil", "story", "help", token=STORY_TOKEN)
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert body["skip_slack_parsing"] is True
    assert "Storydesk commands" in body["text"]
    assert any("/story show N" in a.get("text", "") for a in body["attachments"])


def test_a_quick_pitch_creates_the_story_posts_the_card_and_tells_the_reviewer(
    adapter: Adapter, engine: Engine
) -> None:
    response = adapter.command("dana", "pitch", "Muon tomography #scicomm #reel -- a summary",
                               token=PITCH_TOKEN)
    assert "Story #1 is pitched" in response.json()["text"]
    [story] = stories(engine)
    assert (story.objective, story.format, story.summary) == ("scicomm", "reel", "a summary")
    with read_session(engine) as session:
        author = session.get(Member, story.author_id)
        assert author is not None
        assert (author.display_name, author.timezone, author.platform) == (
            "Dana Kim", "Asia/Seoul", "mattermost")
    adapter.deliver()
    buttons = card_buttons(adapter)
    assert set(buttons) == {"accept", "decline", "reassign"}
    dms = [p for p in adapter.world.server.state.posts.values()
           if p["channel_id"] not in (adapter.world.team_channel, adapter.world.town_square)]
    assert any("You are reviewing story #1" in p["message"] for p in dms)
    assert adapter.world.server.violations == []


def test_an_illegal_move_says_what_is_possible(adapter: Adapter) -> None:
    pitch(adapter)
    body = adapter.command("ada", "story", "approve 1").json()
    assert body["text"].startswith("✗ Story #1 is pitched, so you cannot approve it")


def test_mentions_and_markdown_in_a_pitch_reach_nobody(adapter: Adapter) -> None:
    hostile = "@channel big news <!here> **now** [x](https://evil.example) @all"
    response = adapter.command("dana", "pitch", hostile, token=PITCH_TOKEN).json()
    adapter.deliver()
    texts = [response["text"], markdown_of(response.get("attachments", []))]
    texts += [p["message"] + markdown_of(p["props"].get("attachments", []))
              for p in adapter.world.server.state.posts.values()]
    for text in texts:
        for mention in GROUP_MENTIONS:
            assert mention not in text
        assert "[x](" not in text and "**now**" not in text
    [card] = adapter.world.server.posts_in(adapter.world.team_channel)
    assert card["props"]["attachments"][0]["title"].startswith("\\#1 @\u200dchannel big news")


def test_slow_work_is_answered_through_the_response_url(
    adapter: Adapter, engine: Engine
) -> None:
    endpoints = MattermostEndpoints(adapter.service, adapter.runner, engine,
                                    adapter.runner.policy, clock=lambda: adapter.now,
                                    answer_within=0.0)
    hook = adapter.world.server.hook_url()
    with TestClient(Starlette(routes=endpoints.routes())) as client:
        slow = Adapter(adapter.world, adapter.service, adapter.runner, endpoints, client,
                       adapter.dispatcher, adapter.now)
        first = slow.command("emil", "story", "list all", response_url=hook).json()
    assert first["text"].startswith("This is taking longer than usual. If your command goes "
                                    "through, the answer follows here or in a direct message")
    [late] = wait_for(lambda: adapter.world.server.hook_bodies(hook))
    assert late["response_type"] == "ephemeral"
    assert late["text"].startswith("All stories")
    endpoints.close()


def slow_endpoints(adapter: Adapter, engine: Engine) -> MattermostEndpoints:
    """The endpoints, answering every command late (through its response URL)."""
    return MattermostEndpoints(adapter.service, adapter.runner, engine, adapter.runner.policy,
                               clock=lambda: adapter.now, answer_within=0.0)


def test_a_late_answer_the_response_url_refuses_comes_by_direct_message(
    adapter: Adapter, engine: Engine
) -> None:
    """The person was told the answer follows if the command goes through, and to send it
    again if none comes: it went through, so the answer must come, here by DM."""
    world = adapter.world
    expired = f"{world.server.url}/hooks/commands/{'x' * 26}"  # never issued: 404
    endpoints = slow_endpoints(adapter, engine)
    with TestClient(Starlette(routes=endpoints.routes())) as client:
        slow = Adapter(world, adapter.service, adapter.runner, endpoints, client,
                       adapter.dispatcher, adapter.now)
        first = slow.command("dana", "pitch", "Muon tomography of a volcano",
                             token=PITCH_TOKEN, response_url=expired).json()
    assert first["text"].startswith("This is taking longer than usual")
    direct = adapter.service.transport.open_direct(world.user("dana"))
    [answer] = wait_for(lambda: world.server.posts_in(direct))
    assert answer["message"].startswith("✓ Thanks! Story #1 is pitched")
    assert answer["props"]["attachments"]  # the card, as the command response had it
    assert [s.title for s in stories(engine)] == ["Muon tomography of a volcano"]
    endpoints.close()


def test_a_late_answer_that_cannot_be_delivered_at_all_is_logged(
    adapter: Adapter, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    world = adapter.world
    world.server.fail("POST", "/api/v4/posts", 503)
    expired = f"{world.server.url}/hooks/commands/{'x' * 26}"
    endpoints = slow_endpoints(adapter, engine)
    with caplog.at_level(logging.ERROR, logger="bot.late_answer"):
        with TestClient(Starlette(routes=endpoints.routes())) as client:
            slow = Adapter(world, adapter.service, adapter.runner, endpoints, client,
                           adapter.dispatcher, adapter.now)
            slow.command("emil", "story", "list all", response_url=expired)
        [line] = wait_for(lambda: [r.getMessage() for r in caplog.records
                                   if "not even by direct message" in r.getMessage()])
    assert world.user("emil") in line
    endpoints.close()


class ChartRunner(CommandRunner):
    """Answers every command with a chart, as the reach commands do."""

    chart: str = ""

    def run(self, caller: Caller, command: str, text: str, now: datetime) -> Reply:
        return Reply(text="Reach, last 12 weeks", blocks=(Image(self.chart, "Reach"),))


def test_a_reply_with_a_chart_is_posted_with_the_file(
    adapter: Adapter, engine: Engine, tmp_path: Path
) -> None:
    chart = tmp_path / "reach.png"
    chart.write_bytes(b"\x89PNG fake")
    runner = ChartRunner(engine, adapter.runner.policy)
    runner.chart = str(chart)
    endpoints = MattermostEndpoints(adapter.service, runner, engine, adapter.runner.policy)
    with TestClient(Starlette(routes=endpoints.routes())) as client:
        body = client.post("/mattermost/command", headers={
            "Authorization": f"Token {STORY_TOKEN}"}, data={
            "command": "/story", "text": "reach", "user_id": adapter.world.user("ben"),
            "user_name": "ben", "channel_id": adapter.world.team_channel}).json()
    endpoints.close()
    assert "direct messages" in body["text"]
    [post] = [p for p in adapter.world.server.state.posts.values() if p["file_ids"]]
    assert adapter.world.server.state.files[post["file_ids"][0]]["content"] == b"\x89PNG fake"


# --- the pitch dialog ----------------------------------------------------------------------


def open_pitch_dialog(adapter: Adapter, user: str = "dana") -> tuple[dict[str, Any], str]:
    hook = adapter.world.server.hook_url()
    response = adapter.command(user, "pitch", "", token=PITCH_TOKEN, response_url=hook)
    assert response.status_code == 200
    assert response.json() == {}
    opened = adapter.world.server.state.dialogs[-1]
    return opened, hook


def test_pitch_alone_opens_the_dialog_with_the_same_fields_as_slack(adapter: Adapter) -> None:
    opened, _ = open_pitch_dialog(adapter)
    assert opened["url"] == f"{PUBLIC_URL}/mattermost/dialog"
    dialog = opened["dialog"]
    assert dialog["callback_id"] == "pitch"
    assert [e["name"] for e in dialog["elements"]] == [
        "title", "summary", "objective", "format", "featured", "result_link", "embargo_until"]
    assert adapter.world.server.violations == []


def test_long_dialog_fields_are_textareas_as_the_dialog_rules_require() -> None:
    """A `text` element takes at most 150 characters; longer ones must be `textarea`."""
    dialogs = [pitch_dialog("s")] + [press_dialog(action, 1, "s", date(2026, 11, 30), 7)
                                     for action in ("accept", "decline", "changes", "reassign")]
    for dialog in dialogs:
        for element in dialog["elements"]:
            if element["type"] == "text":
                assert element["max_length"] <= 150, element["name"]
    kinds = {e["name"]: (e["type"], e["max_length"]) for e in pitch_dialog("s")["elements"]
             if "max_length" in e}
    assert kinds["featured"] == ("textarea", 500)
    assert kinds["result_link"] == ("textarea", 400)
    assert kinds["title"] == ("text", 150)


def test_a_dialog_submission_pitches_and_confirms_through_the_response_url(
    adapter: Adapter, engine: Engine
) -> None:
    opened, hook = open_pitch_dialog(adapter)
    response = adapter.submit("dana", "pitch", opened["dialog"]["state"], {
        "title": "Open day at the lab", "summary": "Tours and talks", "objective": "recruitment",
        "format": "carousel", "featured": "", "result_link": None, "embargo_until": "2026-12-01",
    })
    assert response.status_code == 200 and response.json() == {}
    [story] = stories(engine)
    assert (story.title, story.objective, story.embargo_until) == (
        "Open day at the lab", "recruitment", date(2026, 12, 1))
    [confirmation] = adapter.world.server.hook_bodies(hook)
    assert "Story #1 is pitched" in confirmation["text"]


def test_the_pitch_dialog_sent_again_from_a_new_dialog_pitches_once(
    adapter: Adapter, engine: Engine
) -> None:
    """Each dialog opened is a request of its own; the same pitch from a second one is the
    same pitch, answered as such."""
    hooks = []
    for title in ("Open day at the lab", "open day at the lab "):
        opened, hook = open_pitch_dialog(adapter)
        hooks.append(hook)
        response = adapter.submit("dana", "pitch", opened["dialog"]["state"], {"title": title})
        assert response.status_code == 200 and response.json() == {}
    assert [s.title for s in stories(engine)] == ["Open day at the lab"]
    [first], [again] = (adapter.world.server.hook_bodies(hook) for hook in hooks)
    assert "Story #1 is pitched" in first["text"]
    assert "You pitched this a moment ago: it is #1, reviewer Ada." in again["text"]


@pytest.mark.parametrize("submission, field", [
    ({"title": "Fine", "embargo_until": "next week"}, "embargo_until"),
    ({"title": "Fine", "embargo_until": "2020-01-01"}, "embargo_until"),
    ({"title": "   "}, "title"),
    ({"title": "Fine", "result_link": "not a link"}, "result_link"),
])
def test_field_errors_come_back_as_dialog_errors(
    adapter: Adapter, engine: Engine, submission: dict[str, Any], field: str
) -> None:
    opened, _ = open_pitch_dialog(adapter)
    body = adapter.submit("dana", "pitch", opened["dialog"]["state"], submission).json()
    assert set(body["errors"]) == {field}
    assert stories(engine) == []


def test_a_cancelled_dialog_does_nothing(adapter: Adapter, engine: Engine) -> None:
    opened, _ = open_pitch_dialog(adapter)
    response = adapter.submit("dana", "pitch", opened["dialog"]["state"], None, cancelled=True)
    assert response.status_code == 200
    assert stories(engine) == []


def test_a_forged_or_borrowed_dialog_state_is_refused(adapter: Adapter, engine: Engine) -> None:
    opened, _ = open_pitch_dialog(adapter)
    state = opened["dialog"]["state"]
    forged = json.loads(state)
    forged["body"] = forged["body"].replace('"response_url":"', '"response_url":"x')
    for user, candidate in (("dana", json.dumps(forged)), ("ben", state), ("dana", "{}")):
        response = adapter.submit(user, "pitch", candidate, {"title": "Forged"})
        assert response.status_code == 403
    assert stories(engine) == []


# --- buttons -----------------------------------------------------------------------------


def test_only_coordinators_may_press_card_buttons(adapter: Adapter, engine: Engine) -> None:
    pitch(adapter)
    accept = card_buttons(adapter)["accept"]
    dialogs_before = len(adapter.world.server.state.dialogs)
    body = adapter.press("emil", context_of(accept)).json()
    assert "Only coordinators" in body["ephemeral_text"]
    assert len(adapter.world.server.state.dialogs) == dialogs_before
    assert stories(engine)[0].state == "pitched"


@pytest.mark.parametrize("change", ["sig", "version", "story", "action", "missing"])
def test_a_forged_button_context_is_refused(adapter: Adapter, engine: Engine,
                                            change: str) -> None:
    pitch(adapter)
    context = context_of(card_buttons(adapter)["accept"])
    if change == "sig":
        context["sig"] = "0" * 64
    elif change == "version":
        context["version"] = "7"
    elif change == "story":
        context["story"] = "2"
    elif change == "action":
        context["action"] = "approve"
    else:
        del context["sig"]
    response = adapter.press("ada", context)
    assert response.status_code == 403
    assert adapter.world.server.state.dialogs == []
    assert stories(engine)[0].state == "pitched"


def test_accept_opens_a_dialog_then_updates_the_card_in_place(
    adapter: Adapter, engine: Engine
) -> None:
    pitch(adapter)
    accept = card_buttons(adapter)["accept"]
    card_id = accept["post_id"]
    assert adapter.press("ada", context_of(accept), post_id=card_id).json() == {}
    opened = adapter.world.server.state.dialogs[-1]
    [due] = opened["dialog"]["elements"]
    assert due["default"] == "2026-12-07"  # today in Berlin + 14 days
    body = adapter.submit("ada", "press", opened["dialog"]["state"], {"due": "2026-12-10"})
    assert body.json() == {}
    [story] = stories(engine)
    assert (story.state, story.draft_due) == ("accepted", date(2026, 12, 10))
    adapter.deliver()
    assert adapter.world.server.calls("PUT", f"/api/v4/posts/{card_id}/patch")
    assert set(card_buttons(adapter)) == {"decline", "reassign"}
    # The old Accept button is stale now: pressing it again changes nothing.
    again = adapter.press("ada", context_of(accept), post_id=card_id).json()
    assert "has changed since this card was shown" in again["ephemeral_text"]
    assert len(adapter.world.server.state.dialogs) == 1
    assert stories(engine)[0].version == story.version


def test_a_press_dialog_state_cannot_be_reused_by_someone_else(
    adapter: Adapter, engine: Engine
) -> None:
    pitch(adapter)
    adapter.press("ada", context_of(card_buttons(adapter)["accept"]))
    state = adapter.world.server.state.dialogs[-1]["dialog"]["state"]
    assert adapter.submit("emil", "press", state, {"due": "2026-12-10"}).status_code == 403
    assert stories(engine)[0].state == "pitched"


def test_decline_needs_a_reason(adapter: Adapter, engine: Engine) -> None:
    pitch(adapter)
    adapter.press("ben", context_of(card_buttons(adapter)["decline"]))
    state = adapter.world.server.state.dialogs[-1]["dialog"]["state"]
    assert set(adapter.submit("ben", "press", state, {"reason": " "}).json()["errors"]) == {
        "reason"}
    assert adapter.submit("ben", "press", state, {"reason": "Too close to #3"}).json() == {}
    assert stories(engine)[0].state == "declined"


def test_reassign_picks_the_chosen_coordinator(adapter: Adapter, engine: Engine) -> None:
    pitch(adapter)
    adapter.press("ada", context_of(card_buttons(adapter)["reassign"]))
    dialog = adapter.world.server.state.dialogs[-1]["dialog"]
    assert dialog["elements"][0]["data_source"] == "users"
    before = stories(engine)[0].reviewer_id
    target = "chloe" if before != 3 else "ben"
    body = adapter.submit("ada", "press", dialog["state"],
                          {"reviewer": adapter.world.user(target)}).json()
    assert body == {}
    with read_session(engine) as session:
        story = session.exec(select(Story)).one()
        reviewer = session.get(Member, story.reviewer_id)
        assert reviewer is not None and reviewer.user_id == adapter.world.user(target)


def test_approve_acts_at_once_and_request_changes_takes_a_note(
    adapter: Adapter, engine: Engine
) -> None:
    pitch(adapter)
    assert adapter.command("ada", "story", "accept 1").json()["text"].startswith("✓")
    assert adapter.command("dana", "story", "draft 1 https://docs.example.org/d/1").json()[
        "text"].startswith("✓")
    adapter.deliver()
    buttons = card_buttons(adapter)
    assert {"approve", "changes"} <= set(buttons)
    adapter.press("ben", context_of(buttons["changes"]))
    state = adapter.world.server.state.dialogs[-1]["dialog"]["state"]
    assert adapter.submit("ben", "press", state, {"note": "Shorter intro"}).json() == {}
    assert stories(engine)[0].state == "changes_requested"
    adapter.command("dana", "story", "draft 1 https://docs.example.org/d/2")
    adapter.deliver()
    body = adapter.press("chloe", context_of(card_buttons(adapter)["approve"])).json()
    assert body["ephemeral_text"].startswith("✓ Story #1 approved")
    assert stories(engine)[0].state == "scheduled"  # approval puts it into a slot
