"""/metrics behind STORYDESK_METRICS_TOKEN: a bearer token, compared in constant time."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

import bot.web
from bot.runtime import Runtime, build_runtime
from bot.web import create_web_app
from config.settings import Settings, SettingsError, load_settings

TOKEN = "9f2c1e7a4b8d3f60a1c5e9b7d2f4a8c6"


@pytest.fixture
def runtime(db_url_engine: Engine) -> Runtime:
    settings = replace(Settings(), metrics_token=TOKEN)
    return build_runtime(settings, platforms=("console",), engine=db_url_engine)


def test_with_the_token_metrics_answer(runtime: Runtime) -> None:
    client = TestClient(create_web_app(runtime))
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert "storydesk_outbox_messages" in response.text


def test_the_scheme_is_case_insensitive(runtime: Runtime) -> None:
    client = TestClient(create_web_app(runtime))
    response = client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        "Bearer ",
        f"Basic {TOKEN}",
        TOKEN,
    ],
)
def test_without_the_right_token_metrics_refuse(
    runtime: Runtime, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = TestClient(create_web_app(runtime)).get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "storydesk_" not in response.text
    assert "STORYDESK_METRICS_TOKEN" in response.text


def test_the_token_is_compared_in_constant_time(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = bot.web.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(bot.web.hmac, "compare_digest", spy)
    client = TestClient(create_web_app(runtime))
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert compared == [(b"wrong", TOKEN.encode())]


def test_health_stays_open_when_metrics_are_closed(runtime: Runtime) -> None:
    assert TestClient(create_web_app(runtime)).get("/healthz").status_code == 200


def test_the_setting_is_read_from_the_environment() -> None:
    settings = load_settings({"STORYDESK_METRICS_TOKEN": f"  {TOKEN} "}, env_file=None)
    assert settings.metrics_token == TOKEN
    assert load_settings({}, env_file=None).metrics_token == ""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("short", "at least 16 characters"),
        ("two words in this token", "no spaces"),
        ("changeme-changeme-changeme", "placeholder"),
    ],
)
def test_a_weak_or_malformed_token_is_refused(value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"STORYDESK_METRICS_TOKEN": value}, env_file=None)
    assert "STORYDESK_METRICS_TOKEN" in str(error.value)
    assert problem in str(error.value)


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_without_a_token_metrics_are_not_served_through_a_proxy(
        db_url_engine: Engine, header: str, caplog: pytest.LogCaptureFixture) -> None:
    """The reverse proxy in front of /slack/events may pass on every path: without a
    token, what it forwards gets no metrics; a scraper on the host's network does."""
    runtime = build_runtime(Settings(), platforms=("console",), engine=db_url_engine)
    client = TestClient(create_web_app(runtime))
    forwarded = client.get("/metrics", headers={header: "203.0.113.7"})
    assert forwarded.status_code == 403
    assert "STORYDESK_METRICS_TOKEN" in forwarded.text
    assert "set STORYDESK_METRICS_TOKEN" in caplog.text
    assert client.get("/metrics").status_code == 200


def test_with_a_token_a_proxy_may_pass_the_scrape_on(runtime: Runtime) -> None:
    client = TestClient(create_web_app(runtime))
    response = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7",
                                               "Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
