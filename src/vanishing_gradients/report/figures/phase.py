"""The phase diagram's figure: each cell's score against sigma_w^2 and depth, one panel per centring, with the bound
of 6 xi_c layers over it and the critical sigma_w^2 marked."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

from ..formats import pct
from ..model import ReportData
from ..phase import SHALLOWER, TITLE, bound_curve, cells, critical, panel, signal_vanishes, threshold
from .base import Plot, canvas


def _panel(ax, frame, centred: bool, norm, cmap, edge: float) -> None:
    """One centring: a square per cell coloured by its score (its percentage written in it, a thick black edge
    where it trains), the curve 6 xi_c (its finite part, the depths below it shaded) and a dashed line at the
    critical sigma_w^2."""
    ax.scatter(frame["sigma_w2"], frame["depth"], c=frame["score"], cmap=cmap, norm=norm, marker="s", s=900,
               edgecolors=np.where(frame["trains"], "black", "white"), linewidths=np.where(frame["trains"], 2.5, 0.5),
               zorder=2)  # fmt: skip
    for r in frame.itertuples():
        ink = "white" if norm(r.score) < 0.6 else "black"
        ax.text(r.sigma_w2, r.depth, f"{100 * r.score:.0f}", ha="center", va="center", fontsize=8, color=ink, zorder=3)
    sigmas, depths = sorted(frame["sigma_w2"].unique()), sorted(frame["depth"].unique())
    low, high = sigmas[0] / 2, sigmas[-1] * 2
    curve = bound_curve(centred, low, high)
    ax.plot(curve["sigma_w2"], curve["bound"], color="crimson", lw=2, label="6 ξc (mean-field theory)", zorder=4)
    ax.fill_between(curve["sigma_w2"], depths[0] / 2, curve["bound"], color="crimson", alpha=0.07, lw=0,
                    label="below 6 ξc: trainable, by the bound", zorder=0)  # fmt: skip
    if low <= edge <= high:
        ax.axvline(edge, color="grey", ls="--", lw=1, label=f"critical σw² ≈ {edge:.3g}", zorder=1)
    if signal_vanishes(centred, min(low * 1.01, edge * 0.99)):  # q* = 0 up to the edge: xi_c is infinite there
        ax.axvspan(low, min(edge, high), facecolor="none", edgecolor="grey", hatch="//", lw=0, alpha=0.4, zorder=0,
                   label="q* = 0: no finite ξc, no bound")  # fmt: skip
    ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(depths[0] / 2, depths[-1] * 2),
           xlabel="σw² (hidden layers' weight variance × fan-in)", ylabel="hidden layers",
           title=TITLE[centred])  # fmt: skip
    ax.set_xticks(sigmas, [f"{s:g}" for s in sigmas])
    ax.set_yticks(depths, [str(d) for d in depths])
    ax.minorticks_off()
    # below the panel: inside, "best" still covers cells of the bottom row (the centred panel of the deep study)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)


def phase_diagram(study: ReportData, ax=None) -> Plot:
    """Score (accuracy on the fixed sample of training images, at each cell's own best rate) against sigma_w^2
    and depth, log-log, a panel per centring in the table, with the theory's bound over the cells."""
    frame = cells(study)
    centrings = sorted(frame["centred"].unique())
    drawn = canvas(ax, len(centrings), (6.5 * len(centrings), 5.5))
    norm, cmap = mpl.colors.Normalize(0.0, 1.0), mpl.colormaps["viridis"]
    parts = []
    for axes, centred in zip(drawn.axes, centrings, strict=True):
        rows = frame[frame["centred"] == centred]
        _panel(axes, rows, bool(centred), norm, cmap, critical(bool(centred)))
        counts = panel(rows)
        parts.append(
            f"{TITLE[bool(centred)]}: {counts['train']} of {counts['cells']} cells train; deeper than 6 ξc, "
            f"{counts['violations']} of {counts['deeper']} train; at or below it, {counts['shallow_failed']} of "
            f"{counts[SHALLOWER]} fail"
        )
    drawn.fig.colorbar(mpl.cm.ScalarMappable(norm, cmap), ax=drawn.axes, label="accuracy on training images",
                       fraction=0.03)  # fmt: skip
    alt = (
        f"{len(centrings)} panel(s), one per centring: each cell (σw² on the x axis, hidden layers on the y axis, both "
        "log scales) a square coloured and labelled by its accuracy on a fixed sample of training images at its own "
        f"best rate, outlined in black where it reaches {pct(threshold(study))}; a red curve for 6 ξc with the depths "
        "below it shaded, a dashed line at the critical σw², hatched where q* = 0 (no finite ξc). "
        + ". ".join(parts)
        + "."
    )
    if drawn.own:  # titled, but not laid out by Canvas.finish: tight_layout cannot place the shared colourbar
        drawn.fig.suptitle("Trainability against weight scale and depth", fontsize=13)
    return Plot(drawn.fig, alt)
