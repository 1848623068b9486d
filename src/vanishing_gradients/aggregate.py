"""Every run's outputs concatenated into the tidy tables the report reads (torch-free)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from .layout import RUN_KEYS, RUN_OUTPUTS
from .storage import write_table

RUN_TABLES = ("metrics", "grad_steps", "grad_epochs")  # per-run tables, concatenated with the run's keys


def read_table(path) -> pd.DataFrame:
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


def run_row(summary: dict) -> dict:
    """One row of the runs table: the run's keys (from its summary, not its path), results and main settings."""
    summary = dict(summary)
    keys, spec = summary.pop("run"), summary.pop("spec")
    return {
        **keys,
        **summary,
        "activation": spec["model"]["activation"],
        "init": spec["model"]["init"],
        "optimizer": spec["optimizer"],
        "epochs": spec["epochs"],
    }


def aggregate(final: list[str], screen: list[str], outputs: dict, benchmarks: dict | None = None) -> None:
    """Concatenate every run into tidy tables keyed by the run identity (``layout.RUN_KEYS``).

    ``final`` and ``screen``: the summary.json paths of the full-budget and the screening runs. The runs and
    metrics tables hold both (told apart by ``phase``); the gradient tables only the final runs, which the
    report's gradient figures are drawn from. ``benchmarks``, if given, maps each summary path to its
    Snakemake ``benchmark:`` file: the job's wall time and peak memory join the runs table as its cost.
    """
    runs, tables = [], {name: [] for name in RUN_TABLES}
    for path, phase_tables in [(p, RUN_TABLES) for p in final] + [(p, ("metrics",)) for p in screen]:
        row = run_row(json.loads(Path(path).read_text()))
        if benchmarks:
            row.update(read_benchmark(benchmarks[path]))
        runs.append(row)
        keys = {k: row[k] for k in RUN_KEYS}
        for name in phase_tables:
            tables[name].append(read_table(Path(path).parent / RUN_OUTPUTS[name]).assign(**keys))

    def ordered(frames):
        frame = pd.concat(frames, ignore_index=True)
        return frame[RUN_KEYS + [c for c in frame.columns if c not in RUN_KEYS]]

    write_table(outputs["runs"], ordered([pd.DataFrame(runs)]))
    for name in RUN_TABLES:
        write_table(outputs[name], ordered(tables[name]))


def read_benchmark(path) -> dict:
    """Wall time (s) and peak resident memory (MB) from a Snakemake ``benchmark:`` TSV (last repeat)."""
    frame = pd.read_csv(path, sep="\t").replace("-", math.nan)
    last = frame.iloc[-1]
    return {"wall_s": float(last["s"]), "max_rss_mb": float(last["max_rss"])}
