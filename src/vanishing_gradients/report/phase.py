"""The phase diagram's numbers: each cell's score at the rate chosen for it, whether it trains, and the bound of
6 xi_c layers (Schoenholz et al. 2017) beside it. Computation only (the section's words are in ``sections.phase``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import theory
from .model import ReportData
from .stats import LEARNED

BOUND = 6.0  # Schoenholz et al. (2017): random networks trained up to about 6 xi_c layers, not deeper
MAP = {False: "sigmoid", True: "centred sigmoid"}  # each centring's mean-field activation (theory.ACTIVATIONS)
TITLE = {False: "plain sigmoid", True: "centred sigmoid"}
CELL = ["centred", "sigma_w2", "depth"]
# A side of the bound: deeper than 6 xi_c, shallower (or at it), or none (xi_c infinite: q* = 0, or the edge)
DEEPER, SHALLOWER, UNBOUNDED = "deeper", "shallower", "no bound"


def threshold(study: ReportData) -> float:
    """A cell trains when its score reaches the study's ``comparison.learned`` (the project's "learned": 50% by
    default, five times chance on ten classes)."""
    return float((study.config.get("comparison") or {}).get("learned", LEARNED))


def bound(centred: bool, sigma_w2: float) -> float:
    """6 xi_c layers of the plain or centred sigmoid without biases at ``sigma_w2``; infinite where xi_c is, and
    within 1% above the centred sigmoid's critical sigma_w^2, where q* settles too slowly to be computed (6 xi_c is
    above 10^5 layers there: no depth trained comes near it)."""
    try:
        return BOUND * theory.correlation_depth_scale(MAP[bool(centred)], float(sigma_w2))
    except ArithmeticError:
        return math.inf


def signal_vanishes(centred: bool, sigma_w2: float) -> bool:
    """Whether q* = 0: the forward signal itself shrinks to nothing layer by layer (the centred sigmoid below its
    critical sigma_w^2), so that no correlation depth scale exists."""
    try:
        return theory.fixed_point(MAP[bool(centred)], float(sigma_w2), 0.0) == 0
    except ArithmeticError:  # at the edge, where q* settles too slowly to be computed
        return False


def critical(centred: bool) -> float:
    """The sigma_w^2 of the edge of chaos (chi_1 = 1): about 103 for the plain sigmoid, 16 for the centred one."""
    return theory.critical_gain(MAP[bool(centred)]) ** 2


def cells(study: ReportData) -> pd.DataFrame:
    """One row per cell (centring, sigma_w^2, depth), at the rate chosen for that cell alone: the rate whose mean
    accuracy over seeds on the fixed sample of training images is best (the smallest of equals). That accuracy is
    the cell's ``score`` (trainability: how well it fits its training data), beside its validation accuracy;
    ``trains``: score >= ``threshold``; ``bound``: 6 xi_c and ``side``, the cell's side of it."""
    return study.memo("phase cells", lambda: _cells(study))


def _cells(study: ReportData) -> pd.DataFrame:
    rates = study.phase.groupby([*CELL, "lr"], as_index=False).agg(
        score=("train_acc", "mean"), val_acc=("val_acc", "mean"), seeds=("seed", "nunique"),
        diverged=("diverged", "sum"), steps=("steps", "max"),
    )  # fmt: skip
    rates = rates.sort_values([*CELL, "lr"], kind="stable").reset_index(drop=True)
    best = rates.loc[rates.groupby(CELL, sort=False)["score"].idxmax()].reset_index(drop=True)
    best["trains"] = best["score"] >= threshold(study)
    scales = {key: bound(*key) for key in set(zip(best["centred"], best["sigma_w2"], strict=True))}
    best["bound"] = [scales[key] for key in zip(best["centred"], best["sigma_w2"], strict=True)]
    best["side"] = np.where(
        np.isinf(best["bound"]), UNBOUNDED, np.where(best["depth"] > best["bound"], DEEPER, SHALLOWER)
    )
    return best


def bound_curve(centred: bool, low: float, high: float, points: int = 41) -> pd.DataFrame:
    """6 xi_c against sigma_w^2 from ``low`` to ``high`` (log-spaced, and near the critical sigma_w^2 on either
    side, where it grows without bound), its finite points only."""
    grid = set(np.geomspace(low, high, points))
    edge = critical(centred)
    near = (1.02, 1.05) if centred else (0.95, 0.98, 1.02, 1.05)  # below its edge the centred one has q* = 0
    grid |= {edge * f for f in near if low <= edge * f <= high}
    frame = pd.DataFrame({"sigma_w2": sorted(grid)})
    frame["bound"] = [bound(centred, s) for s in frame["sigma_w2"]]
    return frame[np.isfinite(frame["bound"])].reset_index(drop=True)


def panel(frame: pd.DataFrame) -> dict:
    """The counts one panel's sentence needs, from its rows of ``cells``: cells, cells that train, and per side of
    the bound its cells and those against it (deeper that train: violations; shallower that fail)."""
    side = frame.groupby("side")
    count = side.size()
    trained = side["trains"].sum()
    return {
        "cells": len(frame),
        "train": int(frame["trains"].sum()),
        **{name: int(count.get(name, 0)) for name in (DEEPER, SHALLOWER, UNBOUNDED)},
        "violations": int(trained.get(DEEPER, 0)),
        "shallow_failed": int(count.get(SHALLOWER, 0) - trained.get(SHALLOWER, 0)),
        "unbounded_trained": int(trained.get(UNBOUNDED, 0)),
    }


def budget(study: ReportData) -> dict:
    """What every run of the diagram got: epochs, steps, rates, seeds, batch size, width, init and images."""
    frame = study.phase

    def values(column: str) -> list:
        return sorted(frame[column].unique().tolist())

    return {
        key: values(key)
        for key in ("epochs", "steps", "lr", "seed", "batch_size", "width", "init", "train_images", "sample_images")
    }
