"""What the protocol gave each configuration and what it shows beyond accuracy: budgets (steps, FLOPs, time)
and robustness to the learning rate. Computation only: tables of numbers, no prose, no plotting.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd

from .evidence import METRIC, Protocol
from .model import ReportData
from .stats import CONFIG_KEYS


def budget_table(study: ReportData) -> pd.DataFrame:
    """Per configuration of the fair runs: the optimiser steps and epochs trained against the budget, how many
    runs stopped early (after leaving chance) or never left chance, the compute (6 x parameters x samples: an
    upper bound for train-some-layers, whose frozen and absent layers cost less), its time at the machine's
    measured matmul rate (the FLOP bound) against the measured training time, and the jobs' start-up (wall time
    of the job minus its training). A column a study's runs did not record (an older version) is NaN."""
    rows = []
    for _, frame in study.fair_runs.groupby(CONFIG_KEYS, sort=False):
        col = partial(_column, frame)
        flops = 6.0 * col("parameters") * col("steps") * col("batch_size")
        rows.append(
            {
                "configuration": frame["label"].iloc[0],
                "seeds": len(frame),
                "steps": col("steps").mean(),
                "budget steps": col("budget_steps").mean(),
                "epochs": col("epochs_run").mean(),
                "stopped early": int(col("stopped_early").fillna(0).sum()),
                "never left chance": int(col("left_chance_epoch").isna().sum()) if "left_chance_epoch" in frame else 0,
                "TFLOP per run": (flops / 1e12).mean(),
                "FLOP bound s": (flops / (col("matmul_gflops") * 1e9)).mean(),
                "training s": col("train_seconds").mean(),
                "start-up s": (col("wall_s") - col("train_seconds")).mean(),
                "test accuracy": col(METRIC).mean(),
            }
        )
    return pd.DataFrame(rows)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column as floats, or NaN where the runs did not record it."""
    return frame[name].astype(float) if name in frame else pd.Series(math.nan, index=frame.index)


def robustness_table(study: ReportData) -> pd.DataFrame:
    """Per configuration, from its screen (every screening seed): the rates at which every seed learned and the
    mean score stayed within ``comparison.robust_margin`` of the best rate's, their span in decades, and the
    spread (SD) of the final seeds' test accuracy at the chosen rate."""
    protocol, margin = Protocol.of(study.config), robust_margin(study.config)
    rows = []
    for _, frame in study.screen.groupby(CONFIG_KEYS, sort=False):
        by_rate = frame.groupby("lr")["score"].agg(["mean", "min"]).sort_index()
        good = by_rate[(by_rate["min"] >= protocol.learned) & (by_rate["mean"] >= by_rate["mean"].max() - margin)]
        label = frame["label"].iloc[0]
        final = study.fair_runs.loc[study.fair_runs["label"] == label, METRIC]
        rows.append(
            {
                "configuration": label,
                "rates screened": len(by_rate),
                "robust rates": len(good),
                "from": float(good.index.min()) if len(good) else math.nan,
                "to": float(good.index.max()) if len(good) else math.nan,
                "decades": float(np.log10(good.index.max() / good.index.min())) if len(good) else math.nan,
                "contiguous": bool(len(good)) and _contiguous(list(by_rate.index), list(good.index)),
                "best score": float(by_rate["mean"].max()),
                "final seeds SD (points)": float(100 * final.std(ddof=1)) if len(final) > 1 else math.nan,
            }
        )
    return pd.DataFrame(rows)


def robust_margin(config: dict) -> float:
    return float((config.get("comparison") or {}).get("robust_margin", 0.02))


def _contiguous(rates: list[float], good: list[float]) -> bool:
    """True if the good rates are neighbours in the screened grid (no failing rate between them)."""
    idx = [rates.index(r) for r in good]
    return max(idx) - min(idx) + 1 == len(idx)
