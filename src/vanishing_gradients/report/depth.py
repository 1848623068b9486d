"""How deep each configuration trains: the sweep's table of outcomes by depth and the deepest depth trained.
Computation only (the section's words are in ``sections.depth``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .model import ReportData, flow_label
from .stats import EXPLODING_RATIO, HEALTHY_RATIO, LEARNED


def sweep(study: ReportData) -> pd.DataFrame:
    """One row per configuration (across depths) and depth: test accuracy at the best epoch with its interval
    clipped to [0, 1], whether the whole interval is above 50%, and layer 1's gradient ratio at initialisation."""
    summary = study.summary.copy()
    summary["configuration"] = [flow_label(g, v) for g, v in zip(summary["group"], summary["variant"], strict=True)]
    half = summary["best_test_acc_ci"].fillna(0.0)
    summary["low"] = np.clip(summary["best_test_acc"] - half, 0, 1)
    summary["high"] = np.clip(summary["best_test_acc"] + half, 0, 1)
    # A single seed has no interval: it trains at a depth only if every seed is above 50% and the interval is too.
    summary["trains"] = (summary["low"] > LEARNED) & (summary["seeds_learned"] == summary["seeds"])
    flow = study.init_summary.rename(columns={"label": "configuration", "ratio": "init_ratio"})
    flow = flow[["configuration", "depth", "init_ratio", "zero"]]
    out = summary.merge(flow, on=["configuration", "depth"], how="left")
    ratio = out["init_ratio"]
    out["flows"] = np.where(
        ratio.isna(), np.nan, (~out["zero"].fillna(False)) & ratio.between(HEALTHY_RATIO, EXPLODING_RATIO)
    )
    return out.sort_values(["configuration", "depth"], kind="stable").reset_index(drop=True)


def deepest(frame: pd.DataFrame) -> int | None:
    """The deepest depth of one configuration whose whole interval is above 50%, or None."""
    trained = frame.loc[frame["trains"], "depth"]
    return int(trained.max()) if len(trained) else None
