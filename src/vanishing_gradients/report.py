"""Tables, figures and sentences for the report notebook, all computed from the aggregate tables (torch-free).

The notebook (reports/report.ipynb) only calls these functions, so every number it shows comes from the run
and the logic is unit-tested without Jupyter. Runs are compared through 95% t-intervals over seeds; a
sentence says "X beat Y" only when the intervals separate.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# Missing optional fonts (STIX, cm*) make matplotlib log one "findfont" line each; DejaVu Sans covers every
# glyph used here, and those lines would otherwise land in the report as stderr output.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import specs  # noqa: E402
from .aggregate import read_table  # noqa: E402
from .layout import RUN_KEYS  # noqa: E402
from .measures import SATURATION_DEFINITIONS  # noqa: E402
from .study import BASELINE, variant_settings  # noqa: E402

TITLES = {
    "baseline": "Baseline (sigmoid, SGD)",
    "weight_increasing": "Fix 1: weight increasing (larger init std)",
    "better_activation": "Fix 2: better activation (ReLU, Tanh)",
    "better_optimizer": "Fix 3: better optimizer (Adam)",
    "normalization": "Fix 4: normalisation inside the network",
    "skip_connection": "Fix 5: skip connections",
    "train_some_layers": "Fix 6: train some layers (grow the network stage by stage)",
    "gradient_normalization": "Fix 7: gradient normalisation",
    "combined": "Reference: the helpful fixes combined",
}
CONFIG_KEYS = ["group", "variant", "depth"]  # a configuration: a run up to its seed
CHANCE = 0.1  # ten balanced classes
# Thresholds of the conclusions, on the 95% interval of the mean test accuracy over seeds:
LEARNED = 0.5  # "learned": the whole interval above 50%; "did not learn": the whole interval below it
HEALTHY_RATIO = 0.1  # "flow restored": layer 1 gets at least a tenth of the output layer's gradient norm
SATURATED = 0.5  # "saturated": on average over training, half of the units or more saturated (or dead)
RISE = 0.05  # a validation loss that ends 5% or more above its minimum while the training loss falls


def title(group: str) -> str:
    return TITLES.get(group, group)


# ---------------------------------------------------------------------------------------- intervals
# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (beyond: the normal 1.96).
# fmt: off
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
# fmt: on


def t_975(dof: int) -> float:
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


def mean_ci(values) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval (NaN half-width for a single value)."""
    values = pd.Series(values, dtype=float).dropna()
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    if n == 1:
        return float(values.iloc[0]), math.nan
    return float(values.mean()), float(t_975(n - 1) * values.std(ddof=1) / math.sqrt(n))


def t_interval(values) -> tuple[float, float]:
    """(low, high) of the 95% t-interval of the mean: seaborn's ``errorbar`` for every figure."""
    mean, half = mean_ci(values)
    half = 0.0 if math.isnan(half) else half
    return mean - half, mean + half


def log_mean_ci(values) -> tuple[float, float, float]:
    """Geometric mean and the 95% t-interval (low, high) of a positive quantity, computed on log10 values.

    NaN where a value is not positive (a gradient that underflowed to 0 has no logarithm).
    """
    values = pd.Series(values, dtype=float).dropna()
    if values.empty or (values <= 0).any():
        return math.nan, math.nan, math.nan
    mean, half = mean_ci(np.log10(values))
    half = 0.0 if math.isnan(half) else half
    return 10**mean, 10 ** (mean - half), 10 ** (mean + half)


def geo_mean(values) -> float:
    return log_mean_ci(values)[0]


def log_interval(values) -> tuple[float, float]:
    return log_mean_ci(values)[1:]


# ------------------------------------------------------------------------------------------ loading
def run_label(group: str, variant: str, depth: int) -> str:
    """A short name per configuration (seeds share it): 'baseline lr0.01 d7', 'normalization/batchnorm d7'."""
    return f"baseline {variant} d{depth}" if group == BASELINE else f"{group}/{variant} d{depth}"


def flow_label(group: str, variant: str) -> str:
    """A configuration in the initialisation figures (depth is their x-axis): 'baseline', 'normalization/batchnorm'."""
    return "baseline (sigmoid)" if group == BASELINE else f"{group}/{variant}"


def palette_for(labels) -> dict:
    """One colour per label, in the order given, the same in every figure (tab20, then Dark2 and Set1)."""
    # tab20's strong colours first, then its light ones: neighbours in the list are not shades of one hue
    tab20 = sns.color_palette("tab20")
    colours = tab20[0::2] + tab20[1::2] + sns.color_palette("Dark2") + sns.color_palette("Set1")
    return {label: colours[i % len(colours)] for i, label in enumerate(dict.fromkeys(labels))}


@dataclass
class Study:
    """The aggregate tables of one study with the labels, colours and summaries every section uses."""

    runs: pd.DataFrame
    metrics: pd.DataFrame
    grad_steps: pd.DataFrame
    grad_epochs: pd.DataFrame
    init_flow: pd.DataFrame
    config: dict = field(default_factory=dict)

    @property
    def seeds(self) -> list:
        return sorted(self.runs["seed"].unique())

    @property
    def baselines(self) -> pd.DataFrame:
        return self.runs[self.runs["group"] == BASELINE]

    @property
    def fix_groups(self) -> list[str]:
        return [g for g in dict.fromkeys(self.runs["group"]) if g != BASELINE]

    @property
    def course_lr(self) -> float:
        """The learning rate of the course's baseline: training.lr if it is in the grid, else the smallest."""
        lrs = sorted(self.baselines["lr"].unique())
        lr = self.config.get("training", {}).get("lr")
        return lr if lr in lrs else lrs[0]

    @property
    def course_baselines(self) -> pd.DataFrame:
        return self.baselines[self.baselines["lr"] == self.course_lr]

    def course_baseline_labels(self) -> list[str]:
        return list(dict.fromkeys(self.course_baselines.sort_values("depth")["label"]))

    @cached_property
    def palette(self) -> dict:
        return palette_for(self.runs["label"])

    @cached_property
    def saturation(self) -> pd.Series:
        """Per run: mean over the last stage's epochs and hidden layers of the saturated (dead) fraction."""
        frame = self.grad_epochs[self.grad_epochs["statistic"] == "saturation"]
        last = frame.groupby(RUN_KEYS)["stage"].transform("max")
        return frame[frame["stage"] == last].groupby(RUN_KEYS)["value"].mean().rename("saturation")

    @cached_property
    def summary(self) -> pd.DataFrame:
        return summary_table(self.runs.join(self.saturation, on=RUN_KEYS))


