"""Figures of the whole study: every configuration ranked, the baselines' learning rates, gradient flow at
initialisation, and the cost of the jobs. Each takes the ReportData and optional ``ax`` and returns a ``Plot``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..formats import pct
from ..model import ReportData, flow_palette, unique
from ..stats import EXPLODING_RATIO, HEALTHY_RATIO, t_band
from ..theory import predicted_lines
from .base import Plot, canvas


# --------------------------------------------------------------------------------------------- data
def ranked(study: ReportData) -> pd.DataFrame:
    """The summary, best mean test accuracy first."""
    return study.summary.sort_values("best_test_acc", ascending=False).reset_index(drop=True)


def init_flow_floor(table: pd.DataFrame) -> float:
    """Where the initialisation figure marks an underflowed gradient: a decade below its lowest positive band."""
    positive = table.loc[table["ratio"] > 0, "low"].replace(0, np.nan).dropna()
    return 10 ** np.floor(np.log10(positive.min()) - 1) if len(positive) else 1e-30


# ------------------------------------------------------------------------------------------ figures
def _error_bars(ax, labels, values, low, high, palette: dict) -> None:
    """Horizontal bars of ``values`` with error bars from ``low`` to ``high``, one per label, coloured by label."""
    values = np.asarray(values, dtype=float)
    y = np.arange(len(values))
    ax.barh(y, values, color=[palette.get(lab, "grey") for lab in labels])
    err = np.vstack([values - low, high - values])
    ax.errorbar(values, y, xerr=np.where(np.isfinite(err), err, 0), fmt="none", ecolor="black", capsize=3, lw=1)
    ax.set_yticks(y, labels)


def ranked_comparison(study: ReportData, ax=None) -> Plot:
    """Test accuracy and gradient ratio per configuration, ranked by accuracy, with 95% t-interval error bars."""
    table = ranked(study)
    half = table["best_test_acc_ci"].fillna(0).to_numpy()
    drawn = canvas(ax, 2, (13, 0.38 * len(table) + 1.8), sharey=True)
    accuracy, ratio = drawn.axes
    # An accuracy lies in [0, 1]: its error bars are drawn clipped to that range.
    low, high = np.clip(table["best_test_acc"] - half, 0, 1), np.clip(table["best_test_acc"] + half, 0, 1)
    _error_bars(accuracy, table["label"], table["best_test_acc"], low, high, study.palette)
    accuracy.invert_yaxis()  # best at the top (the axes share y: invert once)
    accuracy.axvline(study.chance, color="grey", lw=0.8, ls=":")
    accuracy.set(
        xlabel="test accuracy at the best validation epoch (dotted: chance; bars clipped to [0, 1])",
        ylabel="configuration",
        xlim=(0, 1),
    )
    _error_bars(
        ratio,
        table["label"],
        table["ratio"],
        table["ratio_low"].fillna(table["ratio"]).to_numpy(),
        table["ratio_high"].fillna(table["ratio"]).to_numpy(),
        study.palette,
    )
    ratio.set_xscale("log")
    ratio.axvline(1.0, color="grey", lw=0.8, ls="--")
    ratio.set(xlabel="‖∇W hidden1‖ / ‖∇W output‖ (median over steps; log scale)")
    alt = (
        "Two bar charts of every configuration, ranked by mean test accuracy with 95% error bars (left), and "
        "the gradient ratio of layer 1 to the output layer on a log scale (right). From best to worst: "
        + "; ".join(f"{r.label} {pct(r.best_test_acc, r.best_test_acc_ci)}" for r in table.itertuples())
        + "."
    )
    return drawn.finish("All configurations ranked by test accuracy at their best validation epoch", alt)


def lr_depth(study: ReportData, ax=None) -> Plot:
    """The screen's score (validation accuracy of the last epochs) against depth for each baseline learning rate."""
    screen = study.screen[study.screen["group"] == "baseline"]
    frame = screen.assign(learning_rate=screen["lr"].map(lambda lr: f"{lr:g}"))
    order = [f"{lr:g}" for lr in sorted(screen["lr"].unique())]
    drawn = canvas(ax, 1, (7.5, 4.2))
    ax = drawn.axes[0]
    # The mean over screening seeds as a line, and each seed as a dot beside its depth (a t-band over 3 seeds spans
    # most of the axis where one seed learned and another did not)
    sns.lineplot(
        data=frame, x="depth", y="score", hue="learning_rate", hue_order=order, marker="o", errorbar=None, ax=ax,
        palette="rocket_r",
    )  # fmt: skip
    offset = {lr: (i - (len(order) - 1) / 2) * 0.08 for i, lr in enumerate(order)}
    dots = frame.assign(x=frame["depth"] + frame["learning_rate"].map(offset))
    sns.scatterplot(
        data=dots, x="x", y="score", hue="learning_rate", hue_order=order, palette="rocket_r", s=14, alpha=0.6,
        legend=False, ax=ax,
    )  # fmt: skip
    ax.axhline(study.chance, color="grey", ls="--", lw=0.8, label=f"chance ({study.dataset.num_classes} classes)")
    ax.set(
        xlabel="hidden layers",
        ylabel="screen score (validation, last epochs)",
        xticks=sorted(frame["depth"].unique()),
        ylim=(0, 1),
    )
    ax.legend(title="SGD learning rate", fontsize=8)
    means = frame.groupby(["lr", "depth"])["score"].mean()
    alt = (
        "Line chart: the sigmoid/SGD baseline's screen score (validation accuracy of the last epochs) against the "
        f"number of hidden layers, one line per learning rate (the mean over screening seeds, each seed a dot); dashed "
        f"line at chance ({study.chance:g}). "
        + "; ".join(f"lr {lr:g}, {d} layers: {pct(v)}" for (lr, d), v in means.items())
        + "."
    )
    return drawn.finish("Is it the learning rate? The baseline at every rate of the grid, by depth", alt)


