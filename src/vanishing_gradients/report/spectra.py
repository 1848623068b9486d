"""The Jacobian's singular values at initialisation, per configuration and depth, with mean-field theory's
prediction of their mean square beside the measurement (torch-free, no plotting; ``spectra`` measured them)."""

from __future__ import annotations

import math

import pandas as pd

from .. import specs, theory
from ..study import tiled, variant_settings
from .model import ReportData, flow_label

# A spread above this many decades: the smallest and largest singular values differ by 100x or more in a typical
# direction, the gradient vanishes in some directions while it keeps its size in others (no dynamical isometry).
ISOMETRIC_SPREAD = 1.0


def summary(study: ReportData) -> pd.DataFrame:
    """One row per configuration and depth: the spread (std of log10 singular values, mean over seeds), log10 of the
    mean square (measured, mean over seeds; and predicted from the measured input where the theory covers the
    configuration), the singular values at the rounding floor, and the seeds."""
    return study.memo("spectra", lambda: _summary(study))


def _summary(study: ReportData) -> pd.DataFrame:
    table = study.tables.get("init_spectra", pd.DataFrame())
    columns = ["label", "depth", "spread", "log_sq_mean", "predicted", "floor", "seeds", "factors"]
    if table is None or table.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (group, variant, depth), at in table.groupby(["group", "variant", "depth"], sort=False):
        factors = int(at["factors"].iloc[0])
        rows.append(
            {
                "label": flow_label(group, variant),
                "depth": int(depth),
                "spread": float(at["sv_log_std"].mean()),
                "log_sq_mean": float(at["sv_sq_log_mean"].mean()),
                "predicted": _predicted(study.config, group, variant, factors + 1, float(at["q_in"].mean()), factors),
                "floor": int(at["floor"].sum()),
                "seeds": int(at["seed"].nunique()),
                "factors": factors,
            }
        )
    return pd.DataFrame(rows, columns=columns).sort_values(["label", "depth"], kind="stable").reset_index(drop=True)


def _predicted(config: dict, group: str, variant: str, depth: int, q_in: float, factors: int) -> float:
    """log10 of the mean squared singular value the theory predicts, or NaN where it does not cover the network."""
    try:
        spec = specs.from_settings(tiled(variant_settings(config, group, variant), depth), depth, 0)
    except (KeyError, TypeError, ValueError):
        return math.nan
    if theory.not_covered(spec.model, spec.schedule):
        return math.nan
    activation = theory.activation_of(spec.model)
    return theory.jacobian_log_sq_mean(activation, *theory.variances(spec.model), q_in, factors)