def load(tables: dict, config: dict | None = None) -> Study:
    """The aggregate tables (paths by name: runs, metrics, grad_steps, grad_epochs, init_flow) as a Study."""
    frames = {name: read_table(path) for name, path in tables.items()}
    runs = frames["runs"]
    runs["label"] = [run_label(*key) for key in zip(runs["group"], runs["variant"], runs["depth"], strict=True)]
    for name in ("metrics", "grad_steps", "grad_epochs"):
        frames[name] = frames[name].merge(runs[[*RUN_KEYS, "label"]], on=RUN_KEYS, how="left")
    flow = frames["init_flow"]
    flow["label"] = [flow_label(g, v) for g, v in zip(flow["group"], flow["variant"], strict=True)]
    return Study(runs, frames["metrics"], frames["grad_steps"], frames["grad_epochs"], flow, config or {})


# ------------------------------------------------------------------------------------------- tables
def classify_accuracy(mean: float, half: float) -> str:
    """learned / not learned / mixed: where the 95% interval of the test accuracy lies against LEARNED (a single
    seed: its value)."""
    half = 0.0 if math.isnan(half) else half
    if mean - half >= LEARNED:
        return "learned"
    if mean + half < LEARNED:
        return "not learned"
    return "mixed"


def classify_flow(ratio: float) -> str:
    if math.isnan(ratio):
        return "unknown"
    return "restored" if ratio >= HEALTHY_RATIO else "vanishing"


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (seeds pooled), in the runs' order: accuracies with their 95% t-interval
    half-widths, the gradient ratio's geometric mean and interval, saturation, and the classes the
    conclusions use."""
    rows = []
    for (group, variant, depth), frame in runs.groupby(CONFIG_KEYS, sort=False):
        row = {
            "group": group,
            "variant": variant,
            "depth": depth,
            "label": run_label(group, variant, depth),
            "lr": frame["lr"].iloc[0],
            "activation": frame["activation"].iloc[0],
            "seeds": len(frame),
        }
        for col in ("test_acc", "best_val_acc"):
            row[col], row[f"{col}_ci"] = mean_ci(frame[col])
        row["ratio"], row["ratio_low"], row["ratio_high"] = log_mean_ci(frame["grad_ratio_first_last"])
        row["saturation"], row["saturation_ci"] = mean_ci(frame.get("saturation", []))
        row["diverged"] = int(frame["diverged"].sum())
        row["seeds_learned"] = int((frame["test_acc"] >= LEARNED).sum())
        row["accuracy_class"] = classify_accuracy(row["test_acc"], row["test_acc_ci"])
        row["flow_class"] = classify_flow(row["ratio"])
        rows.append(row)
    return pd.DataFrame(rows)


def pct(value: float, half: float = math.nan, digits: int = 1) -> str:
    """'87.9%' or '87.9 ± 0.4%'."""
    if not math.isfinite(value):
        return "n/a"
    if math.isfinite(half):
        return f"{100 * value:.{digits}f} ± {100 * half:.{digits}f}%"
    return f"{100 * value:.{digits}f}%"


def ratio_text(ratio: float, low: float = math.nan, high: float = math.nan) -> str:
    if not math.isfinite(ratio):
        return "n/a"
    if math.isfinite(low) and math.isfinite(high) and high > low:
        return f"{ratio:.2g} [{low:.2g}, {high:.2g}]"
    return f"{ratio:.2g}"


def format_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Readable version: accuracies as 'mean ± half-width %', the ratio as 'geometric mean [interval]'."""
    return pd.DataFrame(
        {
            "run": table["label"],
            "seeds": table["seeds"],
            "test accuracy": [pct(v, c, 2) for v, c in zip(table["test_acc"], table["test_acc_ci"], strict=True)],
            "best val accuracy": [
                pct(v, c, 2) for v, c in zip(table["best_val_acc"], table["best_val_acc_ci"], strict=True)
            ],
            "grad ratio hidden1/output": [
                ratio_text(*r) for r in zip(table["ratio"], table["ratio_low"], table["ratio_high"], strict=True)
            ],
            "saturated units": [pct(v, c) for v, c in zip(table["saturation"], table["saturation_ci"], strict=True)],
            "diverged runs": table["diverged"],
        }
    )


def config_table(config: dict) -> pd.DataFrame:
    """Every value of the effective config that defines the study (mirrors aside: they do not change the data)."""
    rows = [(f"data.{k}", v) for k, v in config.get("data", {}).items() if k != "mirrors"]
    rows += [(k, config[k]) for k in ("study", "seeds", "device", "threads") if k in config]
    rows += [(f"training.{k}", v) for k, v in config.get("training", {}).items()]
    rows += [(f"baseline.{k}", v) for k, v in config.get("baseline", {}).items()]
    rows += [
        (f"fixes.{g}.{v}", overrides)
        for g, entry in config.get("fixes", {}).items()
        for v, overrides in entry["variants"].items()
    ]
    rows += [(f"init_flow.{k}", v) for k, v in config.get("init_flow", {}).items()]
    return pd.DataFrame(
        [(key, json.dumps(value, sort_keys=True)) for key, value in rows], columns=["config key", "value"]
    )


def init_table(config: dict, group: str) -> pd.DataFrame:
    """The std of the initial weights per layer for the baseline (PyTorch's default) and each variant of ``group``:
    how an init compares with Xavier's and Kaiming's."""
    width = config["training"]["width"]
    shapes = {
        "layer 1 (784 → width)": (784, width),
        "hidden (width → width)": (width, width),
        "output (width → 10)": (width, 10),
    }
    rows = []
    for name, settings in [
        ("baseline (PyTorch default)", config["training"]),
        *((v, variant_settings(config, group, v)) for v in config["fixes"][group]["variants"]),
    ]:
        spec = specs.from_settings(settings, depth=max(config["fixes"][group]["depths"]), seed=0).model
        row = {"variant": name, "init": spec.init}
        for shape_name, (fan_in, fan_out) in shapes.items():
            std = specs.weight_std(spec, fan_in, fan_out)
            row[shape_name] = f"{std:.3g}" if std is not None else f"{1 / math.sqrt(3 * fan_in):.3g} (uniform)"
        rows.append(row)
    return pd.DataFrame(rows)


def cost_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Wall time and peak memory of every training job, from Snakemake's benchmark files."""
    cols = ["group", "variant", "depth", "seed", "epochs_run", "wall_s", "max_rss_mb", "train_seconds", "device"]
    table = runs[[c for c in cols if c in runs]].copy()
    table["s per epoch"] = table["train_seconds"] / table["epochs_run"]
    return table.sort_values(["group", "variant", "depth", "seed"]).reset_index(drop=True)


