"""Figures of the fair comparison: validation accuracy against the learning rate (the screen), every
configuration's difference from the reference (or the baseline) with its verdict and seeds, and the plateau's
survival curve. Each takes the ReportData and optional ``ax``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evidence import METRIC, Protocol
from ..fair import ranking
from ..formats import pct
from ..model import ReportData, unique
from ..outline import title
from .base import Canvas, Plot, canvas, plt


def lr_curve_data(study: ReportData) -> pd.DataFrame:
    """Per configuration and rate: the screen's score (mean validation accuracy of the last epochs, mean over the
    screening seeds; ``selection.run_score``), with the chosen and the course rate marked."""
    screen = study.screen
    if screen.empty:
        return pd.DataFrame(columns=["group", "label", "lr", "score", "chosen", "course"])
    frame = screen.groupby(["group", "label", "lr"], sort=False, as_index=False).agg(
        score=("score", "mean"), chosen_lr=("chosen_lr", "first"), course_lr=("course_lr", "first")
    )
    return frame.assign(chosen=frame["lr"] == frame["chosen_lr"], course=frame["lr"] == frame["course_lr"])


def lr_curves(study: ReportData, ax=None) -> Plot:
    """Best validation accuracy against the learning rate, one line per configuration, one panel per group;
    the chosen rate is a star, the course's rate a ring."""
    data = lr_curve_data(study)
    groups = unique(data["group"])
    cols = min(3, max(len(groups), 1))
    rows = -(-len(groups) // cols)
    if ax is not None or rows == 1:
        drawn = canvas(ax, len(groups), (4.6 * cols, 3.4), sharey=True)
    else:  # several rows of panels
        fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), sharey=True, squeeze=False)
        for extra in axes.ravel()[len(groups) :]:
            extra.set_visible(False)
        drawn = Canvas(fig, list(axes.ravel()[: len(groups)]), True)
    for axis, group in zip(drawn.axes, groups, strict=True):
        frame = data[data["group"] == group]
        for label in unique(frame["label"]):
            line = frame[frame["label"] == label].sort_values("lr")
            colour = study.palette.get(label, "grey")
            axis.plot(line["lr"], line["score"], marker="o", ms=3, color=colour, label=label)
            chosen, course = line[line["chosen"]], line[line["course"]]
            axis.scatter(chosen["lr"], chosen["score"], marker="*", s=140, color=colour, zorder=5)
            axis.scatter(course["lr"], course["score"], marker="o", s=90, facecolors="none", edgecolors="k")
        axis.set_xscale("log")
        axis.set(title=title(group), xlabel="learning rate (log scale)", ylim=(0, 1))
        axis.legend(fontsize=7, loc="lower left")
    drawn.axes[0].set_ylabel("screen score (validation, last epochs)")
    best = data[data["chosen"]]
    alt = (
        "Line charts, one per fix: each configuration's screen score (mean validation accuracy of its last epochs, "
        "mean over the screening seeds) against the rate (log scale); a star marks the chosen rate, a ring the "
        "course's. Chosen: " + "; ".join(f"{r.label} {r.lr:g} ({pct(r.score)})" for r in best.itertuples()) + "."
    )
    return drawn.finish("The learning-rate screen: validation accuracy against the rate", alt)


MARKERS = {"better": "^", "worse": "v", "equivalent": "D", "inconclusive": "o"}


def ranking_figure(study: ReportData, ax=None) -> Plot:
    """Every configuration against the reference at its depth: the difference of mean test accuracies with the
    corrected interval its verdict uses, each seed's difference from the reference's mean as a dot, the verdict as
    the marker, the equivalence margin shaded."""
    table = ranking(study)
    drawn = canvas(ax, 1, (9, 0.42 * max(len(table), 1) + 1.8))
    axis = drawn.axes[0]
    if table.empty:
        return drawn.finish("Ranking", "No comparison was declared.")
    margin = 100 * Protocol.of(study.config).margin
    axis.axvspan(-margin, margin, color="0.9", zorder=0)
    values = study.fair_runs.groupby("label")[METRIC].apply(list).to_dict()
    for y, row in enumerate(table.itertuples()):
        colour = study.palette.get(row.a, "grey")
        seeds = 100 * (np.asarray(values.get(row.a, []), float) - np.mean(values.get(row.b, [np.nan])))
        jitter = (np.random.default_rng(y).random(len(seeds)) - 0.5) * 0.3
        axis.scatter(seeds, y + jitter, s=9, color=colour, alpha=0.45, zorder=2)
        if row.kind == "accuracy" and np.isfinite(row.low):
            axis.plot([100 * row.low, 100 * row.high], [y, y], color="black", lw=1.2, zorder=3)
        marker = MARKERS.get(row.verdict, "s")
        axis.scatter([100 * row.diff], [y], marker=marker, s=60, color=colour, edgecolors="black", zorder=4)
    axis.axvline(0, color="grey", lw=0.8, ls="--")
    # the rows compared with (the declared reference, or without one the baseline at each depth) have no verdict
    names = [f"{r.a} ({r.verdict or r.against}{', share' if r.kind == 'share' else ''})" for r in table.itertuples()]
    against = "the reference" if (study.config.get("comparison") or {}).get("reference") else "the baseline"
    axis.set_yticks(range(len(table)), names)
    axis.invert_yaxis()
    axis.set(xlabel=f"test accuracy minus {against}'s mean (points); dots: seeds; bar: corrected interval")
    alt = (
        f"Dot plot: every configuration's difference in test accuracy from {against} at its depth, each seed a "
        f"small dot, the mean a marker shaped by its verdict, the corrected interval a bar, ±{margin:g} point shaded. "
        + "; ".join(f"{r.a} {100 * r.diff:+.1f} ({r.verdict or r.against})" for r in table.itertuples())
        + "."
    )
    return drawn.finish(f"Each configuration against {against}: verdicts of the declared family", alt)


def escape_curves(study: ReportData, ax=None) -> Plot:
    """The share of final runs still at chance (validation accuracy at most ``patience_after`` x chance) against
    the epoch, per configuration: a survival curve censored at the budget (no run stops while at chance)."""
    runs = study.fair_runs
    budget = int(runs["budget_epochs"].max()) if "budget_epochs" in runs and len(runs) else 0
    drawn = canvas(ax, 1, (11, 4.2))
    axis = drawn.axes[0]
    epochs = np.arange(0, budget + 1)
    lines = []
    groups = list(runs.groupby("label", sort=False))
    for i, (label, frame) in enumerate(groups):
        left = frame["left_chance_epoch"].astype(float).to_numpy() if "left_chance_epoch" in frame else []
        still = np.array([(np.isnan(left) | (left > e)).mean() for e in epochs])
        # each curve nudged by a hair, so that configurations with the same curve stay visible
        nudge = 0.012 * (i - (len(groups) - 1) / 2)
        axis.step(epochs, still + nudge, where="post", color=study.palette.get(label, "grey"), label=label, lw=1.6)
        lines.append(f"{label}: {int(np.isnan(left).sum())} of {len(left)} never left")
    axis.set(xlabel="epoch", ylabel="share of seeds still at chance", ylim=(-0.06, 1.06), xlim=(0, max(budget, 1)))
    if lines:
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    alt = "Step plot: the share of each configuration's seeds still at chance by epoch. " + "; ".join(lines) + "."
    return drawn.finish(f"Leaving the plateau at chance (budget: {budget} epochs, no stop at chance)", alt)
