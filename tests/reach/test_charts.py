"""The charts are real PNG files of a size a phone shows well, with the series drawn."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from bot.reach.charts import NON_FOLLOWER_COLOUR, REACHED_COLOUR, ChartFiles, render_weekly
from handlers.reach.audience import AudienceSummary
from handlers.reach.weeks import ChartWeek, WeeklyChart, views_switch_week, week_figures

START = date(2025, 3, 3)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def colour_pixels(path: Path, colour: str) -> int:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    close = np.abs(pixels - np.array(hex_rgb(colour), dtype=np.int16)) <= 10
    return int(close.all(axis=2).sum())


def twelve_weeks() -> WeeklyChart:
    weeks = []
    for index in range(12):
        start = START + timedelta(weeks=index)
        metric = "impressions" if start < date(2025, 4, 21) else "views"
        daily = {}
        for offset in range(7):
            day = start + timedelta(days=offset)
            if index == 4:
                continue  # a week without any data: a gap in the chart
            daily[(day, "accounts_reached")] = 300 + 20 * index
            daily[(day, "non_followers_reached")] = 200 + 10 * index
            daily[(day, metric)] = 800
        figures = week_figures(start, start + timedelta(days=6), daily, {})
        weeks.append(ChartWeek(start, figures.reached.value, figures.reached.basis,
                               figures.non_followers.value, figures.non_followers.basis,
                               figures.ratio.value,
                               figures.views.metric if figures.views.value else ""))
    return WeeklyChart("reach-2025-W21", "Reach, 12 weeks to 2025-W21", tuple(weeks),
                       views_switch_week(weeks))


def test_weekly_chart_is_a_phone_sized_png_with_both_series(tmp_path: Path) -> None:
    chart = twelve_weeks()
    assert chart.views_from == date(2025, 4, 21)
    path = render_weekly(chart, tmp_path / "deep" / "weekly.png")

    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert (width, height) == (960, 1200)  # 6 x 7.5 inches at 160 dpi: portrait, for phones
    assert path.stat().st_size > 20_000
    assert colour_pixels(path, REACHED_COLOUR) > 500
    assert colour_pixels(path, NON_FOLLOWER_COLOUR) > 500
    assert list(tmp_path.joinpath("deep").iterdir()) == [path]  # no temporary file left


def test_an_empty_chart_still_renders(tmp_path: Path) -> None:
    empty = WeeklyChart("reach-x", "Reach", tuple(
        ChartWeek(START + timedelta(weeks=i), None, "", None, "", None, "") for i in range(12)
    ), None)
    path = render_weekly(empty, tmp_path / "empty.png")
    with Image.open(path) as image:
        assert image.size == (960, 1200)
    full = render_weekly(twelve_weeks(), tmp_path / "full.png")
    # Only the legend's short line is green when there is nothing to draw.
    assert colour_pixels(path, REACHED_COLOUR) * 5 < colour_pixels(full, REACHED_COLOUR)


def test_chart_files_are_named_after_the_summary(tmp_path: Path) -> None:
    files = ChartFiles(tmp_path)
    weekly = files.weekly(twelve_weeks())
    audience = files.audience(AudienceSummary(
        name="audience-2026-12", title="Followers, December 2026", as_of=date(2026, 12, 7),
        taken_on=date(2026, 12, 6),
        age=(("18-24", 300), ("25-34", 420), ("35-44", 170)),
        countries=(("DE", 300), ("IT", 90), ("others", 60)),
        gender=(("F", 250), ("M", 740)), young_share=0.72,
    ))
    assert weekly == str(tmp_path / "reach-2025-W21.png")
    assert audience == str(tmp_path / "audience-2026-12.png")
    with Image.open(audience) as image:
        assert image.format == "PNG" and image.size == (960, 1200)
    assert colour_pixels(Path(audience), NON_FOLLOWER_COLOUR) > 500  # 18-34 highlighted
