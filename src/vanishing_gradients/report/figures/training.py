"""Figures of chosen configurations' training records: validation curves, gradient norms per layer over steps,
epochs and depth, and saturated units. Each takes the ReportData, the labels to draw and optional ``ax``, and returns a
``Plot``; the data each one draws comes from a function of its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from ...layout import RUN_KEYS
from ..formats import pct
from ..model import ReportData, distance_from_output, layer_order
from ..stats import NO_SATURATION, geo_mean, last_stage, log_interval, t_band
from .base import Canvas, Plot, canvas, listing


# --------------------------------------------------------------------------------------------- data
def layer_profile_data(study: ReportData, labels: list[str]) -> pd.DataFrame:
    """Per run and layer: the mean gradient norm over the last stage's epochs, and the layer's distance from the
    output (``below_output``: 0 for the output layer)."""
    frame = last_stage(study.epoch_stat("grad_norm", labels))
    per_run = frame.groupby([*RUN_KEYS, "label", "layer"], as_index=False)["value"].mean()
    per_run["below_output"] = [
        distance_from_output(lay, d) for lay, d in zip(per_run["layer"], per_run["depth"], strict=True)
    ]
    return per_run


def log_norm_range(study: ReportData) -> tuple[float, float]:
    """A shared colour range (log10 gradient norm, 1st to 99th percentile) so heatmaps compare at a glance."""
    values = study.epoch_stat("grad_norm")["value"].astype(float)
    values = np.log10(values[values > 0])
    values = values[np.isfinite(values)]
    if values.empty:
        return -8.0, 1.0
    return float(np.floor(values.quantile(0.01))), float(np.ceil(values.quantile(0.99)))


def heatmap_data(study: ReportData, label: str) -> pd.DataFrame:
    """Layer (input at the top) x epoch: log10 of the mean gradient norm over seeds; NaN where not finite."""
    frame = study.epoch_stat("grad_norm", [label])
    wide = frame.pivot_table(index="layer", columns="epoch", values="value", aggfunc="mean", dropna=False)
    wide = wide.reindex(layer_order(wide.index))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(wide.astype(float)).replace([np.inf, -np.inf], np.nan)


def saturated_labels(study: ReportData, labels: list[str]) -> list[str]:
    """The labels whose saturated fraction reaches NO_SATURATION somewhere (the others get a sentence instead,
    ``text.saturation_notes``)."""
    peaks = study.epoch_stat("saturation", labels).groupby("label")["value"].max()
    return [label for label in labels if label in peaks and not peaks[label] < NO_SATURATION]


# ------------------------------------------------------------------------------------------ figures
# Below this many seeds a 95% t-band is mostly width (t = 12.7 at 2 seeds) and can leave a loss's or an
# accuracy's range: each seed is drawn as a thin line instead, the mean over seeds as a thick one.
SEEDS_FOR_BANDS = 4


def curves(study: ReportData, labels: list[str], title_text: str, ax=None) -> Plot:
    """Validation loss and accuracy per epoch (two panels), one colour per configuration: the mean over seeds with
    its 95% t-band, or with fewer than SEEDS_FOR_BANDS seeds each seed as a thin line under the mean; the loss axis
    is logarithmic when the plotted losses span more than a decade, and never goes below 0."""
    frame = study.metrics[study.metrics["label"].isin(labels)]
    per_seed = frame.groupby("label")["seed"].nunique().max() < SEEDS_FOR_BANDS if len(frame) else False
    drawn = canvas(ax, 2, (12, 4))
    log_loss = False
    for ax, col, name in zip(
        drawn.axes,
        ("val_loss", "val_acc"),
        ("validation loss (cross-entropy, nats)", "validation accuracy (fraction)"),
        strict=True,
    ):
        common = dict(data=frame, x="epoch", y=col, hue="label", hue_order=labels, ax=ax, palette=study.palette)
        if per_seed:
            sns.lineplot(**common, units="seed", estimator=None, linewidth=0.7, alpha=0.45, legend=False)
            sns.lineplot(**common, errorbar=None, linewidth=1.8)
        else:
            sns.lineplot(**common, errorbar=t_band)
        if col == "val_loss":
            values = frame[col][np.isfinite(frame[col]) & (frame[col] > 0)]
            log_loss = len(values) > 0 and values.max() / values.min() > 10
            if log_loss:
                ax.set_yscale("log")
            else:  # a loss is never negative, whatever a band's width
                ax.set_ylim(bottom=max(ax.get_ylim()[0], 0.0))
        if col == "val_acc":  # an accuracy lies in [0, 1]; a band of few seeds may reach beyond
            bottom, top = ax.get_ylim()
            ax.set_ylim(max(bottom, 0.0), min(top, 1.0))
        ax.set(
            xlabel="epoch",
            ylabel=name + (" (log scale)" if col == "val_loss" and log_loss else ""),
            title=name.split(" (")[0],
        )
        ax.legend(fontsize=7, title=None)
    final = frame[frame["epoch"] == frame.groupby("label")["epoch"].transform("max")]
    ends = final.groupby("label")["val_acc"].mean()
    drawn_as = "each seed as a thin line under the mean over seeds" if per_seed else "means over seeds with 95% bands"
    alt = (
        f"Two line charts against epoch for {listing(labels)}: validation loss"
        f"{' on a log scale' if log_loss else ''} (left) and validation accuracy (right), {drawn_as}. Final "
        "validation accuracy: " + "; ".join(f"{lab} {pct(ends[lab])}" for lab in labels if lab in ends) + "."
    )
    return drawn.finish(title_text, alt)


def rolling_steps(study: ReportData, label: str, max_points: int = 400) -> pd.DataFrame:
    """One configuration's per-step gradient norms as a rolling median over about 1/50 of its recorded steps (per
    seed and layer: a step's norm jumps with its batch), then thinned to about ``max_points`` steps."""
    frame = study.grad_steps[study.grad_steps["label"] == label].sort_values("step")
    window = max(1, frame["step"].nunique() // 50)
    frame = frame.assign(
        grad_norm=frame.groupby(["seed", "layer"])["grad_norm"].transform(
            lambda s: s.rolling(window, center=True, min_periods=1).median()
        )
    )
    steps = np.sort(frame["step"].unique())
    return frame[frame["step"].isin(steps[:: max(1, len(steps) // max_points)])]


LAYER_LEGEND_ENTRIES = 12  # beyond this a per-layer legend is thinned: at 200 layers it outgrew its panel


def layer_legend(ax) -> None:
    """The legend of a panel with one line per layer (input to output, in order): every layer up to
    ``LAYER_LEGEND_ENTRIES``, else that many evenly spaced ones, the first and the last (output) among them."""
    handles, names = ax.get_legend_handles_labels()
    if len(handles) <= LAYER_LEGEND_ENTRIES:
        ax.legend(fontsize=7, title="layer")
        return
    keep = sorted({round(i) for i in np.linspace(0, len(handles) - 1, LAYER_LEGEND_ENTRIES)})
    ax.legend([handles[i] for i in keep], [names[i] for i in keep], fontsize=7,
              title=f"layer ({len(keep)} of {len(handles)})")  # fmt: skip


def grad_norm_over_training(
    study: ReportData, labels: list[str], title_text: str, ax=None, max_points: int = 400
) -> Plot:
    """Per-layer weight-gradient L2 norm against step, log scale, one panel per configuration: each layer's rolling
    median over steps, geometric mean over seeds (``rolling_steps``)."""
    # Not sharey: with a shared log axis matplotlib stops autoscaling the later panels' x-axes (seen: empty
    # panels); one y-range is set for all at the end instead.
    drawn = canvas(ax, len(labels), (5 * len(labels), 4))
    runs = study.fair_runs
    batches = ", ".join(f"{b:g}" for b in runs["batch_size"].unique()) if "batch_size" in runs else ""
    step = f"training step (batch of {batches})" if batches else "training step"
    for ax, label in zip(drawn.axes, labels, strict=True):
        frame = rolling_steps(study, label, max_points)
        sns.lineplot(
            data=frame,
            x="step",
            y="grad_norm",
            hue="layer",
            hue_order=layer_order(frame["layer"]),
            estimator=geo_mean,
            errorbar=None,
            ax=ax,
            palette="viridis",
            linewidth=1,
        )
        ax.set_yscale("log")
        ax.relim()
        ax.autoscale_view()
        ax.set(xlabel=step, ylabel="‖∇W‖₂, rolling median", title=label)
        layer_legend(ax)
    low = min(ax.get_ylim()[0] for ax in drawn.axes)
    high = max(ax.get_ylim()[1] for ax in drawn.axes)
    for ax in drawn.axes:
        ax.set_ylim(low, high)
    alt = (
        f"Line charts, one per configuration ({listing(labels)}): the L2 norm of each layer's weight gradient "
        "against training step on a log scale (a rolling median over steps, geometric mean over seeds), one line "
        "per layer from hidden1 (input side) to output."
    )
    return drawn.finish(title_text, alt)


def layer_profile(study: ReportData, labels: list[str], title_text: str, ax=None) -> Plot:
    """Mean gradient norm of each layer over training, indexed by distance from the output, so networks of
    different depth compare layer for layer (geometric mean and interval over seeds, log scale)."""
    per_run = layer_profile_data(study, labels)
    drawn = canvas(ax, 1, (9, 4.5))
    ax = drawn.axes[0]
    sns.lineplot(
        data=per_run,
        x="below_output",
        y="value",
        hue="label",
        hue_order=labels,
        estimator=geo_mean,
        errorbar=log_interval,
        marker="o",
        ax=ax,
        palette=study.palette,
    )
    ax.set_yscale("log")
    top = int(per_run["below_output"].max())
    # a label per layer up to 15 layers, else every 2, 5, 10, ... (at 100 or 200 layers they ran into one smear)
    every = next(step for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000) if top <= 15 * step)
    ticks = list(range(0, top + 1, every))
    ticks += [top] if top - ticks[-1] > every / 2 else []  # the input side's layer, unless it would overlap
    ax.set_xticks(ticks, ["output" if k == 0 else f"{k} below" for k in ticks], rotation=30)
    ax.invert_xaxis()  # input side on the left, output on the right, as the network is drawn
    ax.set(
        xlabel="layer, counted from the output (input side on the left)", ylabel="mean ‖∇W‖₂ over training (log scale)"
    )
    legend = ax.legend(fontsize=8, title=None)
    out = per_run.groupby(["label", "below_output"])["value"].apply(geo_mean)
    hover, toggles = _interactive(ax, legend, [lab for lab in labels if lab in set(per_run["label"])], out)
    alt = (
        "Line chart, log scale: the mean weight-gradient norm of each layer over training, layers counted from "
        "the output (right) towards the input (left), one line per configuration. "
        + "; ".join(
            f"{lab}: output {out[(lab, 0)]:.2g}, layer 1 {out[(lab, out[lab].index.max())]:.2g}"
            for lab in labels
            if lab in out.index.get_level_values(0)
        )
        + "."
    )
    plot = drawn.finish(title_text, alt)
    plot.hover, plot.toggles = hover, toggles
    return plot


def _interactive(ax, legend, labels: list[str], values: pd.Series) -> tuple[dict, dict]:
    """Hover texts on every point and a click on a legend entry that hides or shows its configuration: each drawn
    line (seaborn adds them in hue order, before the legend's own) and band get an id, each point an invisible
    marker with its value (``notebook.show`` draws such a figure as SVG with these as titles and a small script)."""
    bands = [c for c in ax.collections if c.get_gid() is None][: len(labels)]
    hover, toggles = {}, {}
    for i, label in enumerate(labels):
        ax.lines[i].set_gid(f"line-{i}")
        members = [f"line-{i}"]
        if len(bands) == len(labels):
            bands[i].set_gid(f"band-{i}")
            members.append(f"band-{i}")
        for k, value in values[label].items():
            point = ax.scatter([k], [value], s=90, alpha=0.0)
            point.set_gid(f"point-{i}-{k}")
            where = "output layer" if k == 0 else f"{k} below the output"
            hover[f"point-{i}-{k}"] = f"{label}, {where}: mean ‖∇W‖₂ {value:.3g}"
            members.append(f"point-{i}-{k}")
        if legend is not None and i < len(legend.get_texts()):
            legend.get_lines()[i].set_gid(f"legend-{i}")
            legend.get_texts()[i].set_gid(f"legendtext-{i}")
            toggles[f"legend-{i}"] = toggles[f"legendtext-{i}"] = members
    return hover, toggles


def grad_heatmap(study: ReportData, label: str, title_text: str | None = None, vrange=None, ax=None) -> Plot:
    """Layer x epoch heatmap of log10 mean gradient norm (seeds averaged); grey where not finite."""
    logged = heatmap_data(study, label)
    vmin, vmax = vrange or log_norm_range(study)
    # a row per layer, up to 20 rows' height: at 200 layers the figure was 92 inches tall (seaborn thins the labels)
    drawn = canvas(ax, 1, (12, 0.45 * min(len(logged), 20) + 1.5))
    ax = drawn.axes[0]
    ax.set_facecolor("lightgrey")
    if logged.notna().any().any():
        sns.heatmap(
            logged,
            ax=ax,
            cmap="magma",
            vmin=vmin,
            vmax=vmax,
            cbar_kws={"label": "log10 ‖∇W‖₂ (mean over the epoch's steps)"},
        )
    ax.set(xlabel="epoch", ylabel="layer (input at the top)", title=title_text or label)
    first, last = logged.iloc[:, 0], logged.iloc[:, -1]
    alt = (
        f"Heatmap for {label}: log10 of each layer's mean weight-gradient norm (rows, input at the top) per "
        f"epoch (columns), colours from {vmin:g} to {vmax:g}. First epoch: output {first.get('output', np.nan):.1f}, "
        f"hidden1 {first.get('hidden1', np.nan):.1f}; last epoch: output {last.get('output', np.nan):.1f}, "
        f"hidden1 {last.get('hidden1', np.nan):.1f} (log10). Grey cells: no finite value (a layer not trained in "
        "that stage, or a diverged run)."
    )
    return drawn.finish(None, alt)


def layer_panels(frame: pd.DataFrame, labels: list[str], ax, height: float, **line) -> Canvas:
    """One panel per configuration of ``labels``: one line per layer (input to output, viridis) of ``frame``'s
    per-epoch rows of one statistic against epoch; ``line`` goes to seaborn's lineplot (estimator, errorbar)."""
    drawn = canvas(ax, len(labels), (5 * len(labels), height), sharey=True)
    for ax, label in zip(drawn.axes, labels, strict=True):
        sub = frame[frame["label"] == label]
        order = layer_order(sub["layer"])
        sns.lineplot(data=sub, x="epoch", y="value", hue="layer", hue_order=order, ax=ax, palette="viridis", **line)
        ax.set(xlabel="epoch", title=label)
        layer_legend(ax)
    return drawn


def saturation_per_layer(study: ReportData, labels: list[str], title_text: str, ax=None) -> Plot | None:
    """Saturated (or dead) unit fraction per hidden layer and epoch, one panel per configuration that has any
    (``saturated_labels``); None when none has."""
    drawn_labels = saturated_labels(study, labels)
    if not drawn_labels:
        return None
    frame = study.epoch_stat("saturation", labels)
    drawn = layer_panels(frame, drawn_labels, ax, 3.6, errorbar=t_band, linewidth=1)
    for ax in drawn.axes:
        ax.set(ylabel="saturated units (fraction)", ylim=(-0.02, 1.02))
    means = frame.groupby("label")["value"].mean()
    alt = (
        f"Line charts, one per configuration ({listing(drawn_labels)}): the fraction of saturated (or dead) units "
        f"per hidden layer against epoch, from 0 to 1. Mean over layers and epochs: "
        + "; ".join(f"{lab} {pct(means[lab])}" for lab in drawn_labels)
        + "."
    )
    return drawn.finish(title_text, alt)