# ---------------------------------------------------------------------------------------- sentences
def seeds_note(study: Study) -> str:
    seeds = study.seeds
    if len(seeds) == 1:
        return (
            f"One seed ({seeds[0]}): every number is a single run, there are no intervals, and no two runs "
            "can be told apart (single runs of these networks move by a point or more between seeds)."
        )
    return (
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))}): lines, bars and table entries are means over "
        "seeds; bands, error bars and ± are 95% t-intervals of the mean (geometric mean and interval on the "
        "log scale for gradient norms and ratios). Two runs are called different only where their "
        "intervals do not overlap."
    )


def compare(a: pd.Series, b: pd.Series, col: str = "test_acc") -> str:
    """'A beat B', 'B beat A' or 'A and B cannot be told apart', from the two 95% intervals of ``col``."""
    (ma, ha), (mb, hb) = (a[col], a[f"{col}_ci"]), (b[col], b[f"{col}_ci"])
    if math.isnan(ha) or math.isnan(hb):
        return f"{a['label']} ({pct(ma)}) and {b['label']} ({pct(mb)}) cannot be told apart from single runs"
    if ma - ha > mb + hb:
        return f"{a['label']} ({pct(ma, ha)}) beat {b['label']} ({pct(mb, hb)})"
    if mb - hb > ma + ha:
        return f"{b['label']} ({pct(mb, hb)}) beat {a['label']} ({pct(ma, ha)})"
    n = min(a["seeds"], b["seeds"])
    return (
        f"{a['label']} ({pct(ma, ha)}) and {b['label']} ({pct(mb, hb)}) cannot be told apart with "
        f"{n} seed{'s' if n > 1 else ''}"
    )


def learning_rate_sentences(study: Study) -> list[str]:
    """At which depths the sigmoid/SGD baseline learns at its best learning rate, and at which it does not."""
    table = summary_table(study.baselines)
    if table.empty:
        return []
    best_lr = table.groupby("lr")["test_acc"].max().idxmax()
    at_best = table[table["lr"] == best_lr].sort_values("depth")
    out = []
    learned = at_best[at_best["accuracy_class"] == "learned"]
    failed = at_best[at_best["accuracy_class"] == "not learned"]
    lrs = ", ".join(f"{lr:g}" for lr in sorted(table["lr"].unique()))
    out.append(
        f"Learning rates tried: {lrs}. The best for the sigmoid/SGD baseline is {best_lr:g} (the highest "
        "test accuracy at any depth)."
    )
    if len(learned):
        out.append(
            "At learning rate {:g} it learns with {} hidden layers ({}).".format(
                best_lr,
                _join([str(d) for d in learned["depth"]]),
                _join(
                    [
                        f"{d} layers: {pct(a, c)}"
                        for d, a, c in zip(learned["depth"], learned["test_acc"], learned["test_acc_ci"], strict=True)
                    ]
                ),
            )
        )
    if len(failed):
        out.append(
            "It does not learn with {} hidden layers: test accuracy {} (chance: 10%).".format(
                _join([str(d) for d in failed["depth"]]),
                _join([pct(a, c) for a, c in zip(failed["test_acc"], failed["test_acc_ci"], strict=True)]),
            )
        )
    mixed = at_best[at_best["accuracy_class"] == "mixed"]
    if len(mixed):
        out.append(
            "Mixed, with {} hidden layers: {}.".format(
                _join([str(d) for d in mixed["depth"]]), _join([_outcome(r) for r in mixed.itertuples()])
            )
        )
    never = [int(d) for d, frame in table.groupby("depth") if (frame["accuracy_class"] == "not learned").all()]
    if never:
        out.append(
            f"At no learning rate of the grid does it learn with {_join([str(d) for d in never])} hidden "
            "layers: there the failure is depth, not the learning rate."
        )
    return out


def problem_sentences(study: Study) -> list[str]:
    """What the course's baselines show, in words, from the numbers."""
    out = []
    for row in summary_table(study.course_baselines).sort_values("depth").itertuples():
        verdict = {"learned": "learned", "not learned": "did not learn", "mixed": "learned in some seeds only"}[
            row.accuracy_class
        ]
        out.append(
            f"With {row.depth} hidden layers (SGD lr {row.lr:g}) the sigmoid MLP {verdict}: "
            f"{_outcome(row)} (chance: 10%); layer 1's gradient norm was "
            f"{ratio_text(row.ratio, row.ratio_low, row.ratio_high)} times the output layer's."
        )
    return out


def saturation_sentence(study: Study, labels: list[str]) -> str:
    """Were the sigmoid units saturated? The answer decides what explains the vanishing gradient."""
    frame = study.grad_epochs[
        study.grad_epochs["label"].isin(labels) & (study.grad_epochs["statistic"] == "saturation")
    ]
    if frame.empty:
        return "No saturation was recorded."
    worst = frame.loc[frame["value"].idxmax()]
    text = (
        f"Saturation ({SATURATION_DEFINITIONS['sigmoid']}) reached at most {pct(worst['value'])} "
        f"({worst['label']}, {worst['layer']}, epoch {worst['epoch']})."
    )
    if worst["value"] < 0.05:
        text += (
            " The units were not saturated: the gradient shrinks because every sigmoid layer multiplies it "
            "by σ′(x) ≤ 0.25 and by small weights, layer after layer."
        )
    return text


def fix_sentences(study: Study, group: str) -> list[str]:
    """Each variant of ``group`` against the course baseline at the same depth, through their intervals."""
    table = study.summary
    base = table[(table["group"] == BASELINE) & (table["lr"] == study.course_lr)].set_index("depth")
    out = []
    for row in table[table["group"] == group].itertuples():
        text = (
            f"{row.label}: test accuracy {pct(row.test_acc, row.test_acc_ci)}, gradient ratio "
            f"{ratio_text(row.ratio, row.ratio_low, row.ratio_high)}"
        )
        if row.diverged:
            text += f" ({row.diverged} of {row.seeds} runs diverged)"
        if row.depth in base.index:
            b = base.loc[row.depth]
            text += f" against the baseline's {ratio_text(b['ratio'], b['ratio_low'], b['ratio_high'])}: "
            text += compare(pd.Series(row._asdict()), b) + "."
        else:
            text += "; no baseline at this depth to compare with."
        out.append(text)
    return out


