"""The report's data: the aggregate tables of one study, loaded once, with the labels, colours and cached
summaries every section uses (torch-free, no IPython)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import seaborn as sns

from .. import datasets, registry
from .. import phase as phase_diagram
from ..layout import RUN_KEYS, optional_tables, report_tables
from ..selection import run_score
from ..storage import read_table
from ..study import BASELINE, FINAL, SCREEN
from ..study import course_lr as course_rate
from . import stats


def run_label(group: str, variant: str, depth: int) -> str:
    """A short name per configuration (seeds share it): 'baseline d7', 'normalization/batchnorm d7'."""
    return f"baseline d{depth}" if group == BASELINE else f"{group}/{variant} d{depth}"


def flow_label(group: str, variant: str) -> str:
    """A configuration in the initialisation figures (depth is their x-axis): 'baseline', 'normalization/batchnorm'."""
    return "baseline (sigmoid)" if group == BASELINE else f"{group}/{variant}"


def palette_for(labels) -> dict:
    """One colour per label, in the order given, the same in every figure (tab20, then Dark2 and Set1)."""
    # tab20's strong colours first, then its light ones: neighbours in the list are not shades of one hue
    tab20 = sns.color_palette("tab20")
    colours = tab20[0::2] + tab20[1::2] + sns.color_palette("Dark2") + sns.color_palette("Set1")
    return {label: colours[i % len(colours)] for i, label in enumerate(dict.fromkeys(labels))}


def flow_palette(labels) -> dict:
    """``palette_for`` of configuration labels (``flow_label``), the baseline in black in every figure by depth."""
    colours = palette_for(labels)
    colours[flow_label(BASELINE, "")] = (0, 0, 0)
    return colours


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
class ReportData:
    """The aggregate tables of one study with the labels, colours and summaries every section uses. Not the public
    API's ``vanishing_gradients.Study`` (every run's tables as they are): this is the report's view of them.

    ``fair_runs`` (and the metrics and gradient tables) are the fair comparison: every configuration at its chosen
    learning rate with the study's seeds. ``all_runs`` holds every run of both phases, with its roles.
    """

    fair_runs: pd.DataFrame
    metrics: pd.DataFrame
    grad_steps: pd.DataFrame
    grad_epochs: pd.DataFrame
    init_flow: pd.DataFrame
    config: dict = field(default_factory=dict)
    all_runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    selection: pd.DataFrame = field(default_factory=pd.DataFrame)
    # every table of registry.report() by name, as loaded (the runs and init_flow with their labels; every run's
    # rows, where the fields above hold the fair runs')
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    cache: dict = field(default_factory=dict, repr=False)  # ``memo``'s

    @property
    def dataset(self) -> datasets.Dataset:
        """The dataset the study trained on (``data.name`` of its config)."""
        return datasets.of(self.config)

    @property
    def chance(self) -> float:
        """The accuracy of guessing one class of the dataset's balanced classes."""
        return 1 / self.dataset.num_classes

    @property
    def screen(self) -> pd.DataFrame:
        """The learning-rate screen: every configuration at every rate of its grid, short budget."""
        return self.all_runs[self.all_runs["phase"] == SCREEN]

    @property
    def course_runs(self) -> pd.DataFrame:
        """Full-budget runs at the course's own rate with ``selection.course_seeds``: the exercise's numbers."""
        return self.all_runs[self.all_runs["course"]]

    @property
    def checked(self) -> pd.DataFrame:
        """Full-budget runs of ``selection.check`` at every rate of their grid, with the screen's seeds."""
        return self.all_runs[self.all_runs["check"]]

    @property
    def seeds(self) -> list:
        return sorted(self.fair_runs["seed"].unique())

    @property
    def baselines(self) -> pd.DataFrame:
        return self.fair_runs[self.fair_runs["group"] == BASELINE]

    @property
    def fix_groups(self) -> list[str]:
        return [g for g in unique(self.fair_runs["group"]) if g != BASELINE]

    @property
    def depth_sweep(self) -> bool:
        """True if some fix variant is trained at three depths or more (the baselines' depths are the problem's
        section): the report then leads with depth."""
        fixes = self.fair_runs[self.fair_runs["group"] != BASELINE]
        return bool(len(fixes)) and fixes.groupby(["group", "variant"])["depth"].nunique().max() >= 3

    @property
    def phase(self) -> pd.DataFrame | None:
        """The phase diagram's runs (``phase.TABLE``), or None where the study trains none (``phase: null``): the
        report then has no section on it."""
        return self.tables.get(phase_diagram.TABLE.name)

    def baseline_labels(self, depth: int | None = None) -> list[str]:
        """The baselines' labels by depth (only ``depth``'s, if given), each at its chosen rate."""
        runs = self.baselines.sort_values("depth")
        return unique(runs.loc[runs["depth"] == depth, "label"] if depth is not None else runs["label"])

    def labels(self, group: str, depth: int) -> list[str]:
        """The configurations of ``group`` at ``depth``, in the runs' order."""
        runs = self.fair_runs
        return unique(runs.loc[(runs["group"] == group) & (runs["depth"] == depth), "label"])

    def depths(self, group: str) -> list[int]:
        return sorted(self.fair_runs.loc[self.fair_runs["group"] == group, "depth"].unique())

    def activation(self, label: str) -> str:
        return self.fair_runs.loc[self.fair_runs["label"] == label, "activation"].iloc[0]

    def epoch_stat(self, statistic: str, labels: list[str] | None = None) -> pd.DataFrame:
        """The per-epoch rows of one statistic of grad_epochs (grad_norm, saturation, ...), of ``labels`` if given."""
        frame = self.grad_epochs
        rows = frame["statistic"] == statistic
        if labels is not None:
            rows &= frame["label"].isin(labels)
        return frame[rows]

    @cached_property
    def palette(self) -> dict:
        return palette_for(self.fair_runs["label"])

    @cached_property
    def run_saturation(self) -> pd.Series:
        """Per run: mean over the last stage's epochs and hidden layers of the saturated (dead) fraction."""
        frame = stats.last_stage(self.epoch_stat("saturation"))
        return frame.groupby(RUN_KEYS)["value"].mean().rename("saturation")

    @cached_property
    def summary(self) -> pd.DataFrame:
        """One row per configuration: ``stats.summary_table`` of the runs with their saturation."""
        return stats.summary_table(self.fair_runs.join(self.run_saturation, on=RUN_KEYS))

    @property
    def baseline_summary(self) -> pd.DataFrame:
        return self.summary[self.summary["group"] == BASELINE]

    @cached_property
    def init_summary(self) -> pd.DataFrame:
        """Per configuration and depth at initialisation: ``stats.init_summary``."""
        return stats.init_summary(self.init_flow)

    def memo(self, key: str, compute):
        """An expensive derivation, computed once per study by the module that defines it (``compute()``), so
        that every sentence, table and figure reading it sees the same numbers."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


def _course_rate(config: dict, group: str, variant: str) -> float:
    """The course's rate of a configuration; NaN where the config does not hold it (runs of a removed fix)."""
    try:
        return course_rate(config, group, variant)
    except (KeyError, TypeError):
        return math.nan


