"""Intervals over seeds and the outcome classes the conclusions use: pandas and numpy only, no plotting.

Runs are compared through 95% t-intervals of the mean over seeds; positive quantities that span decades
(gradient norms and ratios) through the t-interval of their log10 values (a geometric mean and interval).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats

from ..layout import RUN_KEYS
from ..study import BASELINE

CONFIG_KEYS = ["group", "variant", "depth"]  # a configuration: a run up to its seed
# Thresholds of the conclusions, on the 95% interval of the mean test accuracy over seeds:
LEARNED = 0.5  # "learned": the whole interval above 50%; "did not learn": the whole interval below it
HEALTHY_RATIO = 0.1  # "flow restored": layer 1 gets at least a tenth of the output layer's gradient norm...
EXPLODING_RATIO = 10.0  # ... and at most ten times it; above, the gradient grows towards the input (exploding)
SATURATED = 0.5  # "saturated": on average over training, half of the units or more saturated (or dead)
RISE = 0.05  # a validation loss that ends 5% or more above its minimum while the training loss falls
NO_SATURATION = 0.0005  # a configuration whose saturated fraction never reaches this gets a sentence, not a panel


# ---------------------------------------------------------------------------------------- intervals
LEVEL = 0.95  # every interval of the report, unless a correction for many comparisons asks for another level


def t_quantile(dof: int, level: float = LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t with ``dof`` degrees of freedom (4.303 for 2 at 95%)."""
    return float(scipy.stats.t.ppf(0.5 + level / 2, dof))


def mean_ci(values) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval (``interval``; NaN half-width for a single value)."""
    mean, low, high = interval(pd.Series(values, dtype=float).dropna())
    return mean, (high - low) / 2


def bounds(mean: float, half: float) -> tuple[float, float]:
    """(low, high) of an interval; a single seed (NaN half-width) is its own interval."""
    half = 0.0 if math.isnan(half) else half
    return mean - half, mean + half


def t_band(values) -> tuple[float, float]:
    """(low, high) of the 95% t-interval of the mean: seaborn's ``errorbar`` for every figure."""
    return bounds(*mean_ci(values))