def init_flow_figure(study: ReportData, ax=None) -> Plot:
    """Layer-1/output gradient ratio at initialisation against depth, one line per configuration (geometric mean
    and 95% band over seeds, log scale). A depth where a seed's gradient underflowed to 0 gets a marker at the
    bottom."""
    table = study.init_summary
    labels = unique(table["label"])
    colours = flow_palette(labels)
    floor = init_flow_floor(table)
    theory = predicted_lines(study)
    drawn = canvas(ax, 1, (10, 5.5))
    ax = drawn.axes[0]
    for label in labels:
        frame = table[table["label"] == label]
        ok = frame[~frame["zero"]]
        style = {"lw": 2.5} if label.startswith("baseline") else {"lw": 1.3}
        ax.plot(ok["depth"], ok["ratio"], marker="o", ms=3, color=colours[label], label=label, **style)
        ax.fill_between(ok["depth"], ok["low"], ok["high"], color=colours[label], alpha=0.15, lw=0)
        predicted = theory[theory["label"] == label]
        if len(predicted):  # the theory's slope, from the shallowest depth; clipped where it leaves the axes
            shown = predicted[predicted["ratio"] >= floor]
            ax.plot(shown["depth"], shown["ratio"], ls="--", lw=1, color=colours[label])
        zero = frame[frame["zero"]]
        if len(zero):
            ax.scatter(zero["depth"], [floor] * len(zero), marker="v", s=40, color=colours[label], zorder=5)
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor / 2)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.axhspan(HEALTHY_RATIO, EXPLODING_RATIO, color="green", alpha=0.05, lw=0)
    ax.set(xlabel="hidden layers", ylabel="‖∇W hidden1‖ / ‖∇W output‖ at initialisation (log scale)")
    handles, names = ax.get_legend_handles_labels()
    if table["zero"].any():
        handles.append(plt.Line2D([], [], marker="v", color="grey", ls=""))
        names.append("layer 1's gradient exactly 0")
    if len(theory):
        handles.append(plt.Line2D([], [], color="grey", ls="--", lw=1))
        names.append("dashed: mean-field theory (√χ₁ per layer,\nfrom the shallowest depth)")
    ax.legend(handles, names, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    deepest = table[table["depth"] == table["depth"].max()].set_index("label")
    alt = (
        f"Line chart, log scale: the ratio of layer 1's to the output layer's gradient norm at initialisation "
        f"against depth ({table['depth'].min()} to {table['depth'].max()} hidden layers), one line per "
        "configuration, shaded 0.1 to 10 band marking healthy flow. At the deepest depth: "
        + "; ".join(f"{lab} {'0' if r['zero'] else f'{r.ratio:.2g}'}" for lab, r in deepest.iterrows())
        + "."
        + (
            f" Dashed lines, in the same colours: the ratio mean-field theory predicts for {theory['label'].nunique()} "
            "configurations, its per-layer factor applied from the shallowest measured depth."
            if len(theory)
            else ""
        )
    )
    return drawn.finish("Gradient flow at initialisation: how deep each fix keeps the gradient alive", alt)


def cost(study: ReportData, ax=None) -> Plot:
    """Wall time and peak memory of each configuration's training jobs (two panels, 95% t-intervals)."""
    runs = study.fair_runs
    labels = unique(runs["label"])
    drawn = canvas(ax, 2, (13, 0.38 * len(labels) + 1.8), sharey=True)
    for ax, col, xlabel in zip(
        drawn.axes, ("wall_s", "max_rss_mb"), ("wall time of the job (s)", "peak resident memory (MB)"), strict=True
    ):
        sns.barplot(
            data=runs,
            y="label",
            x=col,
            order=labels,
            hue="label",
            palette=study.palette,
            errorbar=t_band,
            ax=ax,
            legend=False,
        )
        ax.set(xlabel=xlabel, ylabel="configuration" if ax is drawn.axes[0] else "")
    alt = (
        f"Two bar charts per configuration: the training job's wall time (left; total over all jobs "
        f"{runs['wall_s'].sum() / 60:.1f} min) and its peak resident memory (right; at most "
        f"{runs['max_rss_mb'].max():.0f} MB)."
    )
    return drawn.finish("Cost of each training job (Snakemake benchmark)", alt)
