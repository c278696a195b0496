"""The Mattermost directory: names, time zones and locales from the users API, cached."""

from __future__ import annotations

import pytest

from bot.mattermost.client import MattermostError
from bot.mattermost.directory import MattermostDirectory, caller_from_user
from bot.mattermost.service import MattermostService
from tests.mattermost.conftest import World


def test_a_caller_comes_from_the_profile_and_is_cached(
    world: World, service: MattermostService
) -> None:
    directory = service.directory
    ada = directory.caller(world.user("ada"), "ada")
    again = directory.caller(world.user("ada"), "ada")
    assert ada == again
    assert (ada.display_name, ada.timezone, ada.locale) == ("Ada Lovelace", "Europe/Berlin", "de")
    assert len(world.server.calls("GET", f"/api/v4/users/{world.user('ada')}")) == 1


def test_mentions_are_looked_up_by_username(world: World, service: MattermostService) -> None:
    directory = service.directory
    for mention in ("@ben", "ben", "@Ben.", world.user("ben")):
        found = directory.lookup(mention)
        assert found is not None and found.user_id == world.user("ben"), mention
    assert directory.lookup("@nobody") is None
    assert directory.lookup("@nobody") is None
    assert len(world.server.calls("GET", "/api/v4/users/username/nobody")) == 1
    assert directory.lookup("<!channel>") is None
    assert directory.lookup("@../../users/me") is None


def test_when_the_api_fails_the_request_says_who_it_is(
    world: World, service: MattermostService
) -> None:
    world.server.fail("GET", r"/api/v4/users/\w+", 503)
    caller = service.directory.caller(world.user("dana"), "dana")
    assert (caller.user_id, caller.display_name) == (world.user("dana"), "dana")
    assert service.directory.caller(world.user("dana"), "dana").display_name == "Dana Kim"


def test_lookup_errors_other_than_unknown_users_are_raised(
    world: World, service: MattermostService
) -> None:
    world.server.fail("GET", "/api/v4/users/username/emil", 500)
    with pytest.raises(MattermostError):
        service.directory.lookup("@emil")


@pytest.mark.parametrize("zone, expected", [
    ({"useAutomaticTimezone": "true", "automaticTimezone": "Asia/Tokyo",
      "manualTimezone": "Europe/Rome"}, "Asia/Tokyo"),
    ({"useAutomaticTimezone": "false", "automaticTimezone": "Asia/Tokyo",
      "manualTimezone": "Europe/Rome"}, "Europe/Rome"),
    ({"useAutomaticTimezone": "true", "automaticTimezone": "Mars/Olympus",
      "manualTimezone": ""}, None),
    ({}, None),
])
def test_time_zones_follow_the_users_setting(zone: dict[str, str], expected: str | None) -> None:
    caller = caller_from_user({"id": "a" * 26, "username": "x", "timezone": zone})
    assert caller is not None and caller.timezone == expected


def test_deactivated_accounts_are_nobody() -> None:
    assert caller_from_user({"id": "a" * 26, "username": "gone", "delete_at": 1700}) is None


def test_the_cache_expires(world: World, service: MattermostService) -> None:
    clock = [0.0]
    directory = MattermostDirectory(service.client, ttl=60, clock=lambda: clock[0])
    directory.caller(world.user("chloe"))
    clock[0] = 61.0
    directory.caller(world.user("chloe"))
    assert len(world.server.calls("GET", f"/api/v4/users/{world.user('chloe')}")) == 2
