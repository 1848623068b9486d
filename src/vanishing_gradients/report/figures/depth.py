"""The depth sweep's figure: test accuracy against depth per configuration, beside layer 1's gradient ratio at
initialisation at the same depths (measured, with the theory's prediction dashed)."""

from __future__ import annotations

import numpy as np

from ..depth import sweep
from ..formats import pct
from ..model import ReportData, flow_label, flow_palette, unique
from ..stats import EXPLODING_RATIO, HEALTHY_RATIO, LEARNED
from ..theory import predicted_lines
from .base import Plot, canvas
from .overview import init_flow_floor
from .training import SEEDS_FOR_BANDS


def _accuracy_lines(study: ReportData, frame, names: list[str], colours: dict, accuracy) -> bool:
    """Test accuracy against depth, one line per configuration: with fewer than SEEDS_FOR_BANDS seeds each seed a
    dot beside the mean, else the mean with its 95% interval. Returns whether seeds were drawn."""
    runs = study.fair_runs
    runs = runs.assign(configuration=[flow_label(g, v) for g, v in zip(runs["group"], runs["variant"], strict=True)])
    per_seed = runs.groupby("configuration")["seed"].nunique().max() < SEEDS_FOR_BANDS if len(runs) else False
    for i, name in enumerate(names):
        rows = frame[frame["configuration"] == name]
        width = 2.5 if name.startswith("baseline") else 1.4
        shift = 1.025 ** (i - (len(names) - 1) / 2)  # side by side on the log axis, so intervals do not hide
        if per_seed:  # with few seeds, each seed a dot beside the mean: a t-interval over 3 seeds says little
            accuracy.plot(rows["depth"] * shift, rows["best_test_acc"], marker="o", ms=4, lw=width,
                          color=colours[name], label=name)  # fmt: skip
            seeds = runs[runs["configuration"] == name]
            accuracy.scatter(seeds["depth"] * shift, seeds["best_test_acc"], s=9, alpha=0.5, color=colours[name])
            continue
        err = np.vstack([rows["best_test_acc"] - rows["low"], rows["high"] - rows["best_test_acc"]])
        accuracy.errorbar(
            rows["depth"] * shift, rows["best_test_acc"], yerr=err, marker="o", ms=4, lw=width, capsize=3,
            color=colours[name], label=name,
        )  # fmt: skip
    return per_seed


def accuracy_vs_depth(study: ReportData, ax=None) -> Plot:
    frame = sweep(study)
    names = unique(frame["configuration"])
    colours = flow_palette(names)
    drawn = canvas(ax, 2, (14, 6))
    accuracy, flow = drawn.axes
    per_seed = _accuracy_lines(study, frame, names, colours, accuracy)
    accuracy.axhline(study.chance, color="grey", lw=0.8, ls=":")
    accuracy.axhline(LEARNED, color="grey", lw=0.8, ls="--")
    depths = sorted(frame["depth"].unique())
    accuracy.set(
        xscale="log", xticks=depths, xticklabels=[str(d) for d in depths], ylim=(0, 1), xlabel="hidden layers",
        ylabel="test accuracy at the best validation epoch" + (" (dots: seeds)" if per_seed else " (95% interval)"),
    )  # fmt: skip
    accuracy.minorticks_off()
    init = study.init_summary
    init = init[init["label"].isin(names)]
    theory = predicted_lines(study)
    floor = init_flow_floor(init) if len(init) else 1e-30
    for name in names:
        rows = init[(init["label"] == name) & ~init["zero"]]
        flow.plot(rows["depth"], rows["ratio"], marker="o", ms=3, color=colours[name], lw=1.3)
        predicted = theory[(theory["label"] == name) & (theory["ratio"] >= floor)]
        flow.plot(predicted["depth"], predicted["ratio"], ls="--", lw=1, color=colours[name])
        zero = init[(init["label"] == name) & init["zero"]]
        flow.scatter(zero["depth"], [floor] * len(zero), marker="v", s=30, color=colours[name])
    flow.set(yscale="log", xscale="log", xticks=depths, xticklabels=[str(d) for d in depths])  # as the left panel
    flow.minorticks_off()
    flow.axhspan(HEALTHY_RATIO, EXPLODING_RATIO, color="green", alpha=0.05, lw=0)
    flow.set(xlabel="hidden layers", ylabel="‖∇W hidden1‖ / ‖∇W output‖ at initialisation (dashed: theory)")
    handles, labels = accuracy.get_legend_handles_labels()
    flow.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    last = frame[frame["depth"] == depths[-1]]
    alt = (
        f"Two panels. Left: test accuracy against depth ({', '.join(map(str, depths))} hidden layers, log scale), one "
        f"line per configuration {'with each seed a dot' if per_seed else 'with 95% intervals'}, dotted at chance and "
        "dashed at 50%. At "
        f"{depths[-1]} layers: "
        + "; ".join(f"{r.configuration} {pct(r.best_test_acc)}" for r in last.itertuples())
        + ". Right: layer 1's gradient ratio at initialisation against depth, both on log scales, measured (solid) and "
        "predicted by mean-field theory where it applies (dashed), the band 0.1 to 10 shaded."
    )
    return drawn.finish("How deep each configuration trains, and its gradient at initialisation", alt)