def _join(items: list[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


# ----------------------------------------------------------------------------------------- conclusions
def _outcome(row) -> str:
    """'test accuracy 30.3 ± 87.3%, 1 of 3 seeds above 50%'."""
    text = f"test accuracy {pct(row.test_acc, row.test_acc_ci)}"
    if row.seeds > 1:
        text += f", {row.seeds_learned} of {row.seeds} seeds above {LEARNED:.0%}"
    return text


def groups_of_fixes(study: Study) -> dict[str, pd.DataFrame]:
    """The fix configurations by outcome: flow restored and learned; flow restored but units saturated and not
    learned; flow still vanishing and not learned; mixed (everything else)."""
    fixes = study.summary[study.summary["group"] != BASELINE]
    restored = fixes["flow_class"] == "restored"
    not_learned = fixes["accuracy_class"] == "not learned"
    groups = {
        "learned": restored & (fixes["accuracy_class"] == "learned"),
        "saturated": restored & not_learned & (fixes["saturation"] >= SATURATED),
        "vanishing": (fixes["flow_class"] == "vanishing") & not_learned,
    }
    groups["mixed"] = ~(groups["learned"] | groups["saturated"] | groups["vanishing"])
    return {name: fixes[mask] for name, mask in groups.items()}


GROUP_TITLES = {
    "learned": f"Flow restored and the network learns (ratio ≥ {HEALTHY_RATIO:g}, test accuracy interval above "
    f"{LEARNED:.0%})",
    "saturated": f"Flow restored, but the units saturate and the network does not learn (ratio ≥ {HEALTHY_RATIO:g}, "
    f"≥ {SATURATED:.0%} of the units saturated or dead, accuracy interval below {LEARNED:.0%})",
    "vanishing": f"The gradient still vanishes and the network does not learn (ratio < {HEALTHY_RATIO:g})",
    "mixed": "Mixed or partial (the accuracy interval straddles 50%, or a network that learns with a small ratio)",
}


def group_sentences(study: Study) -> list[str]:
    out = []
    for name, frame in groups_of_fixes(study).items():
        if len(frame):
            rows = frame.sort_values("test_acc", ascending=False).itertuples()
            out.append(
                f"**{GROUP_TITLES[name]}**: "
                + _join(
                    [
                        f"{r.label} ({_outcome(r)}; ratio {r.ratio:.2g}"
                        + (f"; {pct(r.saturation, r.saturation_ci)} saturated" if math.isfinite(r.saturation) else "")
                        + ")"
                        for r in rows
                    ]
                )
                + "."
            )
    return out


def necessary_not_sufficient(study: Study) -> list[str]:
    """What the data says about a gradient ratio near 1 at each depth: whether the configurations that learned
    all had one, and which had one and still did not learn."""
    out = []
    for depth, table in study.summary.groupby("depth"):
        table = table[(table["group"] != BASELINE) | (table["lr"] == study.course_lr)].dropna(subset=["ratio"])
        learned = table[table["accuracy_class"] == "learned"]
        if learned.empty or len(table) < 2:
            continue
        floor = learned.loc[learned["ratio"].idxmin()]
        below = table[table["ratio"] < floor["ratio"]]
        if len(below):
            out.append(
                f"At depth {depth}, every configuration that learned had a ratio of at least "
                f"{floor['ratio']:.2g} ({floor['label']}); none of the {len(below)} below it learned "
                f"({_join([f'{r.label}: {r.ratio:.2g}, {r.accuracy_class}' for r in below.itertuples()])}). "
                "Here a gradient that reaches the first layer was necessary."
            )
        failed = table[(table["accuracy_class"] == "not learned") & (table["ratio"] >= HEALTHY_RATIO)]
        if len(failed):
            details = [
                f"{r.label}: ratio {r.ratio:.2g}, {_outcome(r)}"
                + (f", {pct(r.saturation, r.saturation_ci)} saturated" if math.isfinite(r.saturation) else "")
                for r in failed.itertuples()
            ]
            out.append(f"It was not sufficient: {_join(details)}.")
    return out


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


def overfitting(study: Study) -> pd.DataFrame:
    """Configurations whose validation loss rises while their training loss falls, in every seed: the final
    loss more than RISE above the lowest, with the 95% interval of that rise above zero (one seed: its value)."""
    rows = []
    for label, frame in study.metrics.groupby("label", sort=False):
        seeds = [r for _, run in frame.groupby("seed") if (r := _rise(run)) is not None]
        if not seeds:
            continue
        seeds = pd.DataFrame(seeds)
        rise, half = mean_ci(seeds["final"] - seeds["best"])
        lower = rise - (0.0 if math.isnan(half) else half)
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


def _loss(mean_half: tuple[float, float]) -> str:
    mean, half = mean_half
    return f"{mean:.3f} ± {half:.3f}" if math.isfinite(half) else f"{mean:.3f}"


def overfitting_sentences(study: Study) -> list[str]:
    flagged = overfitting(study)
    if flagged.empty:
        return [
            f"No configuration's validation loss ended {RISE:.0%} or more above its minimum while its training "
            "loss fell."
        ]
    return [
        f"{r.label}: validation loss lowest at epoch {_join([str(e) for e in r.best_epochs])} (by seed; "
        f"{_loss(r.best_val_loss)}), then rose to {_loss(r.final_val_loss)} by epoch {r.final_epoch} while the "
        "training loss kept falling: it overfits (the best validation epoch would be the one to keep)."
        for r in flagged.itertuples()
    ]


def ranking_sentences(study: Study) -> list[str]:
    """The configurations ranked by mean test accuracy, each compared with the next through the intervals,
    and which cannot be told apart from the best."""
    ranked = study.summary.sort_values("test_acc", ascending=False).reset_index(drop=True)
    if ranked.empty:
        return []
    best = ranked.iloc[0]
    out = []
    if len(ranked) > 1:
        ties = [r["label"] for _, r in ranked.iloc[1:].iterrows() if "cannot be told apart" in compare(best, r)]
        text = f"Best mean test accuracy: {best['label']} ({pct(best['test_acc'], best['test_acc_ci'])})."
        if ties:
            text += f" It cannot be told apart from {_join(ties)} with {best['seeds']} seeds."
        out.append(text)
        for i in range(len(ranked) - 1):
            out.append(compare(ranked.iloc[i], ranked.iloc[i + 1]) + ".")
    return out


# ---------------------------------------------------------------------------------- gradient at init
def init_ratios(study: Study) -> pd.DataFrame:
    """Per configuration, depth and seed: hidden1/output gradient-norm ratio at initialisation."""
    wide = study.init_flow.pivot_table(
        index=["label", "group", "variant", "depth", "seed"], columns="layer", values="grad_norm"
    ).reset_index()
    wide["ratio"] = wide["hidden1"] / wide["output"]
    return wide[["label", "group", "variant", "depth", "seed", "ratio"]]


def init_summary(study: Study) -> pd.DataFrame:
    """Per configuration and depth: geometric mean ratio and interval over seeds; ``zero`` where a seed's layer-1
    gradient was exactly 0 (float32 underflow)."""
    rows = []
    for (label, depth), frame in init_ratios(study).groupby(["label", "depth"], sort=False):
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


def init_depth_table(study: Study) -> pd.DataFrame:
    """Per configuration: the ratio at the shallowest, the course's (7) and the deepest depth, and the deepest
    depth up to which layer 1 keeps at least a tenth of the output layer's gradient."""
    table = init_summary(study)
    depths = sorted(table["depth"].unique())
    show = list(dict.fromkeys([depths[0], *(d for d in depths if d == 7), depths[-1]]))
    rows = []
    for label, frame in table.groupby("label", sort=False):
        frame = frame.set_index("depth")
        row = {"configuration": label}
        for d in show:
            r = frame.loc[d]
            row[f"ratio at depth {d}"] = "0 (underflow)" if r["zero"] else ratio_text(r["ratio"], r["low"], r["high"])
        healthy = [d for d in depths if not frame.loc[d, "zero"] and frame.loc[d, "ratio"] >= HEALTHY_RATIO]
        cut = next((d for d in depths if d not in healthy), None)
        row[f"ratio ≥ {HEALTHY_RATIO:g} up to depth"] = (
            f"{depths[-1]} (all)"
            if cut is None
            else (str(max(d for d in healthy if d < cut)) if any(d < cut for d in healthy) else "none")
        )
        rows.append(row)
    return pd.DataFrame(rows)


def init_sentences(study: Study) -> list[str]:
    table = init_summary(study)
    depths = sorted(table["depth"].unique())
    deepest = table[table["depth"] == depths[-1]].set_index("label")
    out = []
    keep = [lab for lab, r in deepest.iterrows() if not r["zero"] and r["ratio"] >= HEALTHY_RATIO]
    lose = [lab for lab, r in deepest.iterrows() if r["zero"] or r["ratio"] < HEALTHY_RATIO]
    if keep:
        out.append(
            f"At {depths[-1]} hidden layers, layer 1 still receives at least a tenth of the output layer's "
            f"gradient with {_join(keep)}."
        )
    if lose:
        zero = [lab for lab in lose if deepest.loc[lab, "zero"]]
        text = f"It receives less with {_join(lose)}"
        if zero:
            text += f"; with {_join(zero)} its gradient is exactly 0 in float32 for at least one seed (underflow)"
        out.append(text + ".")
    exploding = [lab for lab, r in deepest.iterrows() if not r["zero"] and r["ratio"] > 10]
    if exploding:
        out.append(f"With {_join(exploding)} the ratio exceeds 10: the gradient grows towards the input instead.")
    out.append(
        "Adam does not change a gradient, so its network at initialisation is that of sigmoid/SGD with the "
        "same init; Adam acts on the update, which it scales per parameter. Train-some-layers is measured "
        "in its first stage: while the network grows, each new block is trained under a fresh head, "
        "through at most one block."
    )
    return out


# ------------------------------------------------------------------------------------------ figures
@dataclass
class Plot:
    """A finished figure with its alt text (what it shows, for readers who cannot see it)."""

    fig: plt.Figure
    alt: str


def show(plot: Plot, save_as: str | None = None, dpi: int = 90) -> None:
    """Display a figure in the notebook as an embedded PNG with its alt text, optionally save it too, free it."""
    from IPython.display import HTML, display

    from .storage import atomic_path

    buffer = io.BytesIO()
    plot.fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(plot.fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    display(HTML(f'<img alt="{html.escape(plot.alt)}" src="data:image/png;base64,{data}"/>'))
    if save_as:
        with atomic_path(save_as) as tmp:
            tmp.write_bytes(buffer.getvalue())


def _finish(fig, title_text):
    fig.suptitle(title_text, fontsize=13)
    fig.tight_layout()
    return fig


def _list(items) -> str:
    return ", ".join(map(str, items))


def curves(study: Study, labels: list[str], title_text: str) -> Plot:
    """Validation loss and accuracy per epoch, one line per configuration (mean and 95% t-interval over seeds);
    the loss axis is logarithmic when the plotted losses span more than a decade."""
    frame = study.metrics[study.metrics["label"].isin(labels)]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    log_loss = False
    for ax, col, name in zip(
        axes,
        ("val_loss", "val_acc"),
        ("validation loss (cross-entropy, nats)", "validation accuracy (fraction)"),
        strict=True,
    ):
        sns.lineplot(
            data=frame,
            x="epoch",
            y=col,
            hue="label",
            hue_order=labels,
            errorbar=t_interval,
            ax=ax,
            palette=study.palette,
        )
        if col == "val_loss":
            values = frame[col][np.isfinite(frame[col]) & (frame[col] > 0)]
            log_loss = len(values) > 0 and values.max() / values.min() > 10
            if log_loss:
                ax.set_yscale("log")
        if col == "val_acc":  # an accuracy lies in [0, 1]; a band of few seeds may reach beyond
            bottom, top = ax.get_ylim()
            ax.set_ylim(max(bottom, 0.0), min(top, 1.0))
        ax.set(
            xlabel="epoch",
            ylabel=name + (" (log scale)" if col == "val_loss" and log_loss else ""),
            title=name.split(" (")[0],
        )
        ax.legend(fontsize=7, title=None)
    final = frame[frame["epoch"] == frame.groupby("label")["epoch"].transform("max")]
    ends = final.groupby("label")["val_acc"].mean()
    alt = (
        f"Two line charts against epoch for {_list(labels)}: validation loss"
        f"{' on a log scale' if log_loss else ''} (left) and validation accuracy (right), means over seeds with "
        f"95% bands. Final validation accuracy: "
        + "; ".join(f"{lab} {pct(ends[lab])}" for lab in labels if lab in ends)
        + "."
    )
    return Plot(_finish(fig, title_text), alt)


def grad_norm_over_training(study: Study, labels: list[str], title_text: str, max_points: int = 400) -> Plot:
    """Per-layer weight-gradient L2 norm against step, log scale, one panel per configuration (geometric mean
    and interval over seeds)."""
    # Not sharey: with a shared log axis matplotlib stops autoscaling the later panels' x-axes (seen: empty
    # panels); one y-range is set for all at the end instead.
    fig, axes = plt.subplots(1, len(labels), figsize=(5 * len(labels), 4), squeeze=False)
    for ax, label in zip(axes[0], labels, strict=True):
        frame = study.grad_steps[study.grad_steps["label"] == label]
        steps = np.sort(frame["step"].unique())
        frame = frame[frame["step"].isin(steps[:: max(1, len(steps) // max_points)])]
        order = layer_order(frame["layer"])
        sns.lineplot(
            data=frame,
            x="step",
            y="grad_norm",
            hue="layer",
            hue_order=order,
            estimator=geo_mean,
            errorbar=log_interval,
            ax=ax,
            palette="viridis",
            linewidth=1,
        )
        ax.set_yscale("log")
        ax.relim()
        ax.autoscale_view()
        ax.set(xlabel="training step (batch of 512)", ylabel="‖∇W‖₂ (L2 norm of weight gradient)", title=label)
        ax.legend(fontsize=7, title="layer")
    low = min(ax.get_ylim()[0] for ax in axes[0])
    high = max(ax.get_ylim()[1] for ax in axes[0])
    for ax in axes[0]:
        ax.set_ylim(low, high)
    alt = (
        f"Line charts, one per configuration ({_list(labels)}): the L2 norm of each layer's weight gradient "
        "against training step on a log scale, one line per layer from hidden1 (input side) to output."
    )
    return Plot(_finish(fig, title_text), alt)


def layer_order(layers) -> list[str]:
    hidden = sorted((x for x in set(layers) if x.startswith("hidden")), key=lambda x: int(x.removeprefix("hidden")))
    return hidden + (["output"] if "output" in set(layers) else [])


def distance_from_output(layer: str, depth: int) -> int:
    """0 for the output layer, 1 for the last hidden layer, ..., depth for hidden1."""
    return 0 if layer == "output" else depth + 1 - int(layer.removeprefix("hidden"))


def layer_profile_data(study: Study, labels: list[str]) -> pd.DataFrame:
    """Per run and layer: the mean gradient norm over the last stage's epochs, and the layer's distance from the
    output (``below_output``: 0 for the output layer)."""
    frame = study.grad_epochs[study.grad_epochs["label"].isin(labels) & (study.grad_epochs["statistic"] == "grad_norm")]
    frame = frame[frame["stage"] == frame.groupby(RUN_KEYS)["stage"].transform("max")]
    per_run = frame.groupby([*RUN_KEYS, "label", "layer"], as_index=False)["value"].mean()
    per_run["below_output"] = [
        distance_from_output(lay, d) for lay, d in zip(per_run["layer"], per_run["depth"], strict=True)
    ]
    return per_run


def layer_profile(study: Study, labels: list[str], title_text: str) -> Plot:
    """Mean gradient norm of each layer over training, indexed by distance from the output, so networks of
    different depth compare layer for layer (geometric mean and interval over seeds, log scale)."""
    per_run = layer_profile_data(study, labels)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    sns.lineplot(
        data=per_run,
        x="below_output",
        y="value",
        hue="label",
        hue_order=labels,
        estimator=geo_mean,
        errorbar=log_interval,
        marker="o",
        ax=ax,
        palette=study.palette,
    )
    ax.set_yscale("log")
    top = int(per_run["below_output"].max())
    ax.set_xticks(range(top + 1), ["output"] + [f"{k} below" for k in range(1, top + 1)], rotation=30)
    ax.invert_xaxis()  # input side on the left, output on the right, as the network is drawn
    ax.set(
        xlabel="layer, counted from the output (input side on the left)", ylabel="mean ‖∇W‖₂ over training (log scale)"
    )
    ax.legend(fontsize=8, title=None)
    out = per_run.groupby(["label", "below_output"])["value"].apply(geo_mean)
    alt = (
        "Line chart, log scale: the mean weight-gradient norm of each layer over training, layers counted from "
        "the output (right) towards the input (left), one line per configuration. "
        + "; ".join(
            f"{lab}: output {out[(lab, 0)]:.2g}, layer 1 {out[(lab, out[lab].index.max())]:.2g}"
            for lab in labels
            if lab in out.index.get_level_values(0)
        )
        + "."
    )
    return Plot(_finish(fig, title_text), alt)


def log_norm_range(grad_epochs: pd.DataFrame) -> tuple[float, float]:
    """A shared colour range (log10 gradient norm, 1st to 99th percentile) so heatmaps compare at a glance."""
    values = grad_epochs.loc[grad_epochs["statistic"] == "grad_norm", "value"].astype(float)
    values = np.log10(values[values > 0])
    values = values[np.isfinite(values)]
    if values.empty:
        return -8.0, 1.0
    return float(np.floor(values.quantile(0.01))), float(np.ceil(values.quantile(0.99)))


def grad_heatmap(study: Study, label: str, title_text: str | None = None, vrange=None) -> Plot:
    """Layer x epoch heatmap of log10 mean gradient norm (seeds averaged); grey where not finite."""
    frame = study.grad_epochs[(study.grad_epochs["label"] == label) & (study.grad_epochs["statistic"] == "grad_norm")]
    wide = frame.pivot_table(index="layer", columns="epoch", values="value", aggfunc="mean", dropna=False)
    wide = wide.reindex(layer_order(wide.index))
    with np.errstate(divide="ignore", invalid="ignore"):
        logged = np.log10(wide.astype(float)).replace([np.inf, -np.inf], np.nan)
    vmin, vmax = vrange or log_norm_range(study.grad_epochs)
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(wide) + 1.5))
    ax.set_facecolor("lightgrey")
    if logged.notna().any().any():
        sns.heatmap(
            logged,
            ax=ax,
            cmap="magma",
            vmin=vmin,
            vmax=vmax,
            cbar_kws={"label": "log10 ‖∇W‖₂ (mean over the epoch's steps)"},
        )
    ax.set(xlabel="epoch", ylabel="layer (input at the top)", title=title_text or label)
    first, last = logged.iloc[:, 0], logged.iloc[:, -1]
    alt = (
        f"Heatmap for {label}: log10 of each layer's mean weight-gradient norm (rows, input at the top) per "
        f"epoch (columns), colours from {vmin:g} to {vmax:g}. First epoch: output {first.get('output', np.nan):.1f}, "
        f"hidden1 {first.get('hidden1', np.nan):.1f}; last epoch: output {last.get('output', np.nan):.1f}, "
        f"hidden1 {last.get('hidden1', np.nan):.1f} (log10). Grey cells: no finite value (a layer not trained in "
        "that stage, or a diverged run)."
    )
    fig.tight_layout()
    return Plot(fig, alt)


def saturation(study: Study, labels: list[str], title_text: str) -> tuple[Plot | None, list[str]]:
    """Saturated (or dead) unit fraction per hidden layer and epoch, one panel per configuration. A panel that
    would be all zeros is replaced by a sentence; returns (figure or None, sentences)."""
    frame = study.grad_epochs[
        study.grad_epochs["label"].isin(labels) & (study.grad_epochs["statistic"] == "saturation")
    ]
    sentences, drawn = [], []
    for label in labels:
        values = frame.loc[frame["label"] == label, "value"]
        if values.empty:
            sentences.append(f"{label}: no saturation recorded.")
        elif values.max() < 0.0005:
            activation = study.runs.loc[study.runs["label"] == label, "activation"].iloc[0]
            sentences.append(
                f"{label}: no saturated units in any layer or epoch (at most "
                f"{pct(values.max(), digits=2)}; {SATURATION_DEFINITIONS[activation]})."
            )
        else:
            drawn.append(label)
    if not drawn:
        return None, sentences
    fig, axes = plt.subplots(1, len(drawn), figsize=(5 * len(drawn), 3.6), sharey=True, squeeze=False)
    for ax, label in zip(axes[0], drawn, strict=True):
        sub = frame[frame["label"] == label]
        sns.lineplot(
            data=sub,
            x="epoch",
            y="value",
            hue="layer",
            hue_order=layer_order(sub["layer"]),
            errorbar=t_interval,
            ax=ax,
            palette="viridis",
            linewidth=1,
        )
        ax.set(xlabel="epoch", ylabel="saturated units (fraction)", title=label, ylim=(-0.02, 1.02))
        ax.legend(fontsize=7, title="layer")
    means = frame.groupby("label")["value"].mean()
    alt = (
        f"Line charts, one per configuration ({_list(drawn)}): the fraction of saturated (or dead) units per "
        f"hidden layer against epoch, from 0 to 1. Mean over layers and epochs: "
        + "; ".join(f"{lab} {pct(means[lab])}" for lab in drawn)
        + "."
    )
    return Plot(_finish(fig, title_text), alt), sentences


def _error_bars(ax, table: pd.DataFrame, mean: str, low: np.ndarray, high: np.ndarray, palette: dict) -> None:
    y = np.arange(len(table))
    ax.barh(y, table[mean], color=[palette.get(lab, "grey") for lab in table["label"]])
    err = np.vstack([table[mean] - low, high - table[mean]])
    ax.errorbar(table[mean], y, xerr=np.where(np.isfinite(err), err, 0), fmt="none", ecolor="black", capsize=3, lw=1)
    ax.set_yticks(y, table["label"])


def ranked_comparison(study: Study) -> Plot:
    """Test accuracy and gradient ratio per configuration, ranked by accuracy, with 95% t-interval error bars."""
    table = study.summary.sort_values("test_acc", ascending=False).reset_index(drop=True)
    half = table["test_acc_ci"].fillna(0).to_numpy()
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.38 * len(table) + 1.8), sharey=True)
    # An accuracy lies in [0, 1]: its error bars are drawn clipped to that range.
    low, high = np.clip(table["test_acc"] - half, 0, 1), np.clip(table["test_acc"] + half, 0, 1)
    _error_bars(axes[0], table, "test_acc", low, high, study.palette)
    axes[0].invert_yaxis()  # best at the top (the axes share y: invert once)
    axes[0].axvline(CHANCE, color="grey", lw=0.8, ls=":")
    axes[0].set(
        xlabel="test accuracy (fraction; dotted: chance; bars clipped to [0, 1])", ylabel="configuration", xlim=(0, 1)
    )
    ratios = table.assign(test_acc=table["ratio"])
    _error_bars(
        axes[1],
        ratios,
        "test_acc",
        table["ratio_low"].fillna(table["ratio"]).to_numpy(),
        table["ratio_high"].fillna(table["ratio"]).to_numpy(),
        study.palette,
    )
    axes[1].set_xscale("log")
    axes[1].axvline(1.0, color="grey", lw=0.8, ls="--")
    axes[1].set(xlabel="‖∇W hidden1‖ / ‖∇W output‖ (median over steps; log scale)")
    alt = (
        "Two bar charts of every configuration, ranked by mean test accuracy with 95% error bars (left), and "
        "the gradient ratio of layer 1 to the output layer on a log scale (right). From best to worst: "
        + "; ".join(f"{r.label} {pct(r.test_acc, r.test_acc_ci)}" for r in table.itertuples())
        + "."
    )
    return Plot(_finish(fig, "All configurations ranked by test accuracy"), alt)


def lr_depth(study: Study) -> Plot:
    """Test accuracy against depth for each baseline learning rate, with 95% t-intervals over seeds."""
    frame = study.baselines.assign(learning_rate=study.baselines["lr"].map(lambda lr: f"{lr:g}"))
    order = [f"{lr:g}" for lr in sorted(study.baselines["lr"].unique())]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    sns.lineplot(
        data=frame,
        x="depth",
        y="test_acc",
        hue="learning_rate",
        hue_order=order,
        marker="o",
        errorbar=t_interval,
        err_style="bars",
        ax=ax,
        palette="rocket_r",
    )
    ax.axhline(CHANCE, color="grey", ls="--", lw=0.8, label="chance (10 classes)")
    ax.set(
        xlabel="hidden layers", ylabel="test accuracy (fraction)", xticks=sorted(frame["depth"].unique()), ylim=(0, 1)
    )
    ax.legend(title="SGD learning rate", fontsize=8)
    table = summary_table(study.baselines)
    alt = (
        "Line chart: test accuracy of the sigmoid/SGD baseline against the number of hidden layers, one line "
        "per learning rate, with 95% error bars; dashed line at chance (0.1). "
        + "; ".join(
            f"lr {r.lr:g}, {r.depth} layers: {pct(r.test_acc, r.test_acc_ci)}"
            for r in table.sort_values(["lr", "depth"]).itertuples()
        )
        + "."
    )
    return Plot(_finish(fig, "Is it the learning rate? Baselines' test accuracy against depth"), alt)


def init_flow_figure(study: Study) -> Plot:
    """Layer-1/output gradient ratio at initialisation against depth, one line per configuration (geometric mean
    and 95% band over seeds, log scale). A depth where a seed's gradient underflowed to 0 gets a marker at the
    bottom."""
    table = init_summary(study)
    labels = list(dict.fromkeys(table["label"]))
    colours = palette_for(labels)
    colours["baseline (sigmoid)"] = (0, 0, 0)
    positive = table.loc[table["ratio"] > 0, "low"].replace(0, np.nan).dropna()
    floor = 10 ** np.floor(np.log10(positive.min()) - 1) if len(positive) else 1e-30
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for label in labels:
        frame = table[table["label"] == label]
        ok = frame[~frame["zero"]]
        style = {"lw": 2.5} if label.startswith("baseline") else {"lw": 1.3}
        ax.plot(ok["depth"], ok["ratio"], marker="o", ms=3, color=colours[label], label=label, **style)
        ax.fill_between(ok["depth"], ok["low"], ok["high"], color=colours[label], alpha=0.15, lw=0)
        zero = frame[frame["zero"]]
        if len(zero):
            ax.scatter(zero["depth"], [floor] * len(zero), marker="v", s=40, color=colours[label], zorder=5)
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor / 2)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.axhspan(HEALTHY_RATIO, 10, color="green", alpha=0.05, lw=0)
    ax.set(xlabel="hidden layers", ylabel="‖∇W hidden1‖ / ‖∇W output‖ at initialisation (log scale)")
    handles, names = ax.get_legend_handles_labels()
    if table["zero"].any():
        handles.append(plt.Line2D([], [], marker="v", color="grey", ls=""))
        names.append("layer 1's gradient exactly 0 (float32 underflow)")
    ax.legend(handles, names, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    deepest = table[table["depth"] == table["depth"].max()].set_index("label")
    alt = (
        f"Line chart, log scale: the ratio of layer 1's to the output layer's gradient norm at initialisation "
        f"against depth ({table['depth'].min()} to {table['depth'].max()} hidden layers), one line per "
        "configuration, shaded 0.1 to 10 band marking healthy flow. At the deepest depth: "
        + "; ".join(f"{lab} {'0 (underflow)' if r['zero'] else f'{r.ratio:.2g}'}" for lab, r in deepest.iterrows())
        + "."
    )
    return Plot(_finish(fig, "Gradient flow at initialisation: how deep each fix keeps the gradient alive"), alt)


def cost(study: Study) -> Plot:
    runs = study.runs
    labels = list(dict.fromkeys(runs["label"]))
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.38 * len(labels) + 1.8), sharey=True)
    for ax, col, xlabel in (
        (axes[0], "wall_s", "wall time of the job (s)"),
        (axes[1], "max_rss_mb", "peak resident memory (MB)"),
    ):
        sns.barplot(
            data=runs,
            y="label",
            x=col,
            order=labels,
            hue="label",
            palette=study.palette,
            errorbar=t_interval,
            ax=ax,
            legend=False,
        )
        ax.set(xlabel=xlabel, ylabel="configuration" if ax is axes[0] else "")
    alt = (
        f"Two bar charts per configuration: the training job's wall time (left; total over all jobs "
        f"{runs['wall_s'].sum() / 60:.1f} min) and its peak resident memory (right; at most "
        f"{runs['max_rss_mb'].max():.0f} MB)."
    )
    return Plot(_finish(fig, "Cost of each training job (Snakemake benchmark)"), alt)


# ------------------------------------------------------------------------------------ notebook glue
def heading(text: str, anchor: str, level: int = 3) -> None:
    from IPython.display import HTML, display

    display(HTML(f'<h{level} id="{anchor}">{html.escape(text)}</h{level}>'))


def markdown(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))