def interval(values, level: float = LEVEL, within: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """(mean, low, high) of the t interval of the mean at ``level``; NaN bounds for fewer than two values.
    ``within``: the metric's range (e.g. (0, 1) for an accuracy): the interval never leaves it."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    # t x the standard error by hand: scipy.stats.t.interval gives NaN where the seeds agree exactly (scale 0)
    half = t_quantile(len(x) - 1, level) * float(x.std(ddof=1)) / math.sqrt(len(x))
    low, high = mean - half, mean + half
    if within is not None:
        low, high = max(low, within[0]), min(high, within[1])
    return mean, low, high


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact binomial interval of a proportion k/n."""
    if n == 0:
        return math.nan, math.nan
    ci = scipy.stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def log_mean_ci(values) -> tuple[float, float, float]:
    """Geometric mean and the 95% t-interval (low, high) of a positive quantity, computed on log10 values.

    NaN where a value is not positive (a gradient that underflowed to 0 has no logarithm).
    """
    values = pd.Series(values, dtype=float).dropna()
    if values.empty or (values <= 0).any():
        return math.nan, math.nan, math.nan
    mean, half = mean_ci(np.log10(values))
    low, high = bounds(mean, half)
    return 10**mean, 10**low, 10**high


def geo_mean(values) -> float:
    return log_mean_ci(values)[0]


def log_interval(values) -> tuple[float, float]:
    return log_mean_ci(values)[1:]


# ------------------------------------------------------------------------------------------ outcomes
def classify_accuracy(mean: float, half: float) -> str:
    """learned / not learned / mixed: where the 95% interval of the test accuracy lies against LEARNED (a single
    seed: its value)."""
    low, high = bounds(mean, half)
    if low >= LEARNED:
        return "learned"
    if high < LEARNED:
        return "not learned"
    return "mixed"


def classify_flow(ratio: float) -> str:
    """vanishing below the healthy band, exploding above it, restored within it (two-sided)."""
    if math.isnan(ratio):
        return "unknown"
    if ratio > EXPLODING_RATIO:
        return "exploding"
    return "restored" if ratio >= HEALTHY_RATIO else "vanishing"


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration of ``runs`` (labelled, seeds pooled), in the runs' order: accuracies with their
    95% t-interval half-widths, the gradient ratio's geometric mean and interval, saturation, and the classes the
    conclusions use."""
    rows = []
    for (group, variant, depth), frame in runs.groupby(CONFIG_KEYS, sort=False):
        row = {
            "group": group,
            "variant": variant,
            "depth": depth,
            "label": frame["label"].iloc[0],
            "lr": frame["lr"].iloc[0],
            "activation": frame["activation"].iloc[0],
            "seeds": len(frame),
        }
        for col in ("best_test_acc", "test_acc", "best_val_acc"):  # test at the best and at the last epoch
            row[col], row[f"{col}_ci"] = mean_ci(frame[col])
        row["ratio"], row["ratio_low"], row["ratio_high"] = log_mean_ci(frame["grad_ratio_first_last"])
        row["saturation"], row["saturation_ci"] = mean_ci(frame.get("saturation", []))
        row["diverged"] = int(frame["diverged"].sum())
        for col in ("epochs_run", "steps"):  # how long the runs trained: every "did not learn" says it
            row[col] = float(frame[col].mean()) if col in frame else math.nan
        row["budget_epochs"] = float(frame["budget_epochs"].max()) if "budget_epochs" in frame else math.nan
        left = frame["left_chance_epoch"] if "left_chance_epoch" in frame else pd.Series(dtype=float)
        row["never_left_chance"] = int(left.isna().sum()) if "left_chance_epoch" in frame else 0
        row["seeds_learned"] = int((frame["best_test_acc"] >= LEARNED).sum())
        row["accuracy_class"] = classify_accuracy(row["best_test_acc"], row["best_test_acc_ci"])
        row["flow_class"] = classify_flow(row["ratio"])
        rows.append(row)
    return pd.DataFrame(rows)


def groups_of_fixes(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The fix configurations of a summary table by what they did: flow restored and learned; flow exploding;
    units saturated and not learned (whatever the ratio, also one that could not be computed); flow still
    vanishing and not learned; flow restored and not saturated but not learned; mixed (everything else)."""
    fixes = summary[summary["group"] != BASELINE]
    not_learned = fixes["accuracy_class"] == "not learned"
    exploding = fixes["flow_class"] == "exploding"
    groups = {
        "learned": (fixes["flow_class"] == "restored") & (fixes["accuracy_class"] == "learned"),
        "exploding": exploding,
        "saturated": ~exploding & not_learned & (fixes["saturation"] >= SATURATED),
        "vanishing": (fixes["flow_class"] == "vanishing") & not_learned & ~(fixes["saturation"] >= SATURATED),
    }
    groups["unlearned"] = (fixes["flow_class"] == "restored") & not_learned & ~groups["saturated"]
    groups["mixed"] = ~(
        groups["learned"] | groups["exploding"] | groups["saturated"] | groups["vanishing"] | groups["unlearned"]
    )
    return {name: fixes[mask] for name, mask in groups.items()}


def last_stage(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of each run's last stage (train-some-layers: the full network; every other run: all rows)."""
    return frame[frame["stage"] == frame.groupby(RUN_KEYS)["stage"].transform("max")]


# --------------------------------------------------------------------------------------- overfitting
def _rise(run: pd.DataFrame) -> dict | None:
    """One run's last stage: its lowest validation loss, the epoch of it, the final loss, and whether the
    training loss fell after that epoch."""
    run = run[run["stage"] == run["stage"].max()].set_index("epoch")
    if len(run) < 3 or not np.isfinite(run[["train_loss", "val_loss"]].to_numpy()).all():
        return None
    best = run["val_loss"].idxmin()
    return {
        "best_epoch": int(best),
        "best": run.loc[best, "val_loss"],
        "final": run["val_loss"].iloc[-1],
        "final_epoch": int(run.index[-1]),
        "train_fell": run["train_loss"].iloc[-1] < run.loc[best, "train_loss"],
    }


def overfitting(metrics: pd.DataFrame) -> pd.DataFrame:
    """Configurations whose validation loss rises while their training loss falls, in every seed: the final
    loss more than RISE above the lowest, with the 95% interval of that rise above zero (one seed: its value)."""
    rows = []
    for label, frame in metrics.groupby("label", sort=False):
        seeds = [r for _, run in frame.groupby("seed") if (r := _rise(run)) is not None]
        if not seeds:
            continue
        seeds = pd.DataFrame(seeds)
        rise, half = mean_ci(seeds["final"] - seeds["best"])
        lower, _ = bounds(rise, half)
        if seeds["train_fell"].all() and lower > 0 and rise >= RISE * seeds["best"].mean():
            rows.append(
                {
                    "label": label,
                    "best_epochs": sorted(seeds["best_epoch"]),
                    "best_val_loss": mean_ci(seeds["best"]),
                    "final_val_loss": mean_ci(seeds["final"]),
                    "final_epoch": int(seeds["final_epoch"].max()),
                }
            )
    return pd.DataFrame(rows, columns=["label", "best_epochs", "best_val_loss", "final_val_loss", "final_epoch"])


# ---------------------------------------------------------------------------------- gradient at init
def init_ratios(init_flow: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, depth and seed: hidden1/output gradient-norm ratio at initialisation."""
    wide = init_flow.pivot_table(
        index=["label", "group", "variant", "depth", "seed"], columns="layer", values="grad_norm"
    ).reset_index()
    wide["ratio"] = wide["hidden1"] / wide["output"]
    return wide[["label", "group", "variant", "depth", "seed", "ratio"]]


def init_summary(init_flow: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and depth: geometric mean ratio and interval over seeds; ``zero`` where a seed's layer-1
    gradient was exactly 0 (norms are accumulated in float64: only a gradient that is 0 reads 0)."""
    rows = []
    for (label, depth), frame in init_ratios(init_flow).groupby(["label", "depth"], sort=False):
        mean, low, high = log_mean_ci(frame["ratio"])
        rows.append(
            {
                "label": label,
                "depth": depth,
                "ratio": mean,
                "low": low,
                "high": high,
                "zero": bool((frame["ratio"] == 0).any()),
                "seeds": len(frame),
            }
        )
    return pd.DataFrame(rows)