def roles(runs: pd.DataFrame, selection: pd.DataFrame, config: dict) -> pd.DataFrame:
    """``runs`` with the rate chosen for each configuration and what each final run is for: ``fair`` (the chosen
    rate, the study's seeds), ``course`` (the course's rate, ``selection.course_seeds``), ``check`` (a
    configuration of ``selection.check``, the screen's seeds)."""
    chosen = selection.set_index(stats.CONFIG_KEYS)["lr"].rename("chosen_lr")
    runs = runs.join(chosen, on=stats.CONFIG_KEYS)
    screen = config.get("selection", {})
    final = runs["phase"] == FINAL
    course_lr = [_course_rate(config, g, v) for g, v in zip(runs["group"], runs["variant"], strict=True)]
    checked = {(c["group"], c["variant"], int(c["depth"])) for c in screen.get("check", [])}
    in_check = [key in checked for key in zip(runs["group"], runs["variant"], runs["depth"], strict=True)]
    seeds = config.get("seeds", sorted(runs["seed"].unique()))
    return runs.assign(
        course_lr=course_lr,
        fair=final & (runs["lr"] == runs["chosen_lr"]) & runs["seed"].isin(seeds),
        course=final & (runs["lr"] == course_lr) & runs["seed"].isin(screen.get("course_seeds", [])),
        check=final & pd.Series(in_check, index=runs.index) & runs["seed"].isin(screen.get("seeds", [])[:1]),
    )


def with_scores(runs: pd.DataFrame, metrics: pd.DataFrame, config: dict) -> pd.DataFrame:
    """``runs`` with each run's ``score``: the screen's statistic (``selection.run_score``: its mean validation
    accuracy over its last ``selection.score_epochs`` epochs, chance where it diverged), for every run."""
    epochs = (config.get("selection") or {}).get("score_epochs", 3)
    chance = 1 / datasets.of(config).num_classes
    by_run = dict(iter(metrics.groupby(RUN_KEYS, sort=False)))
    empty = metrics.iloc[:0]
    scores = [
        run_score(by_run.get(tuple(key), empty), bool(diverged), epochs, chance)
        for key, diverged in zip(
            runs[RUN_KEYS].itertuples(index=False),
            runs.get("diverged", pd.Series(False, index=runs.index)),
            strict=True,
        )
    ]
    return runs.assign(score=scores)


def load(tables: dict | str, config: dict | None = None) -> ReportData:
    """The tables of ``registry.report()`` (paths by name, or a study's results folder holding them) as a ReportData
    of the fair comparison; ``ReportData.tables`` holds each as it was loaded. Of ``registry.OPTIONAL``, those given
    (in a folder: those there), the phase table read back checked (``phase.read_table``)."""
    if isinstance(tables, str):
        there = {name: path for name, path in optional_tables(tables).items() if Path(path).exists()}
        paths = {**report_tables(tables), **there}
    else:
        paths = tables
    missing = [name for name in registry.names(registry.report()) if name not in paths]
    if missing:
        raise KeyError(f"the report needs the tables {missing} (registry.report()) too")
    readers = {phase_diagram.TABLE.name: phase_diagram.read_table}
    read = {name: readers.get(name, read_table)(path) for name, path in paths.items()}
    frames = dict(read)
    selection = frames.pop("selection")
    every = frames["runs"]
    every["label"] = [run_label(*key) for key in zip(every["group"], every["variant"], every["depth"], strict=True)]
    every = with_scores(roles(every, selection, config or {}), read["metrics"], config or {})
    runs = every[every["fair"]].reset_index(drop=True)
    for name in ("metrics", "grad_steps", "grad_epochs"):  # the fair runs' records only
        frames[name] = frames[name].merge(runs[[*RUN_KEYS, "label"]], on=RUN_KEYS, how="inner")
    flow = frames["init_flow"]
    flow["label"] = [flow_label(g, v) for g, v in zip(flow["group"], flow["variant"], strict=True)]
    return ReportData(
        runs,
        frames["metrics"],
        frames["grad_steps"],
        frames["grad_epochs"],
        flow,
        config or {},
        every,
        selection,
        read,
    )
