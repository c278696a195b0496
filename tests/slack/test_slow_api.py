"""Acks stay fast whatever the Web API does: checked by order of events, not by timing."""

from __future__ import annotations

from tests.slack.conftest import SlackBench, TestClient


def test_acks_return_while_every_web_api_call_is_held(bench: SlackBench) -> None:
    before = len(bench.fake.calls)  # auth.test, when the app was built
    bench.fake.hold()  # the Web API answers nothing until released
    statuses = [bench.command(f"Held pitch {n}", response=f"held{n}").status_code
                for n in range(4)]
    statuses.append(bench.interact_pitch_form().status_code)
    assert statuses == [200] * 5
    # Every ack came back, yet not one Web API call has been answered: the one worker is
    # stuck in users.info and everything else waits in the queue, not in front of an ack.
    held = bench.fake.calls[before:]
    assert held, "the first command's work has started"
    assert not any(call.finished.is_set() for call in held)
    bench.fake.release()
    bench.settle()
    assert len(bench.stories()) == 5
    assert all(bench.responses(f"held{n}") for n in range(4))


def test_acks_return_before_a_two_second_web_api_call_completes(bench: SlackBench) -> None:
    before = len(bench.fake.calls)
    bench.fake.delay = 2.0
    first = bench.command("Slow pitch", response="slow")
    assert first.status_code == 200
    finished_at_ack = [c.method for c in bench.fake.calls[before:] if c.finished.is_set()]
    assert finished_at_ack == []
    second = bench.command("", response="slow-form")  # the form: views.open after the ack
    assert second.status_code == 200
    assert not any(c.finished.is_set() for c in bench.fake.calls[before:])
    [answer] = bench.fake.wait_for("response_url", timeout=30)
    assert "Story #1 is pitched" in answer.params["text"]
    bench.fake.wait_for("views.open", timeout=30)


def test_the_work_starts_only_once_the_ack_is_sent(bench: SlackBench) -> None:
    """The ack's bytes leave before the command's work begins, not merely before it ends."""
    order: list[str] = []
    route = bench.http.app

    async def recording_app(scope, receive, send):  # type: ignore[no-untyped-def]
        async def recording_send(message):  # type: ignore[no-untyped-def]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                order.append("ack sent")

        await route(scope, receive, recording_send)

    caller = bench.slack.deps.directory.caller

    def recording_caller(user_id: str, fallback_name: str = "") -> object:
        order.append("work started")
        return caller(user_id, fallback_name)

    bench.slack.deps.directory.caller = recording_caller  # type: ignore[method-assign]
    bench.http = TestClient(recording_app)
    assert bench.command("Ordered pitch").status_code == 200
    bench.settle()
    assert order == ["ack sent", "work started"]
    assert [s.title for s in bench.stories()] == ["Ordered pitch"]
