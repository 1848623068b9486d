"""Each configuration's learning rate, chosen on validation from the screening runs (torch-free).

Every configuration (group, variant, depth) is screened at each rate of its optimiser's grid
(``selection.learning_rates``), with the screen's seeds and its short budget. The chosen rate is the one with
the best validation accuracy, averaged over the screen's seeds: the test split is never looked at. Of rates
that tie, the smallest is chosen. The table says where the chosen rate sits in the grid: a rate at the edge
of the grid may not be the best one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .storage import write_table

CONFIG_KEYS = ["group", "variant", "depth"]
COLUMNS = [*CONFIG_KEYS, "optimizer", "lr", "screen_val_acc", "screen_seeds", "grid", "at_edge"]


def screen_table(summaries: list[dict]) -> pd.DataFrame:
    """One row per screening run: its configuration, rate, seed and best validation accuracy."""
    rows = [
        {
            **{k: s["run"][k] for k in [*CONFIG_KEYS, "lr", "seed"]},
            "optimizer": s["spec"]["optimizer"],
            "best_val_acc": s["best_val_acc"],
        }
        for s in summaries
    ]
    return pd.DataFrame(rows, columns=[*CONFIG_KEYS, "lr", "seed", "optimizer", "best_val_acc"])


def choose(screen: pd.DataFrame) -> pd.DataFrame:
    """The chosen rate of every configuration (``COLUMNS``), from ``screen_table``'s rows."""
    out = []
    for keys, runs in screen.groupby(CONFIG_KEYS, sort=False):
        by_rate = runs.groupby("lr")["best_val_acc"].mean().sort_index()  # NaN (a diverged run) never wins
        rates = list(by_rate.index)
        best = by_rate.fillna(-1.0)
        lr = float(best.idxmax())  # the first (smallest) of equal maxima
        out.append(
            {
                **dict(zip(CONFIG_KEYS, keys, strict=True)),
                "optimizer": runs["optimizer"].iloc[0],
                "lr": lr,
                "screen_val_acc": float(by_rate[lr]),
                "screen_seeds": int(runs["seed"].nunique()),
                "grid": json.dumps(rates),
                "at_edge": len(rates) > 1 and lr in (rates[0], rates[-1]),
            }
        )
    return pd.DataFrame(out, columns=COLUMNS)


def fixed(rows: list[dict]) -> pd.DataFrame:
    """Configurations whose grid holds one rate: that rate, without a screen."""
    table = pd.DataFrame(rows, columns=[*CONFIG_KEYS, "optimizer", "lr"])
    return table.assign(
        screen_val_acc=float("nan"), screen_seeds=0, grid=[json.dumps([lr]) for lr in table["lr"]], at_edge=False
    )[COLUMNS]


def select(summary_paths: list[str], out_path: str, fixed_rates: list[dict] = ()) -> pd.DataFrame:
    """Read the screening runs' summaries, choose every configuration's rate, write the table (atomically).

    ``fixed_rates``: the configurations that need no screen (``study.fixed_rates``), taken as they are.
    """
    summaries = [json.loads(Path(p).read_text()) for p in summary_paths]
    parts = [t for t in (choose(screen_table(summaries)), fixed(list(fixed_rates))) if len(t)]
    chosen = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    write_table(out_path, chosen)
    return chosen


def read(path) -> dict[tuple[str, str, int], float]:
    """The chosen rates, by configuration: ``{(group, variant, depth): lr}``."""
    table = pd.read_csv(path)
    return {(r.group, r.variant, int(r.depth)): float(r.lr) for r in table.itertuples()}
