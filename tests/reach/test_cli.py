"""`storydesk reach fetch|import` and `storydesk digest preview`, end to end on SQLite."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from bot.cli.reach import run_fetch, run_import, run_preview
from config.settings import Settings
from tests.reach.graph_server import EXPIRED, TOKEN, USER, VERSION, GraphServer
from tests.reach.test_instagram import make_account

FIXTURES = Path(__file__).with_name("fixtures")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_import_then_preview_with_chart(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'reach.db'}")
    run_import(settings, [str(FIXTURES / "daily_account.csv")], NOW, io.StringIO(),
               io.StringIO())
    out, err = io.StringIO(), io.StringIO()
    png = tmp_path / "chart.png"
    assert run_preview(settings, "2026-W47", str(png), NOW, out, err) == 0
    text = out.getvalue()
    # 16, 17 and 19 Nov: 1,000 + 700 + 800 reached; views only on 16 and 19: 12,000 + 9,000
    assert "Accounts reached" in text and "2,500 (sum of daily, 3 of 7 days)" in text
    assert "21,000 (2 of 7 days)" in text
    assert ("No data for Wed, Fri–Sun (accounts reached, non-followers reached); Tue–Wed, "
            "Fri–Sun (views)") in " ".join(text.split())
    assert f"[chart: Reach, 12 weeks to 2026-W47 -> {png}]" in text
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (960, 1200)

    out, err = io.StringIO(), io.StringIO()
    assert run_preview(settings, None, None, NOW, out, err, audience=True) == 0
    assert "No audience figures yet" in out.getvalue()
    assert run_preview(settings, "2026-W99", None, NOW, io.StringIO(), err) == 2
    assert "2026 has no week 99" in err.getvalue()


def test_fetch_command(tmp_path: Path) -> None:
    with GraphServer(make_account()) as server:
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'reach.db'}",
                            instagram_access_token=TOKEN, instagram_user_id=USER,
                            graph_api_url=server.url, graph_api_version=VERSION)
        out, err = io.StringIO(), io.StringIO()
        assert run_fetch(settings, None, NOW, out, err) == 0
        assert out.getvalue().startswith("Fetched 2026-10-26 to 2026-11-22:")
        assert "No reach from Instagram yet for Wed 18 Nov." in out.getvalue()

        server.fail(f"{USER}/insights", EXPIRED)
        out = io.StringIO()
        assert run_fetch(settings, None, NOW, out, err) == 1
        assert "Instagram refuses the access token" in out.getvalue()

    assert run_fetch(Settings(database_url=settings.database_url), None, NOW, out, err) == 2
    assert "set INSTAGRAM_ACCESS_TOKEN" in err.getvalue()


def test_commands_are_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert main(["--env-file", str(tmp_path / "none.env"), "digest", "preview", "--week",
                 "2025-W10"]) == 0
    assert "No reach figures for 2025-W10 yet" in capsys.readouterr().out
    assert main(["--env-file", str(tmp_path / "none.env"), "reach", "import",
                 str(FIXTURES / "content_export_2024.csv")]) == 0
    assert "2 rows read, 2 stored, 0 rejected." in capsys.readouterr().out
