"""The report's tables, as DataFrames ready to display: the config, the summary, initial weights, gradient flow
at initialisation and the cost of each job (no IPython)."""

from __future__ import annotations

import json
import math

import pandas as pd

from .. import datasets, specs
from ..study import variant_settings
from .fair import learned_text
from .model import Study
from .stats import EXPLODING_RATIO, HEALTHY_RATIO
from .text import pct, ratio_text

INIT_CAPTION = "Standard deviation of the initial weights per layer (PyTorch's default is uniform on ±1/√fan_in)"
INIT_FLOW_CAPTION = "Layer-1/output gradient-norm ratio at initialisation (geometric mean [95% interval] over seeds)"
SUMMARY_CAPTION = (
    "All configurations at their chosen learning rate: mean ± 95% t-interval over seeds of the test accuracy at the "
    "best validation epoch and at the last; the ratio is a geometric mean [95% interval]"
)
CHOSEN_CAPTION = (
    "Learning rates chosen on validation, the fair result at the chosen rate (test accuracy, mean [95% interval] "
    "over the study's seeds, or how many seeds learned where they split) and the exercise's own run at the "
    "course's rate"
)
CHECK_CAPTION = (
    "The short screen against the full budget: validation score at every rate (the screen: mean over its seeds; the "
    "full budget: the first screening seed)"
)
ROBUST_CAPTION = (
    "Robustness to the learning rate, from the screen: the rates at which every screening seed learned and the mean "
    "score stayed within comparison.robust_margin of the best rate's (from, to, their span in decades, whether no "
    "failing rate lies between them), and the spread of the final seeds at the chosen rate"
)
VERDICT_CAPTION = (
    "The declared family: each comparison's difference (points of test accuracy) with the interval its verdict uses "
    "(Bonferroni over the family), the equivalence interval, the corrected p-values and the verdict"
)
BUDGET_CAPTION = (
    "What each configuration trained (means over its final runs): optimiser steps against the budget, epochs, runs "
    "stopped early (only after leaving chance) and runs that never left chance; compute (6 x parameters x samples, an "
    "upper bound for train-some-layers) and its time at the machine's measured matmul rate (FLOP bound) against the "
    "measured training time and the job's start-up"
)


def format_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Readable version: accuracies as 'mean ± half-width %', the ratio as 'geometric mean [interval]'."""

    def with_ci(col: str, digits: int = 1) -> list[str]:
        return [pct(v, c, digits) for v, c in zip(table[col], table[f"{col}_ci"], strict=True)]

    def accuracy(col: str) -> list[str]:
        """Where seeds split, how many learned (a mean of a two-valued outcome says little)."""
        split = (table["seeds_learned"] > 0) & (table["seeds_learned"] < table["seeds"])
        counts = [learned_text(k, n) for k, n in zip(table["seeds_learned"], table["seeds"], strict=True)]
        return [c if s else v for c, s, v in zip(counts, split, with_ci(col, 2), strict=True)]

    return pd.DataFrame(
        {
            "run": table["label"],
            "rate": [f"{lr:g}" for lr in table["lr"]],
            "seeds": table["seeds"],
            "test accuracy (best epoch)": accuracy("best_test_acc"),
            "test accuracy (last epoch)": with_ci("test_acc", 2),
            "best val accuracy": with_ci("best_val_acc", 2),
            "grad ratio hidden1/output": [
                ratio_text(*r) for r in zip(table["ratio"], table["ratio_low"], table["ratio_high"], strict=True)
            ],
            "saturated units": with_ci("saturation"),
            "diverged runs": table["diverged"],
        }
    )


def config_table(config: dict) -> pd.DataFrame:
    """Every value of the effective config that defines the study (mirrors aside: they do not change the data)."""
    rows = [(f"data.{k}", v) for k, v in config.get("data", {}).items() if k != "mirrors"]
    rows += [(k, config[k]) for k in ("study", "seeds", "device", "threads") if k in config]
    rows += [(f"training.{k}", v) for k, v in config.get("training", {}).items()]
    rows += [(f"baseline.{k}", v) for k, v in config.get("baseline", {}).items()]
    rows += [(f"selection.{k}", v) for k, v in config.get("selection", {}).items()]
    rows += [
        (f"fixes.{g}.{v}", overrides)
        for g, entry in config.get("fixes", {}).items()
        for v, overrides in entry["variants"].items()
    ]
    rows += [(f"init_flow.{k}", v) for k, v in config.get("init_flow", {}).items()]
    return pd.DataFrame(
        [(key, json.dumps(value, sort_keys=True)) for key, value in rows], columns=["config key", "value"]
    )


def changes_init(config: dict, group: str) -> bool:
    """Whether a variant of ``group`` sets its own initial weights (then its section shows ``init_table``)."""
    variants = config.get("fixes", {}).get(group, {}).get("variants", {})
    return any(v.get("init", "default") != "default" for v in variants.values())


def init_table(config: dict, group: str) -> pd.DataFrame:
    """The std of the initial weights per layer for the baseline (PyTorch's default) and each variant of ``group``:
    how an init compares with Xavier's and Kaiming's."""
    width, data = config["training"]["width"], datasets.of(config).model_shape()
    shapes = {
        f"layer 1 ({data['in_features']} → width)": (data["in_features"], width),
        "hidden (width → width)": (width, width),
        f"output (width → {data['classes']})": (width, data["classes"]),
    }
    rows = []
    for name, settings in [
        ("baseline (PyTorch default)", config["training"]),
        *((v, variant_settings(config, group, v)) for v in config["fixes"][group]["variants"]),
    ]:
        spec = specs.from_settings(settings, depth=max(config["fixes"][group]["depths"]), seed=0, **data).model
        row = {"variant": name, "init": spec.init}
        for shape_name, (fan_in, fan_out) in shapes.items():
            std = specs.weight_std(spec, fan_in, fan_out)
            row[shape_name] = f"{std:.3g}" if std is not None else f"{1 / math.sqrt(3 * fan_in):.3g} (uniform)"
        rows.append(row)
    return pd.DataFrame(rows)


def init_depth_table(study: Study) -> pd.DataFrame:
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


def cost_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Wall time and peak memory of every training job, from Snakemake's benchmark files."""
    cols = ["group", "variant", "depth", "seed", "epochs_run", "wall_s", "max_rss_mb", "train_seconds", "device"]
    table = runs[[c for c in cols if c in runs]].copy()
    table["s per epoch"] = table["train_seconds"] / table["epochs_run"]
    return table.sort_values(["group", "variant", "depth", "seed"]).reset_index(drop=True)
