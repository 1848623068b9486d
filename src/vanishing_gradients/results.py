"""Run outputs (tidy tables, summary, weights) and their aggregation into the tables the report reads."""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from .storage import atomic_path, write_json, write_table
from .specs import TrainSpec
from .training import RunLog

RUN_KEYS = ["group", "variant", "depth", "seed"]


def grad_ratio(grad_steps: pd.DataFrame) -> float:
    """Headline vanishing figure: median over steps of ||grad W_hidden1|| / ||grad W_output||.

    Taken over the last stage only (for train-some-layers that is the full, unfrozen network).
    """
    if grad_steps.empty:
        return float("nan")
    last = grad_steps[grad_steps["stage"] == grad_steps["stage"].max()]
    wide = last.pivot_table(index="step", columns="layer", values="grad_norm")
    if "hidden1" not in wide or "output" not in wide:
        return float("nan")
    return float((wide["hidden1"] / wide["output"]).median())


def save_run(run: RunLog, model, spec: TrainSpec, outputs: dict, device: str, threads: int) -> dict:
    """Write the five run outputs atomically; return the summary."""
    metrics = pd.DataFrame(run.metrics)
    grad_steps = run.grad_steps_frame()
    grad_epochs = run.grad_epochs_frame()
    write_table(outputs["metrics"], metrics)
    write_table(outputs["grad_steps"], grad_steps)
    write_table(outputs["grad_epochs"], grad_epochs)
    with atomic_path(outputs["model"]) as tmp:
        torch.save(model.state_dict(), tmp)
    summary = {
        "test_loss": run.test_loss,
        "test_acc": run.test_acc,
        "best_val_acc": float(metrics["val_acc"].max()) if len(metrics) else float("nan"),
        "final_val_acc": float(metrics["val_acc"].iloc[-1]) if len(metrics) else float("nan"),
        "epochs_run": len(metrics),
        "grad_ratio_first_last": grad_ratio(grad_steps),
        "diverged": run.diverged_epoch is not None,
        "diverged_epoch": run.diverged_epoch,
        "train_seconds": run.seconds,
        "device": str(device),
        "threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "spec": asdict(spec),
    }
    write_json(outputs["summary"], summary)
    return summary


def _run_keys(run_dir: Path) -> dict:
    """results/runs/<group>/<variant>/depth<d>/seed<s> -> the four keys."""
    seed_dir = run_dir.name
    depth_dir = run_dir.parent.name
    return {
        "group": run_dir.parent.parent.parent.name,
        "variant": run_dir.parent.parent.name,
        "depth": int(depth_dir.removeprefix("depth")),
        "seed": int(seed_dir.removeprefix("seed")),
    }


def aggregate(summary_paths: list[str], outputs: dict, benchmark_paths: list[str] | None = None) -> None:
    """Concatenate every run into tidy tables keyed by group, variant, depth and seed.

    ``benchmark_paths``, if given, are the runs' Snakemake ``benchmark:`` files in the same order; their
    wall time and peak memory join the runs table as the cost of each run.
    """
    runs, metrics, steps, epochs = [], [], [], []
    benchmark_paths = benchmark_paths or [None] * len(summary_paths)
    for path, bench in zip(map(Path, summary_paths), benchmark_paths, strict=True):
        run_dir = path.parent
        keys = _run_keys(run_dir)
        summary = json.loads(path.read_text())
        spec = summary.pop("spec")
        row = {**keys, **summary, "activation": spec["model"]["activation"], "optimizer": spec["optimizer"],
               "lr": spec["lr"], "epochs": spec["epochs"]}
        if bench is not None:
            row.update(read_benchmark(bench))
        runs.append(row)
        metrics.append(pd.read_csv(run_dir / "metrics.csv").assign(**keys))
        steps.append(pd.read_parquet(run_dir / "grad_steps.parquet").assign(**keys))
        epochs.append(pd.read_parquet(run_dir / "grad_epochs.parquet").assign(**keys))

    def ordered(frames):
        frame = pd.concat(frames, ignore_index=True)
        return frame[RUN_KEYS + [c for c in frame.columns if c not in RUN_KEYS]]

    write_table(outputs["runs"], ordered([pd.DataFrame(runs)]))
    write_table(outputs["metrics"], ordered(metrics))
    write_table(outputs["grad_steps"], ordered(steps))
    write_table(outputs["grad_epochs"], ordered(epochs))


def read_benchmark(path) -> dict:
    """Wall time (s) and peak resident memory (MB) from a Snakemake ``benchmark:`` TSV (last repeat)."""
    frame = pd.read_csv(path, sep="\t").replace("-", math.nan)
    last = frame.iloc[-1]
    return {"wall_s": float(last["s"]), "max_rss_mb": float(last["max_rss"])}
