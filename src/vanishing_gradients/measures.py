"""What the study measures, in words and as table columns (torch-free: the aggregate and report read it)."""

from __future__ import annotations

import pandas as pd

# A saturated unit, per saturating activation: its output's distance from the activation's centre is above this
# (sigmoid: |sigmoid(x) - 0.5| > 0.49, i.e. sigmoid'(x) < 0.0099; tanh: |tanh(x)| > 0.99). ReLU counts dead units.
SATURATED_BEYOND = {"sigmoid": (0.5, 0.49), "tanh": (0.0, 0.99)}  # activation -> (centre, distance)

# The report's words for the saturation statistic, per activation (gradstats.SaturationMonitor measures it; each
# per-epoch statistic is declared by the training callback that measures it).
SATURATION_DEFINITIONS = {
    "sigmoid": "fraction of activations with |sigmoid(x) - 0.5| > {1:g}, i.e. sigmoid'(x) < {2:.2g}".format(
        *SATURATED_BEYOND["sigmoid"], 0.25 - SATURATED_BEYOND["sigmoid"][1] ** 2
    ),
    "tanh": "fraction of activations with |tanh(x)| > {1:g}".format(*SATURATED_BEYOND["tanh"]),
    "relu": "fraction of units that are zero for every validation sample (dead units)",
}


def grad_ratio(grad_steps: pd.DataFrame) -> float:
    """Headline vanishing figure: median over steps of ||grad W_hidden1|| / ||grad W_output||.

    Taken over the last stage only (for train-some-layers that is the full, unfrozen network).
    """
    if grad_steps.empty:
        return float("nan")
    last = grad_steps[grad_steps["stage"] == grad_steps["stage"].max()]
    wide = last.pivot_table(index="step", columns="layer", values="grad_norm")
    if "hidden1" not in wide or "output" not in wide:
        return float("nan")
    return float((wide["hidden1"] / wide["output"]).median())
