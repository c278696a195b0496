"""Charts for the reach summaries, drawn with matplotlib's Agg backend (no display needed).

The weekly chart follows the paper's Figures 2 and 3: accounts reached against non-followers
reached, and the reach ratio, over the last twelve weeks. It is drawn tall and with large
type, to be read on a phone. A week without data is a gap, never a zero; a week whose reach
is a sum of daily figures has a hollow marker; the week where Instagram's views replaced
impressions is marked.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from handlers.reach.audience import GENDER_LABELS, YOUNG_ADULTS, AudienceSummary
from handlers.reach.weeks import DEDUPLICATED, WeeklyChart

REACHED_COLOUR = "#2e8b57"  # green, as in the paper
NON_FOLLOWER_COLOUR = "#f28e2b"  # orange
RATIO_COLOUR = "#1f77b4"
MUTED = "#666666"
WIDTH_IN, HEIGHT_IN, DPI = 6.0, 7.5, 160
PAPER_RATIO_MARK = 0.35
FONT: Any = {"font.size": 13, "axes.titlesize": 15, "axes.labelsize": 13, "legend.fontsize": 11,
        "xtick.labelsize": 11, "ytick.labelsize": 11}


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _thousands(value: float, _position: object = None) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def _save(figure: Figure, path: Path) -> Path:
    """Write the PNG next to its final name and move it into place in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(handle)
    try:
        figure.savefig(temporary, format="png", dpi=DPI)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def _plot_series(ax: Axes, xs: Sequence[int], values: Sequence[float | None],
                 bases: Sequence[str], colour: str, label: str) -> None:
    ax.plot(xs, [_nan(v) for v in values], color=colour, linewidth=2.5, label=label)
    for x, value, basis in zip(xs, values, bases, strict=True):
        if value is not None:
            ax.plot([x], [value], marker="o", markersize=8, color=colour, markeredgewidth=2,
                    markerfacecolor=colour if basis == DEDUPLICATED else "white")


def render_weekly(chart: WeeklyChart, path: Path | str) -> Path:
    """Draw the twelve-week chart to `path` (PNG) and return the path."""
    weeks = chart.weeks
    xs = list(range(len(weeks)))
    labels = [f"{w.week_start:%d}\n{w.week_start:%b}" for w in weeks]
    with matplotlib.rc_context(FONT):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
        top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        _plot_series(top, xs, [w.reached for w in weeks], [w.reached_basis for w in weeks],
                     REACHED_COLOUR, "Accounts reached")
        _plot_series(top, xs, [w.non_followers for w in weeks],
                     [w.non_followers_basis for w in weeks], NON_FOLLOWER_COLOUR,
                     "Non-followers reached")
        top.set_title(chart.title)
        top.set_ylabel("Accounts per week")
        top.yaxis.set_major_formatter(_thousands)
        top.set_ylim(bottom=0)
        top.grid(axis="y", alpha=0.3)
        top.legend(loc="upper left", frameon=False)
        if any(w.reached is not None and w.reached_basis != DEDUPLICATED for w in weeks):
            top.text(0.99, 0.02, "hollow: sum of daily reach", transform=top.transAxes,
                     ha="right", va="bottom", fontsize=10, color=MUTED)

        ratios = [None if w.ratio is None else w.ratio * 100 for w in weeks]
        switch = (len(weeks) if chart.views_from is None or not weeks
                  else (chart.views_from - weeks[0].week_start).days // 7)
        # Impressions and views are different measures: the ratio line breaks at the switch.
        for part in (range(0, max(switch, 0)), range(max(switch, 0), len(weeks))):
            bottom.plot(list(part), [_nan(ratios[i]) for i in part], color=RATIO_COLOUR,
                        linewidth=2.5, marker="o", markersize=7)
        bottom.axhline(PAPER_RATIO_MARK * 100, color=MUTED, linestyle=":", linewidth=1.5)
        bottom.text(xs[-1] if xs else 0, PAPER_RATIO_MARK * 100, "35%", color=MUTED,
                    ha="right", va="bottom", fontsize=10)
        bottom.set_ylabel("Reach ratio (%)")
        bottom.set_title("Accounts reached / views (impressions before)", fontsize=12)
        known = [r for r in ratios if r is not None]
        bottom.set_ylim(0, max([PAPER_RATIO_MARK * 100, *known]) * 1.25)
        bottom.grid(axis="y", alpha=0.3)
        bottom.set_xticks(xs, labels)
        bottom.set_xlabel("Week starting")
        if weeks:
            bottom.set_xlim(-0.5, len(weeks) - 0.5)

        if chart.views_from is not None and weeks:
            offset = (chart.views_from - weeks[0].week_start).days / 7
            for ax in (top, bottom):
                ax.axvline(offset - 0.5, color=MUTED, linestyle="--", linewidth=1.5)
            top.text(offset - 0.4, 0.97, "views replace\nimpressions",
                     transform=top.get_xaxis_transform(), va="top", ha="left", fontsize=10,
                     color=MUTED)
        if not known and weeks:
            bottom.text(0.5, 0.5, "no views or impressions", transform=bottom.transAxes,
                        ha="center", va="center", color=MUTED)
        return _save(figure, Path(path))


def render_audience(summary: AudienceSummary, path: Path | str) -> Path:
    """Draw the audience chart (age groups, top countries, gender shares) to `path`."""
    with matplotlib.rc_context(FONT):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
        panels = figure.subplots(3, 1, height_ratios=(7, 6, 3))
        title = summary.title
        if summary.young_share is not None:
            title += f"\n{summary.young_share * 100:.0f}% aged 18–34"
        figure.suptitle(title)
        _share_bars(panels[0], summary.age, "Age group",
                    highlight=lambda key: key in YOUNG_ADULTS)
        _share_bars(panels[1], summary.countries, "Country")
        _share_bars(panels[2], [(GENDER_LABELS.get(k, k), v) for k, v in summary.gender],
                    "Gender")
        return _save(figure, Path(path))


def _share_bars(ax: Axes, items: Sequence[tuple[str, int]], label: str,
                highlight: Callable[[str], bool] | None = None) -> None:
    total = sum(value for _, value in items)
    keys = [key for key, _ in items][::-1]
    shares = [(value / total * 100 if total else 0.0) for _, value in items][::-1]
    colours = [NON_FOLLOWER_COLOUR if highlight and highlight(key) else RATIO_COLOUR
               for key in keys]
    ax.barh(keys, shares, color=colours)
    for y, share in enumerate(shares):
        ax.text(share + 0.5, y, f"{share:.0f}%", va="center", fontsize=11)
    ax.set_xlim(0, max([10.0, *shares]) * 1.2)
    ax.set_ylabel(label)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    if not items:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color=MUTED)


class ChartFiles:
    """Chart makers for the handlers: each draws into `directory` and returns the path.

    File names follow the summary (reach-2026-W47.png, audience-2026-12.png), so drawing a
    summary again replaces its file rather than piling up new ones.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def path_for(self, name: str) -> Path:
        return self.directory / f"{name}.png"

    def weekly(self, chart: WeeklyChart) -> str:
        return str(render_weekly(chart, self.path_for(chart.name)))

    def audience(self, summary: AudienceSummary) -> str:
        return str(render_audience(summary, self.path_for(summary.name)))


def default_chart_dir() -> Path:
    return Path(tempfile.gettempdir()) / "storydesk-charts"

