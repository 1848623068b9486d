"""Figures of the fair comparison: validation accuracy against the learning rate (the screen), and every
configuration's paired difference from the best one. Each takes the Study and optional ``ax``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..fair import ranking
from ..model import Study, unique
from ..text import pct, title
from .base import Canvas, Plot, canvas, plt


def lr_curve_data(study: Study) -> pd.DataFrame:
    """Per configuration and rate: the screen's best validation accuracy (mean over the screen's seeds), with
    the chosen and the course rate marked."""
    screen = study.screen
    if screen.empty:
        return pd.DataFrame(columns=["group", "label", "lr", "best_val_acc", "chosen", "course"])
    frame = screen.groupby(["group", "label", "lr"], sort=False, as_index=False).agg(
        best_val_acc=("best_val_acc", "mean"), chosen_lr=("chosen_lr", "first"), course_lr=("course_lr", "first")
    )
    return frame.assign(chosen=frame["lr"] == frame["chosen_lr"], course=frame["lr"] == frame["course_lr"])


def lr_curves(study: Study, ax=None) -> Plot:
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
            axis.plot(line["lr"], line["best_val_acc"], marker="o", ms=3, color=colour, label=label)
            chosen, course = line[line["chosen"]], line[line["course"]]
            axis.scatter(chosen["lr"], chosen["best_val_acc"], marker="*", s=140, color=colour, zorder=5)
            axis.scatter(course["lr"], course["best_val_acc"], marker="o", s=90, facecolors="none", edgecolors="k")
        axis.set_xscale("log")
        axis.set(title=title(group), xlabel="learning rate (log scale)", ylim=(0, 1))
        axis.legend(fontsize=7, loc="lower left")
    drawn.axes[0].set_ylabel("best validation accuracy (screen)")
    best = data[data["chosen"]]
    alt = (
        "Line charts, one per fix: each configuration's best validation accuracy in the learning-rate screen "
        "against the rate (log scale); a star marks the chosen rate, a ring the course's. Chosen: "
        + "; ".join(f"{r.label} {r.lr:g} ({pct(r.best_val_acc)})" for r in best.itertuples())
        + "."
    )
    return drawn.finish("The learning-rate screen: validation accuracy against the rate", alt)


def paired_ranking(study: Study, ax=None) -> Plot:
    """Every configuration's paired difference in best-epoch test accuracy from the best configuration, with
    its 95% interval; filled markers are separated from the best after Holm's correction."""
    table = ranking(study)
    drawn = canvas(ax, 1, (9, 0.36 * max(len(table), 1) + 1.6))
    axis = drawn.axes[0]
    y = np.arange(len(table))
    mean, low, high = (100 * table[c].to_numpy(dtype=float) for c in ("diff", "low", "high"))
    err = np.vstack([mean - np.where(np.isfinite(low), low, mean), np.where(np.isfinite(high), high, mean) - mean])
    colours = [study.palette.get(label, "grey") for label in table["a"]]
    axis.errorbar(mean, y, xerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    separated = table["separated"].to_numpy(dtype=bool)
    axis.scatter(mean[separated], y[separated], c=[colours[i] for i in np.flatnonzero(separated)], s=50, zorder=3)
    axis.scatter(
        mean[~separated], y[~separated], facecolors="white", edgecolors=[colours[i] for i in np.flatnonzero(~separated)]
    )
    axis.axvline(0, color="grey", lw=0.8, ls="--")
    axis.set_yticks(y, table["a"])
    axis.invert_yaxis()
    best = table.iloc[0]["a"] if len(table) else ""
    axis.set(xlabel=f"test accuracy minus {best}'s, paired by seed (points; 95% interval)", ylabel="configuration")
    alt = (
        f"Dot plot: every configuration's paired difference in test accuracy from the best one ({best}), with "
        "95% intervals; filled dots are separated after Holm's correction, open ones cannot be told apart. "
        + "; ".join(f"{r.a} {100 * r.diff:+.1f}" for r in table.itertuples())
        + "."
    )
    return drawn.finish("Ranking: each configuration against the best, seed by seed", alt)
