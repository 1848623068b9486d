"""The Jacobian's singular values at initialisation against depth: their spread, and their mean square measured
beside mean-field theory's prediction."""

from __future__ import annotations

from ..model import ReportData, flow_palette, unique
from ..spectra import ISOMETRIC_SPREAD, summary
from .base import Plot, canvas


def jacobian_spectra(study: ReportData, ax=None) -> Plot:
    frame = summary(study)
    names = unique(frame["label"])
    colours = flow_palette(names)
    drawn = canvas(ax, 2, (14, 5.5))
    spread, square = drawn.axes
    depths = sorted(frame["depth"].unique())
    for name in names:
        rows = frame[frame["label"] == name]
        spread.plot(rows["depth"], rows["spread"], marker="o", ms=4, lw=1.4, color=colours[name], label=name)
        square.plot(rows["depth"], rows["log_sq_mean"], marker="o", ms=4, lw=1.4, color=colours[name])
        square.plot(rows["depth"], rows["predicted"], ls="--", lw=1, color=colours[name])
    spread.axhline(ISOMETRIC_SPREAD, color="grey", lw=0.8, ls="--")
    square.axhline(0, color="grey", lw=0.8, ls=":")
    for axis in (spread, square):
        axis.set(xscale="log", xticks=depths, xticklabels=[str(d) for d in depths], xlabel="hidden layers")
        axis.minorticks_off()
    spread.set(ylabel="spread of the singular values: std of log10 (decades)", ylim=(0, None))
    square.set(ylabel="log10 mean squared singular value (dashed: theory)")
    handles, labels = spread.get_legend_handles_labels()
    square.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    deepest = frame[frame["depth"] == depths[-1]] if depths else frame
    alt = (
        "Two panels against depth (log scale). Left: the spread of the singular values of each configuration's "
        f"Jacobian at initialisation, in decades, dashed at {ISOMETRIC_SPREAD:g}; at {depths[-1] if depths else '-'} "
        "layers: "
        + "; ".join(f"{r.label} {r.spread:.2g}" for r in deepest.itertuples())
        + ". Right: log10 of their mean square, measured (solid) and predicted by mean-field theory from the measured "
        "input where it applies (dashed)."
    )
    return drawn.finish("The Jacobian's singular values at initialisation", alt)
