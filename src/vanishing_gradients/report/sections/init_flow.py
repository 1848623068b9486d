"""Section "Gradient flow at initialisation": how much of the gradient reaches layer 1 in fresh networks at each
depth, and mean-field theory's prediction beside the measurement."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ... import theory
from .. import spectra
from ..figures.teaching import signals_data
from ..formats import join, ratio_text
from ..model import ReportData, flow_label
from ..stats import EXPLODING_RATIO, HEALTHY_RATIO
from ..theory import beside

INIT_FLOW_CAPTION = "Layer-1/output gradient-norm ratio at initialisation (geometric mean [95% interval] over seeds)"


def init_sentences(study: ReportData) -> list[str]:
    table = study.init_summary
    depths = sorted(table["depth"].unique())
    deepest = table[table["depth"] == depths[-1]].set_index("label")
    out = []
    keep = [lab for lab, r in deepest.iterrows() if not r["zero"] and HEALTHY_RATIO <= r["ratio"] <= EXPLODING_RATIO]
    lose = [lab for lab, r in deepest.iterrows() if r["zero"] or r["ratio"] < HEALTHY_RATIO]
    if keep:
        out.append(
            f"At {depths[-1]} hidden layers, layer 1 still receives between a tenth and ten times the output "
            f"layer's gradient with {join(keep)}."
        )
    if lose:
        zero = [lab for lab in lose if deepest.loc[lab, "zero"]]
        text = f"It receives less with {join(lose)}"
        if zero:
            text += f"; with {join(zero)} its gradient is exactly 0 for at least one seed"
        out.append(text + ".")
    exploding = [lab for lab, r in deepest.iterrows() if not r["zero"] and r["ratio"] > EXPLODING_RATIO]
    if exploding:
        out.append(f"With {join(exploding)} the ratio exceeds 10: the gradient grows towards the input instead.")
    out.append(
        "At initialisation an optimiser has not acted yet, so Adam's network there is that of sigmoid/SGD with "
        "the same init; Adam acts on each update, which it scales per parameter (its gradients while training "
        "are in the fixes' section). Train-some-layers is measured in its first stage: while the network grows, "
        "each new block is trained under a fresh head, through at most one block."
    )
    return out


def init_depth_table(study: ReportData) -> pd.DataFrame:
    """Per configuration: the ratio at the shallowest, the course's (7) and the deepest depth, and the deepest
    depth up to which layer 1's gradient stays within the healthy band (a tenth to ten times the output layer's)."""
    table = study.init_summary
    depths = sorted(table["depth"].unique())
    shown = list(dict.fromkeys([depths[0], *(d for d in depths if d == 7), depths[-1]]))
    rows = []
    for label, frame in table.groupby("label", sort=False):
        frame = frame.set_index("depth")
        row = {"configuration": label}
        for d in shown:
            r = frame.loc[d]
            row[f"ratio at depth {d}"] = "0" if r["zero"] else ratio_text(r["ratio"], r["low"], r["high"])
        healthy = [
            d for d in depths if not frame.loc[d, "zero"] and HEALTHY_RATIO <= frame.loc[d, "ratio"] <= EXPLODING_RATIO
        ]
        cut = next((d for d in depths if d not in healthy), None)
        row[f"ratio in [{HEALTHY_RATIO:g}, {EXPLODING_RATIO:g}] up to depth"] = (
            f"{depths[-1]} (all)"
            if cut is None
            else (str(max(d for d in healthy if d < cut)) if any(d < cut for d in healthy) else "none")
        )
        rows.append(row)
    return pd.DataFrame(rows)


THEORY_CAPTION = (
    "Per-layer gradient factor at initialisation, predicted by mean-field theory (√χ₁ at the fixed point q* of the "
    "equal-shape hidden layers; 1/7 means the gradient is 7 times smaller one layer nearer the input) and measured "
    "(a least-squares line through the log gradient norms of hidden layers 2 to D of the deepest measured network "
    "whose norms all stay above 1e-30, geometric mean and 95% interval over seeds); ξ = 1/|ln χ₁| layers is the "
    "theory's depth scale"
)


def _factor_interval(row) -> str:
    if not math.isfinite(row.measured):
        return "n/a"
    text = theory.factor_text(row.measured)
    if math.isfinite(row.measured_low) and row.measured_high > row.measured_low:
        text += f" [{theory.factor_text(row.measured_low)}, {theory.factor_text(row.measured_high)}]"
    return text + f" (depth {int(row.fit_depth)})"


def theory_table(study: ReportData) -> pd.DataFrame:
    rows = []
    for r in beside(study).itertuples():
        covered = {
            "σ_w², σ_b²": f"{r.sigma_w2:.3g}, {r.sigma_b2:.3g}",
            "q*": f"{r.q_star:.3g}",
            "χ₁": f"{r.chi_1:.3g} ({r.phase})",
            "predicted per layer": theory.factor_text(r.predicted),
            "measured / predicted": f"{r.ratio:.3f}" if math.isfinite(r.ratio) else "n/a",
            "depth scale ξ": _scale_text(r.depth_scale),
            "correlation depth ξ_c": _scale_text(r.correlation_scale),
        }
        rows.append(
            {
                "configuration": r.label,
                **(covered if r.covered else dict.fromkeys(covered, "")),
                "measured per layer": _factor_interval(r),
                "theory": "covers it" if r.covered else f"does not apply: {r.reason}",
            }
        )
    columns = ["configuration", "σ_w², σ_b²", "q*", "χ₁", "predicted per layer", "measured per layer"]
    return pd.DataFrame(
        rows, columns=[*columns, "measured / predicted", "depth scale ξ", "correlation depth ξ_c", "theory"]
    )


def _scale_text(scale: float) -> str:
    return "∞" if math.isinf(scale) else f"{scale:.2f}" if math.isfinite(scale) else "n/a"


def theory_sentences(study: ReportData) -> list[str]:

    table = beside(study)
    if table.empty:
        return []
    out = []
    base = table[table["label"] == flow_label("baseline", "")]
    if len(base) and base.iloc[0]["covered"]:
        b = base.iloc[0]
        out.append(
            f"Why the baseline's gradient shrinks about {1 / b.predicted:.3g}-fold per layer: PyTorch's default init "
            f"gives each weight the variance 1/(3·fan_in), so σ_w² = {b.sigma_w2:.3g} (and σ_b² = {b.sigma_b2:.2g}); "
            f"the pre-activations settle at variance q* = {b.q_star:.3g}, where the sigmoid's slope is close to its "
            f"maximum 1/4, and χ₁ = σ_w² E[σ′(√q* z)²] = {b.chi_1:.3g}: √χ₁ = {theory.factor_text(b.predicted)} per "
            f"layer. Measured: {_factor_interval(b)}."
        )
    fits = table[table["covered"] & np.isfinite(table["ratio"])]
    if len(fits):
        worst = fits.loc[(np.log(fits["ratio"]).abs()).idxmax()]
        out.append(
            f"For the {len(fits)} configurations the theory covers, the measured factor is "
            f"{fits['ratio'].min():.2f} to {fits['ratio'].max():.2f} times the predicted one (furthest: "
            f"{worst.label}, measured {theory.factor_text(worst.measured)} against "
            f"{theory.factor_text(worst.predicted)}); the theory is exact for infinitely wide layers, these have "
            f"{(study.config.get('training') or {}).get('width', 'a finite number of')} units and take a few real "
            "batches."
        )
    for still, moves, shrinks in (
        (fits[fits["q_star"] == 0], "vanishes (q* = 0)", "shrinks"),
        (fits[np.isinf(fits["q_star"])], "grows without bound (q* infinite)", "grows"),
    ):
        if len(still):
            out.append(
                f"For {join(list(still['label']))} the forward signal itself {moves}: each layer's input {shrinks} "
                f"layer by layer as fast as the backward signal does the other way, so a weight gradient, their "
                "product, keeps its size (predicted ×1)."
            )
    edge = fits[fits["phase"] != "ordered"]
    if len(edge):
        out.append(
            f"At the edge of chaos (χ₁ within 1% of 1) or beyond it (the gradient kept or growing towards the input): "
            f"{join([f'{r.label} (χ₁ = {r.chi_1:.3g})' for r in edge.itertuples()])}."
        )
    out += correlation_sentences(table)
    absent = table[~table["covered"]]
    if len(absent):
        out.append(
            "The theory does not apply, and no line is drawn, for "
            + "; ".join(f"{r.label} ({r.reason})" for r in absent.itertuples())
            + "."
        )
    adam = table[(table["optimizer"] == "adam") & table["covered"]]
    if len(adam):
        out.append(
            f"For {join(list(adam['label']))} the theory predicts the gradient at initialisation, where no optimiser "
            "has acted yet; it does not predict training: Adam divides each update by a running scale of that "
            "parameter's own gradient."
        )
    return out


def correlation_sentences(table: pd.DataFrame) -> list[str]:
    """Where Schoenholz's correlation depth scale xi_c differs from the gradient's xi (``beside``'s rows)."""
    out = []
    covered = table[table["covered"]]
    known = covered[covered["correlation_scale"].notna()]
    differs = known[~np.isclose(known["correlation_scale"], known["depth_scale"], rtol=1e-3)]
    if len(differs):
        text = (
            "Schoenholz et al. (2017) found random networks trainable up to about 6 ξ_c layers, ξ_c the depth scale of "
            "two inputs' correlation; it equals the gradient's ξ = 1/|ln χ₁| only in the ordered phase with "
            "0 < q* < ∞. It differs for "
            + "; ".join(
                f"{r.label} (ξ = {_scale_text(r.depth_scale)}, ξ_c = {_scale_text(r.correlation_scale)})"
                for r in differs.itertuples()
            )
        )
        if np.isinf(differs["correlation_scale"]).any():
            text += (
                ". Where ξ_c is ∞ (q* = 0 or ∞) the correlation map has no exponential depth scale: the bound limits "
                "no depth"
            )
        out.append(text + ".")
    return out


def signals_depth(study: ReportData) -> int:
    """The depth whose forward and backward signals the report draws: the deepest depth of the final runs that the
    initialisation was measured at (7 in the default study)."""
    measured = set(study.init_flow["depth"]) if len(study.init_flow) else set()
    trained = sorted(set(study.fair_runs["depth"]) & measured)
    return int(trained[-1]) if trained else int(max(measured, default=0))


def signal_sentences(study: ReportData) -> list[str]:
    """Per configuration at ``signals_depth``: how the backward signal changes from the last hidden layer to the
    first, and the forward signal from the first to the last (a weight gradient is their product)."""
    depth = signals_depth(study)
    data = signals_data(study, depth)
    if data.empty:
        return []
    rows = []
    for label, frame in data.groupby("label", sort=False):
        first, last = frame.iloc[0], frame.iloc[-1]
        if min(last["backward_rms"], first["forward_rms"]) > 0:
            rows.append(
                (label, first["backward_rms"] / last["backward_rms"], last["forward_rms"] / first["forward_rms"])
            )
    if not rows:
        return []
    rows.sort(key=lambda r: r[1])
    return [
        f"From layer {depth} down to layer 1 the backward signal changes by a factor of: "
        + "; ".join(f"{label} {back:.2g}" for label, back, _ in rows)
        + ".",
        f"From layer 1 up to layer {depth} the forward signal changes by a factor of: "
        + "; ".join(f"{label} {forward:.2g}" for label, _, forward in rows)
        + ". A layer's weight gradient is the product of its input (the forward signal) and the gradient reaching "
        "its output (the backward signal): a ratio of weight gradients near 1 can hide both shrinking.",
    ]


# A predicted mean square within this many decades of the measured one: the theory's prediction holds there.
SPECTRUM_AGREES = 0.3


def spectra_sentences(study: ReportData) -> list[str]:
    """The Jacobian's spread at the deepest depth measured, and where the theory's mean square meets the measured."""
    frame = spectra.summary(study)
    if frame.empty:
        return []
    deepest = int(frame["depth"].max())
    at = frame[frame["depth"] == deepest]
    narrow = at[at["spread"] < spectra.ISOMETRIC_SPREAD]
    wide = at[at["spread"] >= spectra.ISOMETRIC_SPREAD]
    listed = lambda rows: "; ".join(f"{r.label}: {r.spread:.2g}" for r in rows.itertuples())  # noqa: E731
    out = []
    text = f"At {deepest} hidden layers the singular values of the Jacobian at initialisation spread over"
    if len(narrow):
        text += f" less than {spectra.ISOMETRIC_SPREAD:g} decade with {listed(narrow)}"
    if len(wide):
        text += (
            "; and over" if len(narrow) else ""
        ) + f" {spectra.ISOMETRIC_SPREAD:g} decade or more with {listed(wide)}"
    floor = at[at["floor"] > 0]
    if len(floor):
        text += (
            ". Singular values at float64's rounding floor, left out (so that the spread is at least the one given): "
            + "; ".join(f"{r.label}: {r.floor}" for r in floor.itertuples())
        )
    out.append(text + ".")
    covered = frame.dropna(subset=["predicted"])
    covered = covered[covered["predicted"].abs() < math.inf]
    if len(covered):
        miss = (covered["log_sq_mean"] - covered["predicted"]).abs()
        agree = covered[miss <= SPECTRUM_AGREES]
        far = covered.assign(miss=miss)[miss > SPECTRUM_AGREES].sort_values("miss", ascending=False)
        text = (
            "Mean-field theory's mean squared singular value, from each network's measured input, is within "
            f"{SPECTRUM_AGREES:g} decades of the measured one in {len(agree)} of {len(covered)} configurations and "
            "depths"
        )
        if len(far):
            worst = far.groupby("label", sort=False).first().reset_index()
            text += "; it is not for " + "; ".join(
                f"{r.label}, at {r.depth} layers measured {r.log_sq_mean:.2g} and predicted {r.predicted:.2g}"
                for r in worst.itertuples()
            )
        out.append(text + ".")
    return out
