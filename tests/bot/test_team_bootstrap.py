"""A new install has no coordinators: the server's command line or `/story team claim`
makes the first one, and the hints say so."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.cli import main
from bot.cli.team import TeamError, member_id
from bot.commands import Caller
from bot.runtime import build_runtime
from config.settings import Settings
from handlers import members
from handlers.errors import Refused
from storage.db import write_session
from storage.models import Member
from tests.conftest import add_member
from tests.mattermost.conftest import World, mm_settings, world  # noqa: F401  (fixture)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_an_empty_team_points_to_what_works(session: Session) -> None:
    reply = members.team(session, NOW.date())
    text = " ".join([reply.text, *(item for b in reply.blocks for item in getattr(b, "items", ()))])
    assert "The team has no coordinators yet." in text
    assert "`/story team claim`" in text and "storydesk team add NAME --platform P" in text
    assert "have an admin run" not in text


def test_the_first_member_claims_an_empty_team_and_only_then(session: Session) -> None:
    dana, ben = add_member(session, "Dana"), add_member(session, "Ben")
    reply = members.claim_team(session, dana)
    assert reply.ok and "Dana is now the team's first coordinator" in reply.text
    assert members.is_coordinator(dana)
    with pytest.raises(Refused, match=r"coordinators already \(Dana\).*team add @you"):
        members.claim_team(session, ben)
    assert not members.is_coordinator(ben)
    assert members.claim_team(session, dana).text == "You are a coordinator already."


def test_claim_and_then_add_in_chat(tmp_path: Path) -> None:
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'chat.db'}"),
                            platforms=("console",), transports={})
    dana, ben = Caller("console", "dana", "Dana"), Caller("console", "ben", "Ben")
    before = runtime.runner.run(dana, "story", "team", NOW)
    assert "team has no coordinators" in before.text
    claimed = runtime.runner.run(ben, "story", "team claim", NOW)
    assert claimed.ok, claimed.text
    assert runtime.runner.run(dana, "story", "team claim", NOW).tone == "error"
    added = runtime.runner.run(ben, "story", "team add @Dana", NOW)
    assert added.ok and added.text == "Dana is now a coordinator."
    assert runtime.runner.run(ben, "story", "team", NOW).text == "Coordinators: Dana, Ben"
    runtime.engine.dispose()


def cli(tmp_path: Path, *args: str) -> int:
    return main(["--env-file", str(tmp_path / "none.env"), *args])


def test_team_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert cli(tmp_path, "team") == 0
    assert "The team has no coordinators yet." in capsys.readouterr().out
    assert cli(tmp_path, "team", "add", "U0ADA", "--platform", "slack",
               "--display-name", "Ada") == 0
    assert capsys.readouterr().out.strip() == "Ada (slack) is now a coordinator."
    assert cli(tmp_path, "team", "add", "Ben", "--platform", "console") == 0
    capsys.readouterr()
    assert cli(tmp_path, "team", "add", "U0ADA", "--platform", "slack") == 0
    assert "already a coordinator" in capsys.readouterr().out
    assert cli(tmp_path, "team") == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0] == "Coordinators (2):"
    assert listing[1].split() == ["Ada", "slack", "U0ADA"]
    assert listing[2].split() == ["Ben", "console", "ben"]


def test_team_add_refuses_what_is_not_a_member_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert cli(tmp_path, "team", "add", "@ada", "--platform", "slack") == 2
    error = capsys.readouterr().err
    assert "is not a Slack member id" in error and "Copy member ID" in error
    with pytest.raises(TeamError, match="set MATTERMOST_URL"):
        member_id("mattermost", "ada", Settings())
    assert member_id("mattermost", "8ua3ht6dhjf8tn4sp5p3xq7gqe", Settings()) == (
        "8ua3ht6dhjf8tn4sp5p3xq7gqe", None)


def test_a_mattermost_username_is_looked_up(world: World) -> None:  # noqa: F811
    settings = mm_settings(world)
    assert member_id("mattermost", "@ada", settings) == (world.user("ada"), "Ada Lovelace")
    with pytest.raises(TeamError, match="knows no user 'nobody'"):
        member_id("mattermost", "nobody", settings)


@pytest.mark.parametrize("db_url_engine", ["postgresql"], indirect=True)
def test_two_claims_at_the_same_moment_make_one_coordinator(engine: Engine) -> None:
    """Both see an empty team; the second transaction fails instead of making a second.
    (PostgreSQL only: SQLite serialises write transactions, so two claims cannot overlap.)"""
    with write_session(engine) as session:
        ids = [add_member(session, name).id for name in ("Dana", "Ben")]
    first = Session(engine)
    dana = first.get(Member, ids[0])
    assert dana is not None and members.claim_team(first, dana).ok  # not committed yet
    outcome: list[object] = []

    def second_claim() -> None:
        try:
            with write_session(engine) as session:
                ben = session.get(Member, ids[1])
                assert ben is not None
                outcome.append(members.claim_team(session, ben))
        except IntegrityError as error:
            outcome.append(error)

    thread = threading.Thread(target=second_claim)
    thread.start()
    thread.join(1.0)  # it waits on the first transaction's row
    first.commit()
    first.close()
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], IntegrityError)
    with write_session(engine) as session:
        assert [m.display_name for m in members.coordinators(session)] == ["Dana"]
