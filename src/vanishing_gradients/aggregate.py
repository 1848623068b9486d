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
        "lr": spec["lr"],
        "epochs": spec["epochs"],
    }


def aggregate(summary_paths: list[str], outputs: dict, benchmark_paths: list[str] | None = None) -> None:
    """Concatenate every run into tidy tables keyed by the run identity (``layout.RUN_KEYS``).

    ``benchmark_paths``, if given, are the runs' Snakemake ``benchmark:`` files in the same order; their
    wall time and peak memory join the runs table as the cost of each run.
    """
    runs, tables = [], {name: [] for name in RUN_TABLES}
    benchmark_paths = benchmark_paths or [None] * len(summary_paths)
    for path, bench in zip(map(Path, summary_paths), benchmark_paths, strict=True):
        row = run_row(json.loads(path.read_text()))
        if bench is not None:
            row.update(read_benchmark(bench))
        runs.append(row)
        keys = {k: row[k] for k in RUN_KEYS}
        for name in RUN_TABLES:
            tables[name].append(read_table(path.parent / RUN_OUTPUTS[name]).assign(**keys))

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
