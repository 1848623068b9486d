"""Theory beside measurement at initialisation: each configuration's per-layer gradient factor as mean-field theory
predicts it (``vanishing_gradients.theory``) and as the init-flow table measured it (torch-free, no plotting)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import specs, theory
from ..study import tiled, variant_settings
from .model import ReportData, layer_order
from .stats import log_mean_ci

# A gradient norm this small is at float32's edge in some element: the fit leaves such a depth out.
TINY = 1e-30


# ----------------------------------------------------------------------------------------- prediction
def prediction(config: dict, group: str, variant: str) -> tuple[theory.Prediction | None, str, str]:
    """(prediction, "", optimizer) where the theory covers the configuration, else (None, why not, optimizer)."""
    try:
        spec = specs.from_settings(tiled(variant_settings(config, group, variant), 7), 7, 0)
    except (KeyError, TypeError, ValueError):
        return None, "its settings are not in this report's config", ""
    reason = theory.not_covered(spec.model, spec.schedule)
    return (None, reason, spec.optimizer) if reason else (theory.for_spec(spec.model), "", spec.optimizer)


def predictions(study: ReportData) -> dict[str, tuple[theory.Prediction | None, str, str]]:
    """Per init-flow configuration label: its prediction or the reason there is none."""
    keys = study.init_flow[["label", "group", "variant"]].drop_duplicates()
    return {r.label: prediction(study.config, r.group, r.variant) for r in keys.itertuples()}


# ---------------------------------------------------------------------------------------- measurement
def fitted_factor(norms: pd.Series) -> float:
    """The per-layer factor towards the input of the equal-shape hidden layers' gradient norms (hidden2 ...
    hiddenD, by layer), from a least-squares line through their logarithms: norm(l - 1) = factor * norm(l)."""
    index = np.array([int(name.removeprefix("hidden")) for name in norms.index], dtype=float)
    slope = np.polyfit(index, np.log(norms.to_numpy(dtype=float)), 1)[0]
    return float(np.exp(-slope))


def measured_factors(init_flow: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: the factor fitted at the deepest depth with at least 3 equal-shape hidden layers whose
    norms are all above ``TINY`` for every seed; geometric mean and 95% interval over seeds."""
    rows = []
    for label, frame in init_flow.groupby("label", sort=False):
        hidden = frame[frame["layer"].str.startswith("hidden") & (frame["layer"] != "hidden1")]
        usable = [
            d
            for d, at in hidden.groupby("depth")
            if at.groupby("seed")["layer"].nunique().min() >= 3  # trained layers (train-some-layers: one block)
            and (at["grad_norm"] > TINY).all()
            and np.isfinite(at["grad_norm"]).all()
        ]
        if not usable:
            rows.append({"label": label, "depth": math.nan, "factor": math.nan, "low": math.nan, "high": math.nan})
            continue
        at = hidden[hidden["depth"] == max(usable)]
        per_seed = [
            fitted_factor(seed.set_index("layer")["grad_norm"].reindex(layer_order(seed["layer"])))
            for _, seed in at.groupby("seed")
        ]
        mean, low, high = log_mean_ci(per_seed)
        rows.append({"label": label, "depth": max(usable), "factor": mean, "low": low, "high": high})
    return pd.DataFrame(rows, columns=["label", "depth", "factor", "low", "high"])


# ------------------------------------------------------------------------------------ both, together
def beside(study: ReportData) -> pd.DataFrame:
    """One row per init-flow configuration: the prediction (or why none) beside the measured factor, computed
    once per study for the table, the sentences and both figures that draw it."""
    return study.memo("theory", lambda: _beside(study))


def _beside(study: ReportData) -> pd.DataFrame:
    measured = measured_factors(study.init_flow).set_index("label")
    rows = []
    for label, (p, reason, optimizer) in predictions(study).items():
        m = measured.loc[label]
        rows.append(
            {
                "label": label,
                "covered": p is not None,
                "reason": reason,
                "optimizer": optimizer,
                "sigma_w2": p.sigma_w2 if p else math.nan,
                "sigma_b2": p.sigma_b2 if p else math.nan,
                "q_star": p.q_star if p else math.nan,
                "chi_1": p.chi_1 if p else math.nan,
                "predicted": p.factor if p else math.nan,
                "depth_scale": p.depth_scale if p else math.nan,
                "correlation_scale": _correlation_scale(p),
                "phase": p.phase if p else "",
                "measured": m["factor"],
                "measured_low": m["low"],
                "measured_high": m["high"],
                "fit_depth": m["depth"],
            }
        )
    table = pd.DataFrame(rows)
    if len(table):
        table["ratio"] = table["measured"] / table["predicted"]
    return table


def _correlation_scale(p: theory.Prediction | None) -> float:
    """xi_c (``theory.correlation_depth_scale``) of a covered configuration; NaN where its maps do not converge."""
    if p is None:
        return math.nan
    try:
        return theory.correlation_depth_scale(p.activation, p.sigma_w2, p.sigma_b2)
    except ArithmeticError:
        return math.nan


def predicted_lines(study: ReportData) -> pd.DataFrame:
    """Per covered configuration and init-flow depth: the hidden1/output ratio the theory predicts, anchored at
    the shallowest measured depth (the theory gives the slope, factor per layer, not the two end layers)."""
    table = beside(study).set_index("label")
    summary = study.init_summary
    rows = []
    for label, frame in summary.groupby("label", sort=False):
        if label not in table.index or not table.loc[label, "covered"]:
            continue
        ok = frame[~frame["zero"]].sort_values("depth")
        if ok.empty:
            continue
        start = ok.iloc[0]
        for depth in frame["depth"]:
            ratio = start["ratio"] * table.loc[label, "predicted"] ** (depth - start["depth"])
            rows.append({"label": label, "depth": depth, "ratio": ratio})
    return pd.DataFrame(rows, columns=["label", "depth", "ratio"])