def bullets(lines: list[str]) -> None:
    if lines:
        markdown("\n".join("- " + line for line in lines))


def contents(study: Study) -> None:
    """The table of contents, with a line per fix."""
    from IPython.display import HTML, display

    toc = [
        ("setup", "1. Setup"),
        ("problem", "2. The problem: deep sigmoid networks stop learning"),
        ("init-flow", "3. Gradient flow at initialisation"),
        ("fixes", "4. The fixes"),
    ]
    toc += [(f"fix-{g}", "&nbsp;&nbsp;&nbsp;" + html.escape(title(g))) for g in study.fix_groups]
    toc += [("comparison", "5. Comparison"), ("cost", "6. Cost"), ("conclusions", "7. Conclusions")]
    display(
        HTML(
            "<h2>Contents</h2><ul style='list-style:none'>"
            + "".join(f'<li><a href="#{a}">{t}</a></li>' for a, t in toc)
            + "</ul>"
        )
    )


def setup_text(study: Study) -> str:
    runs = study.runs
    env = runs.iloc[0]
    return (
        f"Study **{env['study']}**: {len(runs)} runs ({runs['label'].nunique()} configurations). Device: "
        f"**{', '.join(runs['device'].unique())}**, torch threads per job: "
        f"**{', '.join(map(str, runs['threads'].unique()))}**, torch **{env['torch']}**, Python "
        f"**{env['python']}**. Data: Fashion-MNIST, pixels scaled to [0, 1]."
    )


