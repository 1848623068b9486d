"""Figures of chosen configurations' training records: validation curves, gradient norms per layer over steps,
epochs and depth, and saturated units. Each takes the Study, the labels to draw and optional ``ax``, and returns a
``Plot``; the data each one draws comes from a function of its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from ...layout import RUN_KEYS
from ..model import Study, distance_from_output, layer_order
from ..stats import NO_SATURATION, geo_mean, last_stage, log_interval, t_interval
from ..text import pct
from .base import Plot, canvas, listing


# --------------------------------------------------------------------------------------------- data
def thinned_steps(study: Study, label: str, max_points: int = 400) -> pd.DataFrame:
    """One configuration's per-step gradient norms, every k-th recorded step so that at most ~max_points remain."""
    frame = study.grad_steps[study.grad_steps["label"] == label]
    steps = np.sort(frame["step"].unique())
    return frame[frame["step"].isin(steps[:: max(1, len(steps) // max_points)])]


def layer_profile_data(study: Study, labels: list[str]) -> pd.DataFrame:
    """Per run and layer: the mean gradient norm over the last stage's epochs, and the layer's distance from the
    output (``below_output``: 0 for the output layer)."""
    frame = last_stage(study.epoch_stat("grad_norm", labels))
    per_run = frame.groupby([*RUN_KEYS, "label", "layer"], as_index=False)["value"].mean()
    per_run["below_output"] = [
        distance_from_output(lay, d) for lay, d in zip(per_run["layer"], per_run["depth"], strict=True)
    ]
    return per_run


def log_norm_range(study: Study) -> tuple[float, float]:
    """A shared colour range (log10 gradient norm, 1st to 99th percentile) so heatmaps compare at a glance."""
    values = study.epoch_stat("grad_norm")["value"].astype(float)
    values = np.log10(values[values > 0])
    values = values[np.isfinite(values)]
    if values.empty:
        return -8.0, 1.0
    return float(np.floor(values.quantile(0.01))), float(np.ceil(values.quantile(0.99)))


def heatmap_data(study: Study, label: str) -> pd.DataFrame:
    """Layer (input at the top) x epoch: log10 of the mean gradient norm over seeds; NaN where not finite."""
    frame = study.epoch_stat("grad_norm", [label])
    wide = frame.pivot_table(index="layer", columns="epoch", values="value", aggfunc="mean", dropna=False)
    wide = wide.reindex(layer_order(wide.index))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(wide.astype(float)).replace([np.inf, -np.inf], np.nan)


def saturated_labels(study: Study, labels: list[str]) -> list[str]:
    """The labels whose saturated fraction reaches NO_SATURATION somewhere (the others get a sentence instead,
    ``text.saturation_notes``)."""
    peaks = study.epoch_stat("saturation", labels).groupby("label")["value"].max()
    return [label for label in labels if label in peaks and not peaks[label] < NO_SATURATION]


# ------------------------------------------------------------------------------------------ figures
def curves(study: Study, labels: list[str], title_text: str, ax=None) -> Plot:
    """Validation loss and accuracy per epoch (two panels), one line per configuration (mean and 95% t-interval
    over seeds); the loss axis is logarithmic when the plotted losses span more than a decade."""
    frame = study.metrics[study.metrics["label"].isin(labels)]
    drawn = canvas(ax, 2, (12, 4))
    log_loss = False
    for ax, col, name in zip(
        drawn.axes,
        ("val_loss", "val_acc"),
        ("validation loss (cross-entropy, nats)", "validation accuracy (fraction)"),
        strict=True,
    ):
        sns.lineplot(
            data=frame,
            x="epoch",
            y=col,
            hue="label",
            hue_order=labels,
            errorbar=t_interval,
            ax=ax,
            palette=study.palette,
        )
        if col == "val_loss":
            values = frame[col][np.isfinite(frame[col]) & (frame[col] > 0)]
            log_loss = len(values) > 0 and values.max() / values.min() > 10
            if log_loss:
                ax.set_yscale("log")
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
    alt = (
        f"Two line charts against epoch for {listing(labels)}: validation loss"
        f"{' on a log scale' if log_loss else ''} (left) and validation accuracy (right), means over seeds with "
        f"95% bands. Final validation accuracy: "
        + "; ".join(f"{lab} {pct(ends[lab])}" for lab in labels if lab in ends)
        + "."
    )
    return drawn.finish(title_text, alt)


def grad_norm_over_training(study: Study, labels: list[str], title_text: str, ax=None, max_points: int = 400) -> Plot:
    """Per-layer weight-gradient L2 norm against step, log scale, one panel per configuration (geometric mean
    and interval over seeds)."""
    # Not sharey: with a shared log axis matplotlib stops autoscaling the later panels' x-axes (seen: empty
    # panels); one y-range is set for all at the end instead.
    drawn = canvas(ax, len(labels), (5 * len(labels), 4))
    for ax, label in zip(drawn.axes, labels, strict=True):
        frame = thinned_steps(study, label, max_points)
        sns.lineplot(
            data=frame,
            x="step",
            y="grad_norm",
            hue="layer",
            hue_order=layer_order(frame["layer"]),
            estimator=geo_mean,
            errorbar=log_interval,
            ax=ax,
            palette="viridis",
            linewidth=1,
        )
        ax.set_yscale("log")
        ax.relim()
        ax.autoscale_view()
        ax.set(xlabel="training step (batch of 512)", ylabel="‖∇W‖₂ (L2 norm of weight gradient)", title=label)
        ax.legend(fontsize=7, title="layer")
    low = min(ax.get_ylim()[0] for ax in drawn.axes)
    high = max(ax.get_ylim()[1] for ax in drawn.axes)
    for ax in drawn.axes:
        ax.set_ylim(low, high)
    alt = (
        f"Line charts, one per configuration ({listing(labels)}): the L2 norm of each layer's weight gradient "
        "against training step on a log scale, one line per layer from hidden1 (input side) to output."
    )
    return drawn.finish(title_text, alt)


def layer_profile(study: Study, labels: list[str], title_text: str, ax=None) -> Plot:
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
    ax.set_xticks(range(top + 1), ["output"] + [f"{k} below" for k in range(1, top + 1)], rotation=30)
    ax.invert_xaxis()  # input side on the left, output on the right, as the network is drawn
    ax.set(
        xlabel="layer, counted from the output (input side on the left)", ylabel="mean ‖∇W‖₂ over training (log scale)"
    )
    ax.legend(fontsize=8, title=None)
    out = per_run.groupby(["label", "below_output"])["value"].apply(geo_mean)
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
    return drawn.finish(title_text, alt)


def grad_heatmap(study: Study, label: str, title_text: str | None = None, vrange=None, ax=None) -> Plot:
    """Layer x epoch heatmap of log10 mean gradient norm (seeds averaged); grey where not finite."""
    logged = heatmap_data(study, label)
    vmin, vmax = vrange or log_norm_range(study)
    drawn = canvas(ax, 1, (12, 0.45 * len(logged) + 1.5))
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


def saturation_per_layer(study: Study, labels: list[str], title_text: str, ax=None) -> Plot | None:
    """Saturated (or dead) unit fraction per hidden layer and epoch, one panel per configuration that has any
    (``saturated_labels``); None when none has."""
    drawn_labels = saturated_labels(study, labels)
    if not drawn_labels:
        return None
    frame = study.epoch_stat("saturation", labels)
    drawn = canvas(ax, len(drawn_labels), (5 * len(drawn_labels), 3.6), sharey=True)
    for ax, label in zip(drawn.axes, drawn_labels, strict=True):
        sub = frame[frame["label"] == label]
        sns.lineplot(
            data=sub,
            x="epoch",
            y="value",
            hue="layer",
            hue_order=layer_order(sub["layer"]),
            errorbar=t_interval,
            ax=ax,
            palette="viridis",
            linewidth=1,
        )
        ax.set(xlabel="epoch", ylabel="saturated units (fraction)", title=label, ylim=(-0.02, 1.02))
        ax.legend(fontsize=7, title="layer")
    means = frame.groupby("label")["value"].mean()
    alt = (
        f"Line charts, one per configuration ({listing(drawn_labels)}): the fraction of saturated (or dead) units "
        f"per hidden layer against epoch, from 0 to 1. Mean over layers and epochs: "
        + "; ".join(f"{lab} {pct(means[lab])}" for lab in drawn_labels)
        + "."
    )
    return drawn.finish(title_text, alt)
