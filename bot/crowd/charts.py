"""The crowd-health chart (matplotlib Agg, drawn to be read on a phone): pitches and
published stories per month over the window, and below them each objective's share of
the stories against its target."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from bot.reach.charts import (
    FONT,
    HEIGHT_IN,
    MUTED,
    NON_FOLLOWER_COLOUR,
    RATIO_COLOUR,
    REACHED_COLOUR,
    WIDTH_IN,
    _save,
)
from handlers.crowd.stats import CrowdStats


def render_stats(stats: CrowdStats, path: Path | str) -> Path:
    """Draw the chart of `stats` to `path` (PNG) and return the path."""
    months = stats.monthly
    xs = list(range(len(months)))
    with matplotlib.rc_context(FONT):
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
        top, bottom = figure.subplots(2, 1, height_ratios=(3, 2))
        width = 0.4
        top.bar([x - width / 2 for x in xs], [m[1] for m in months], width,
                color=RATIO_COLOUR, label="Pitches")
        top.bar([x + width / 2 for x in xs], [m[2] for m in months], width,
                color=REACHED_COLOUR, label="Published")
        top.set_title(f"Contributions, {stats.first_day:%b %Y} to {stats.last_day:%b %Y}")
        top.set_ylabel("Stories per month")
        step = max(1, len(months) // 6)
        top.set_xticks(xs[::step], [f"{m[0]:%b}\n{m[0]:%Y}" for m in months][::step])
        top.yaxis.get_major_locator().set_params(integer=True)
        top.grid(axis="y", alpha=0.3)
        top.legend(loc="upper left", frameon=False)
        top.text(0.99, 0.98, f"{stats.contributors} of {stats.group_size} members contributed",
                 transform=top.transAxes, ha="right", va="top", fontsize=10, color=MUTED)

        rows = stats.objectives
        ys = list(range(len(rows)))[::-1]
        shares = [(row.share or 0.0) * 100 for row in rows]
        bottom.barh(ys, shares, color=NON_FOLLOWER_COLOUR, label="Share of stories")
        for y, row, share in zip(ys, rows, shares, strict=True):
            if row.target is not None:
                bottom.plot([row.target, row.target], [y - 0.4, y + 0.4], color="black",
                            linewidth=2.5)
            bottom.text(share + 1, y, f"{share:.0f}%", va="center", fontsize=11)
        bottom.plot([], [], color="black", linewidth=2.5, label="Target")
        bottom.set_yticks(ys, [row.name for row in rows])
        top_share = max([10.0, *shares, *(float(r.target or 0) for r in rows)])
        bottom.set_xlim(0, top_share * 1.25)
        bottom.set_xlabel("% of published and scheduled stories")
        bottom.set_title("Objectives against targets", fontsize=12)
        bottom.legend(loc="lower right", frameon=False, fontsize=10)
        if stats.published == 0:
            bottom.text(0.5, 0.5, "no stories in this window", transform=bottom.transAxes,
                        ha="center", va="center", color=MUTED)
        return _save(figure, Path(path))
