"""Figures a teacher shows beside the measurements: the mechanism (the sigmoid, its slope and where each layer's
pre-activations lie), each layer's forward and backward signal at initialisation, the update-to-weight ratio per
layer over training, the classic mean/max gradient per layer, and the gradient profile epoch by epoch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import animation

from ...signals import SIGNALS
from ..model import ReportData, distance_from_output, flow_label, layer_order
from ..stats import geo_mean, last_stage
from .base import Animation, Plot, canvas, listing, plt
from .training import layer_panels


def signals_data(study: ReportData, depth: int) -> pd.DataFrame:
    """Per configuration and hidden layer at ``depth``: the init-flow table's forward and backward signals, mean
    over seeds (empty where the table holds none: a study made before they were recorded)."""
    flow = study.init_flow
    if flow.empty or not set(SIGNALS) <= set(flow.columns):
        return pd.DataFrame(columns=["label", "layer", "index", *SIGNALS])
    frame = flow[(flow["depth"] == depth) & flow["layer"].str.startswith("hidden")]
    out = frame.groupby(["label", "layer"], as_index=False, sort=False)[list(SIGNALS)].mean()
    out["index"] = [int(layer.removeprefix("hidden")) for layer in out["layer"]]
    return out.sort_values(["label", "index"]).reset_index(drop=True)


def mechanism(study: ReportData, group: str, variant: str, depth: int, ax=None) -> Plot | None:
    """The sigmoid and its slope (at most 1/4), with each hidden layer's measured pre-activations at
    initialisation (5% to 95% range, mean) over them, and the mean slope each layer multiplies the gradient by;
    None where the study has no such measurement."""
    data = signals_data(study, depth)
    data = data[data["label"] == flow_label(group, variant)]
    if data.empty:
        return None
    drawn = canvas(ax, 1, (10, 4.5))
    ax = drawn.axes[0]
    reach = float(max(6.0, np.nanmax(np.abs(data[["pre_q05", "pre_q95"]].to_numpy())) * 1.1))
    x = np.linspace(-reach, reach, 801)
    sig = 1 / (1 + np.exp(-x))
    ax.plot(x, sig, color="black", linewidth=1.2, label="σ(x)")
    ax.plot(x, sig * (1 - sig), color="tab:red", linewidth=1.8, label="σ′(x) = σ(1 − σ), at most 1/4")
    levels = np.linspace(0.95, 0.35, len(data))
    colours = sns.color_palette("viridis", len(data))
    for level, colour, row in zip(levels, colours, data.itertuples(), strict=True):
        ax.plot([row.pre_q05, row.pre_q95], [level, level], color=colour, linewidth=5, alpha=0.7, solid_capstyle="butt")
        ax.plot([row.pre_mean], [level], "o", color="white", markeredgecolor=colour, markersize=5)
        ax.annotate(
            f"{row.layer}: mean σ′ {row.slope:.3f}",
            (row.pre_q95, level),
            xytext=(6, -3),
            textcoords="offset points",
            fontsize=7,
        )
    ax.set(
        xlabel="pre-activation x (the input of each sigmoid)",
        ylabel="σ(x), σ′(x); bars: layers (5%-95% of x)",
        xlim=(-reach, reach),
        ylim=(0, 1.05),
    )
    ax.legend(fontsize=8, loc="upper left")
    label = flow_label(group, variant)
    alt = (
        f"The sigmoid and its slope against the pre-activation, with each hidden layer's measured pre-activations at "
        f"initialisation of {label} at depth {depth} as horizontal bars (5% to 95%). Mean slope per layer: "
        + "; ".join(f"{r.layer} {r.slope:.3f}" for r in data.itertuples())
        + "."
    )
    return drawn.finish(f"The mechanism: {label}, {depth} hidden layers, at initialisation", alt)


def signals_at_init(study: ReportData, depth: int, ax=None) -> Plot | None:
    """Per hidden layer at initialisation (layer 1 left): the forward signal (RMS of the layer's output) and the
    backward signal (RMS of the gradient reaching it), one line per configuration, log scale; None without data."""
    data = signals_data(study, depth)
    if data.empty:
        return None
    drawn = canvas(ax, 2, (13, 4.5))
    labels = list(dict.fromkeys(data["label"]))
    palette = dict(zip(labels, sns.color_palette("tab20", len(labels)), strict=True))
    for ax, col, name in zip(
        drawn.axes,
        ("forward_rms", "backward_rms"),
        ("forward: RMS of the layer's output", "backward: RMS of the gradient reaching the layer's output"),
        strict=True,
    ):
        shown = data[data[col] > 0]
        sns.lineplot(data=shown, x="index", y=col, hue="label", hue_order=labels, palette=palette, marker="o", ax=ax)
        ax.set_yscale("log")
        ax.set(xlabel="hidden layer (1: input side)", ylabel=name + " (log scale)", title=name.split(":")[0])
        ax.set_xticks(sorted(data["index"].unique()))
        ax.get_legend().remove()
    handles, names = drawn.axes[1].get_legend_handles_labels()
    drawn.fig.legend(handles, names, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    first = data[data["index"] == 1].set_index("label")
    alt = (
        f"Two line charts against the hidden layer at depth {depth}, log scale, one line per configuration: the "
        "forward signal (left) and the backward signal (right) at initialisation. Backward signal at layer 1: "
        + "; ".join(f"{lab} {first.loc[lab, 'backward_rms']:.2g}" for lab in labels if lab in first.index)
        + "."
    )
    return drawn.finish(f"Forward and backward signal per layer at initialisation, {depth} hidden layers", alt)


def update_ratio(study: ReportData, labels: list[str], title_text: str, ax=None) -> Plot | None:
    """The update-to-weight ratio ‖ΔW‖/‖W‖ of each layer against epoch, one panel per configuration (geometric
    mean over seeds, log scale): how far a step moves each layer's weights; None where none was recorded."""
    frame = study.epoch_stat("update_ratio", labels)
    frame = frame[np.isfinite(frame["value"].astype(float)) & (frame["value"] > 0)]
    drawn_labels = [label for label in labels if label in set(frame["label"])]
    if not drawn_labels:
        return None
    drawn = layer_panels(frame, drawn_labels, ax, 3.8, estimator=geo_mean, errorbar=None, linewidth=1)
    for ax in drawn.axes:
        ax.set_yscale("log")
        ax.set(ylabel="‖ΔW‖ / ‖W‖ per step (log scale)")
    means = frame[frame["layer"] == "hidden1"].groupby("label")["value"].apply(geo_mean)
    alt = (
        f"Line charts, one per configuration ({listing(drawn_labels)}): each layer's update-to-weight ratio against "
        "epoch on a log scale. Layer 1's, geometric mean over epochs: "
        + "; ".join(f"{lab} {means[lab]:.2g}" for lab in drawn_labels if lab in means)
        + "."
    )
    return drawn.finish(title_text, alt)


def grad_bars_data(study: ReportData, labels: list[str]) -> pd.DataFrame:
    """Per configuration and layer: the mean and the largest weight-gradient norm over the recorded steps of the
    last stage, mean over seeds."""
    frame = last_stage(study.grad_steps[study.grad_steps["label"].isin(labels)])
    per_run = frame.groupby(["label", "seed", "layer"])["grad_norm"].agg(["mean", "max"]).reset_index()
    out = per_run.groupby(["label", "layer"], as_index=False)[["mean", "max"]].mean()
    return out.melt(id_vars=["label", "layer"], var_name="over steps", value_name="grad_norm")


def grad_bars(study: ReportData, labels: list[str], title_text: str, ax=None) -> Plot:
    """The classic bar chart: each layer's mean and largest weight-gradient norm over training, one panel per
    configuration, log scale."""
    data = grad_bars_data(study, labels)
    drawn = canvas(ax, len(labels), (4.5 * len(labels), 3.8), sharey=True)
    for ax, label in zip(drawn.axes, labels, strict=True):
        sub = data[data["label"] == label]
        sns.barplot(data=sub, x="layer", y="grad_norm", hue="over steps", order=layer_order(sub["layer"]), ax=ax)
        ax.set_yscale("log")
        ax.set(xlabel="layer (input side on the left)", ylabel="‖∇W‖₂ (log scale)", title=label)
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        ax.legend(fontsize=7, title="over steps")
    hidden1 = data[(data["layer"] == "hidden1") & (data["over steps"] == "mean")].set_index("label")["grad_norm"]
    output = data[(data["layer"] == "output") & (data["over steps"] == "mean")].set_index("label")["grad_norm"]
    alt = (
        f"Bar charts, one per configuration ({listing(labels)}): each layer's mean and largest weight-gradient norm "
        "over training, log scale. Mean at layer 1 and at the output: "
        + "; ".join(
            f"{lab} {hidden1[lab]:.2g} and {output[lab]:.2g}" for lab in labels if lab in hidden1 and lab in output
        )
        + "."
    )
    return drawn.finish(title_text, alt)


def profile_frames(study: ReportData, labels: list[str], frames: int = 25) -> pd.DataFrame:
    """Per epoch (about ``frames`` of them, evenly spaced, the last always in), configuration and layer: the mean
    gradient norm over the epoch's steps, geometric mean over seeds, the layer counted from the output."""
    frame = last_stage(study.epoch_stat("grad_norm", labels))
    frame = frame[np.isfinite(frame["value"].astype(float)) & (frame["value"] > 0)]
    epochs = np.sort(frame["epoch"].unique())
    keep = set(epochs[np.unique(np.linspace(0, len(epochs) - 1, min(frames, len(epochs))).round().astype(int))])
    frame = frame[frame["epoch"].isin(keep)]
    out = frame.groupby(["epoch", "label", "layer", "depth"], as_index=False)["value"].apply(geo_mean)
    out["below_output"] = [distance_from_output(lay, d) for lay, d in zip(out["layer"], out["depth"], strict=True)]
    return out


def profile_animation(study: ReportData, labels: list[str], title_text: str, frames: int = 25) -> Animation | None:
    """The gradient-norm profile per layer (counted from the output), one frame per epoch, with a slider: how the
    profile changes while the network trains; None where nothing was recorded."""
    data = profile_frames(study, labels, frames)
    if data.empty:
        return None
    epochs = sorted(data["epoch"].unique())
    fig, ax = plt.subplots(figsize=(11, 5))
    top = int(data["below_output"].max())
    low, high = data["value"].min(), data["value"].max()

    def draw(i: int):
        ax.clear()
        shown = data[data["epoch"] == epochs[i]]
        for label in labels:
            rows = shown[shown["label"] == label].sort_values("below_output")
            ax.plot(rows["below_output"], rows["value"], marker="o", label=label, color=study.palette.get(label))
        ax.set_yscale("log")
        ax.set_ylim(low / 2, high * 2)
        ax.set_xticks(range(top + 1), ["output"] + [f"{k} below" for k in range(1, top + 1)], rotation=30)
        ax.set_xlim(top + 0.5, -0.5)  # input side on the left, as the network is drawn
        ax.set(xlabel="layer, counted from the output", ylabel="mean ‖∇W‖₂ in the epoch (log scale)")
        ax.set_title(f"{title_text}: epoch {epochs[i]}", fontsize=11)
        ax.legend(fontsize=7, loc="lower left")

    anim = animation.FuncAnimation(fig, draw, frames=len(epochs), interval=400)
    first, last = data[data["epoch"] == epochs[0]], data[data["epoch"] == epochs[-1]]
    alt = (
        f"An animation with a slider, one frame per epoch shown ({len(epochs)} of them, epochs {epochs[0]} to "
        f"{epochs[-1]}): each layer's mean gradient norm, counted from the output, one line per configuration "
        f"({listing(labels)}). Layer 1 in the first and the last frame: "
        + "; ".join(
            f"{lab} {first[(first['label'] == lab) & (first['layer'] == 'hidden1')]['value'].mean():.2g} and "
            f"{last[(last['label'] == lab) & (last['layer'] == 'hidden1')]['value'].mean():.2g}"
            for lab in labels
        )
        + "."
    )
    return Animation(fig, anim, alt)
