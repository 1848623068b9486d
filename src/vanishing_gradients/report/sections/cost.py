"""Section "Cost": the budget each configuration trained (steps, epochs, compute and time), and that no run
stopped while at chance."""

from __future__ import annotations

import pandas as pd

from ..model import ReportData

BUDGET_CAPTION = (
    "What each configuration trained (means over its final runs): optimiser steps against the budget, epochs, runs "
    "stopped early (only after leaving chance) and runs that never left chance; compute (6 x parameters x samples, an "
    "upper bound for train-some-layers) and its time at the machine's measured matmul rate (FLOP bound) against the "
    "measured training time and the job's start-up"
)


def budget_sentences(study: ReportData) -> list[str]:
    """What budget the runs had, and that none stopped at chance."""
    runs = study.fair_runs
    if runs.empty or "budget_steps" not in runs:
        return ["The runs of this study do not record their steps (made by an earlier version)."]
    budgets = sorted(runs["budget_steps"].unique())
    same = len(budgets) == 1
    out = [
        (f"Every final run had the same budget: {int(budgets[0]):,} optimiser steps" if same else
         f"Budgets differ between configurations: {', '.join(f'{int(b):,}' for b in budgets)} optimiser steps")
        + f" ({int(runs['budget_epochs'].max())} epochs{_grown(study) if same else ''}). "
        "No run is stopped while at chance: patience counts only once validation accuracy has passed "
        f"{(study.config.get('training') or {}).get('patience_after', 2.0):g} times chance."
    ]  # fmt: skip
    never = runs[runs["left_chance_epoch"].isna()]
    if len(never):
        by = never.groupby("label").size()
        out.append(
            "Never left chance within the whole budget: "
            + ", ".join(f"{label} ({n} of {int((runs['label'] == label).sum())} seeds)" for label, n in by.items())
            + "."
        )
    return out


def _grown(study: ReportData) -> str:
    """', shared by the stages of a grown network' where one was trained in stages."""
    staged = len(study.metrics) and study.metrics["stage"].max() > 1
    return ", shared by the stages of a grown network" if staged else ""


def cost_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Wall time and peak memory of every training job, from Snakemake's benchmark files, with readable columns."""
    columns = {
        "group": "group",
        "variant": "variant",
        "depth": "depth",
        "seed": "seed",
        "epochs_run": "epochs",
        "wall_s": "job wall time (s)",
        "max_rss_mb": "peak memory (MB)",
        "train_seconds": "training (s)",
        "device": "device",
    }
    table = runs[[c for c in columns if c in runs]].copy()
    table["s per epoch"] = table["train_seconds"] / table["epochs_run"]
    table = table.sort_values(["group", "variant", "depth", "seed"]).reset_index(drop=True)
    return table.rename(columns=columns)
