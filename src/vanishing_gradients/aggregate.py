"""Every run's outputs concatenated into the tidy tables the report reads (torch-free)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from . import registry
from .layout import RUN_KEYS, read_summary
from .storage import read_table, write_table


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
        "batch_size": spec.get("batch_size"),
    }


def aggregate(final: list[str], screen: list[str], outputs: dict, benchmarks: dict | None = None) -> None:
    """Concatenate every run into tidy tables keyed by the run identity (``layout.RUN_KEYS``): the tables of
    ``registry.aggregate()``, written to ``outputs`` (paths by name).

    ``final`` and ``screen``: the summary.json paths of the full-budget and the screening runs. The runs table
    holds both (told apart by ``phase``), and so does each run table marked ``screen`` (metrics); the others
    (the gradient tables) only the final runs, which the report's gradient figures are drawn from.
    ``benchmarks``, if given, maps each summary path to its Snakemake ``benchmark:`` file: the job's wall time
    and peak memory join the runs table as its cost.
    """
    runs, tables = [], {t.name: [] for t in registry.run_tables()}
    phases = [(p, registry.run_tables()) for p in final] + [(p, registry.run_tables(screen=True)) for p in screen]
    for path, phase_tables in phases:
        row = run_row(read_summary(path, required=("spec",)))  # checked against the run its path belongs to
        if benchmarks:
            row.update(read_benchmark(benchmarks[path]))
        runs.append(row)
        keys = {k: row[k] for k in RUN_KEYS}
        for table in phase_tables:
            tables[table.name].append(read_table(Path(path).parent / table.file).assign(**keys))

    def ordered(frames):
        frame = pd.concat(frames, ignore_index=True)
        return frame[RUN_KEYS + [c for c in frame.columns if c not in RUN_KEYS]]

    write_table(outputs[registry.RUNS.name], ordered([pd.DataFrame(runs)]))
    for name, frames in tables.items():
        write_table(outputs[name], ordered(frames))


def read_benchmark(path) -> dict:
    """Wall time (s) and peak resident memory (MB) from a Snakemake ``benchmark:`` TSV (last repeat)."""
    frame = pd.read_csv(path, sep="\t").replace("-", math.nan)
    last = frame.iloc[-1]
    return {"wall_s": float(last["s"]), "max_rss_mb": float(last["max_rss"])}