def fix_section(study: Study, group: str, vrange) -> None:
    """One fix's subsection: sentences, validation curves and gradient profile against the course baseline,
    and a heatmap per variant."""
    from IPython.display import display

    heading(title(group), f"fix-{group}")
    bullets(fix_sentences(study, group))
    variants = study.config.get("fixes", {}).get(group, {}).get("variants", {})
    if any(v.get("init", "default") != "default" for v in variants.values()):
        display(
            init_table(study.config, group)
            .style.hide(axis="index")
            .set_caption(
                "Standard deviation of the initial weights per layer (PyTorch's default is uniform on ±1/√fan_in)"
            )
        )
    runs = study.runs[study.runs["group"] == group]
    for depth in sorted(runs["depth"].unique()):
        base = study.course_baselines
        labels = list(dict.fromkeys(base.loc[base["depth"] == depth, "label"]))
        labels += list(dict.fromkeys(runs.loc[runs["depth"] == depth, "label"]))
        show(curves(study, labels, f"{title(group)}, depth {depth}: validation curves"))
        show(layer_profile(study, labels, f"{title(group)}, depth {depth}: gradient norm per layer"))
        for label in dict.fromkeys(runs.loc[runs["depth"] == depth, "label"]):
            show(grad_heatmap(study, label, vrange=vrange))


# ------------------------------------------------------------------------------------------ render
def render(
    template: str,
    executed: str,
    html_path: str,
    tables: dict,
    config: dict | None = None,
    show_code: bool = False,
    figures: dict | None = None,
) -> None:
    """Execute the notebook with papermill (kernel python3), keep it at ``executed``, write ``html_path``.

    ``figures`` maps figure names (``gradient_profile``, ``comparison``) to PNG paths the notebook also
    writes, for Snakemake's own ``--report``.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from .storage import atomic_path

    Path(executed).parent.mkdir(parents=True, exist_ok=True)
    # The kernel imports this very copy of the library, installed or not.
    src = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    papermill.execute_notebook(
        template,
        executed,
        kernel_name="python3",
        progress_bar=False,
        parameters={"tables": tables, "config": config or {}, "figures": figures or {}},
        cwd=str(Path(template).resolve().parent),
    )
    exporter = HTMLExporter(
        template_name="lab",
        template_file=str(Path(template).parent / "offline.html.j2"),
        exclude_input=not show_code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    with atomic_path(html_path) as tmp:
        tmp.write_text(body)
