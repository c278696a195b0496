"""users.info behind a cache: names and time zones, mentions, failures."""

from __future__ import annotations

from bot.commands import Caller
from bot.slack.client import make_web_client
from bot.slack.directory import SlackDirectory
from tests.slack.conftest import TOKEN
from tests.slack.fake_slack import FakeSlack, rate_limited


def directory(fake: FakeSlack, clock: list[float] | None = None) -> SlackDirectory:
    ticks = clock if clock is not None else [0.0]
    return SlackDirectory(make_web_client(TOKEN, fake.api_url, retry=False), ttl=3600,
                          clock=lambda: ticks[0])


def test_mentions_become_callers_with_name_and_time_zone(fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0FARAH", "farah", tz="America/Chicago", real_name="Farah Haddad",
                        display_name="")
    people = directory(fake_slack)
    assert people.lookup("<@U0FARAH|farah>") == Caller(
        "slack", "U0FARAH", "Farah Haddad", timezone="America/Chicago", locale="en-GB")
    assert people.lookup("<@U0FARAH>") == people.lookup("U0FARAH")
    assert len(fake_slack.calls_to("users.info")) == 1  # cached


def test_cache_expires(fake_slack: FakeSlack) -> None:
    clock = [0.0]
    people = directory(fake_slack, clock)
    people.caller("U0ADA")
    clock[0] = 3599.0
    people.caller("U0ADA")
    assert len(fake_slack.calls_to("users.info")) == 1
    clock[0] = 3601.0
    people.caller("U0ADA")
    assert len(fake_slack.calls_to("users.info")) == 2


def test_unknown_people_and_non_mentions_are_none(fake_slack: FakeSlack) -> None:
    people = directory(fake_slack)
    assert people.lookup("<@U0NOBODY|ghost>") is None
    assert people.lookup("@ada") is None and people.lookup("<#C0TEAM|team>") is None
    people.lookup("<@U0NOBODY>")
    assert len(fake_slack.calls_to("users.info")) == 1  # the miss is remembered too


def test_when_slack_cannot_answer_the_request_name_is_used(fake_slack: FakeSlack) -> None:
    fake_slack.script("users.info", rate_limited(30), rate_limited(30))
    people = directory(fake_slack)
    assert people.caller("U0DANA", "dana") == Caller("slack", "U0DANA", "dana")
    assert people.lookup("<@U0DANA|dana>") == Caller("slack", "U0DANA", "dana")
    # not cached: the next call asks again and gets the real profile
    assert people.caller("U0DANA", "dana").timezone == "Europe/Berlin"


def test_bots_and_deactivated_accounts_are_nobody(fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0GONE", "gone")
    fake_slack.users["U0GONE"]["deleted"] = True
    assert directory(fake_slack).lookup("<@U0GONE>") is None
