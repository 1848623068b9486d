"""The Study model: the aggregate tables of one study, loaded once, with the labels, colours and cached
summaries every section uses (torch-free, no IPython)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd
import seaborn as sns

from ..aggregate import read_table
from ..layout import RUN_KEYS
from ..study import BASELINE
from . import stats


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


def layer_order(layers) -> list[str]:
    """hidden1, hidden2, ..., output."""
    hidden = sorted((x for x in set(layers) if x.startswith("hidden")), key=lambda x: int(x.removeprefix("hidden")))
    return hidden + (["output"] if "output" in set(layers) else [])


def distance_from_output(layer: str, depth: int) -> int:
    """0 for the output layer, 1 for the last hidden layer, ..., depth for hidden1."""
    return 0 if layer == "output" else depth + 1 - int(layer.removeprefix("hidden"))


def unique(values) -> list:
    """The distinct values in their first order."""
    return list(dict.fromkeys(values))


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
        return [g for g in unique(self.runs["group"]) if g != BASELINE]

    @property
    def course_lr(self) -> float:
        """The learning rate of the course's baseline: training.lr if it is in the grid, else the smallest."""
        lrs = sorted(self.baselines["lr"].unique())
        lr = self.config.get("training", {}).get("lr")
        return lr if lr in lrs else lrs[0]

    @property
    def course_baselines(self) -> pd.DataFrame:
        return self.baselines[self.baselines["lr"] == self.course_lr]

    def course_baseline_labels(self, depth: int | None = None) -> list[str]:
        """The course baselines' labels by depth (only ``depth``'s, if given)."""
        runs = self.course_baselines.sort_values("depth")
        return unique(runs.loc[runs["depth"] == depth, "label"] if depth is not None else runs["label"])

    def labels(self, group: str, depth: int) -> list[str]:
        """The configurations of ``group`` at ``depth``, in the runs' order."""
        runs = self.runs
        return unique(runs.loc[(runs["group"] == group) & (runs["depth"] == depth), "label"])

    def depths(self, group: str) -> list[int]:
        return sorted(self.runs.loc[self.runs["group"] == group, "depth"].unique())

    def activation(self, label: str) -> str:
        return self.runs.loc[self.runs["label"] == label, "activation"].iloc[0]

    def epoch_stat(self, statistic: str, labels: list[str] | None = None) -> pd.DataFrame:
        """The per-epoch rows of one statistic of grad_epochs (grad_norm, saturation, ...), of ``labels`` if given."""
        frame = self.grad_epochs
        rows = frame["statistic"] == statistic
        if labels is not None:
            rows &= frame["label"].isin(labels)
        return frame[rows]

    @cached_property
    def palette(self) -> dict:
        return palette_for(self.runs["label"])

    @cached_property
    def run_saturation(self) -> pd.Series:
        """Per run: mean over the last stage's epochs and hidden layers of the saturated (dead) fraction."""
        frame = stats.last_stage(self.epoch_stat("saturation"))
        return frame.groupby(RUN_KEYS)["value"].mean().rename("saturation")

    @cached_property
    def summary(self) -> pd.DataFrame:
        """One row per configuration: ``stats.summary_table`` of the runs with their saturation."""
        return stats.summary_table(self.runs.join(self.run_saturation, on=RUN_KEYS))

    @property
    def baseline_summary(self) -> pd.DataFrame:
        return self.summary[self.summary["group"] == BASELINE]

    @property
    def course_baseline_summary(self) -> pd.DataFrame:
        return self.baseline_summary[self.baseline_summary["lr"] == self.course_lr]

    @cached_property
    def init_summary(self) -> pd.DataFrame:
        """Per configuration and depth at initialisation: ``stats.init_summary``."""
        return stats.init_summary(self.init_flow)


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
