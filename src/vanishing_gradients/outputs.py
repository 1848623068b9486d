"""A finished run's five output files: tidy tables, the summary and the weights (written atomically)."""

from __future__ import annotations

import platform
from dataclasses import asdict

import pandas as pd
import torch

from . import registry
from .layout import RunId
from .measures import grad_ratio
from .specs import TrainSpec, total_epochs
from .storage import atomic_path, write_json, write_table
from .training import RunLog


def left_chance_epoch(metrics: pd.DataFrame, threshold: float) -> int | None:
    """The first epoch (of the run, counted over its stages) whose validation accuracy is above ``threshold``."""
    above = metrics.loc[metrics["val_acc"] > threshold, "epoch"] if len(metrics) else []
    return int(above.iloc[0]) if len(above) else None


def save_run(
    run_log: RunLog, model, spec: TrainSpec, run: RunId, outputs: dict, device: str, threads: int, extra: dict = ()
) -> dict:
    """Write the run's outputs (paths by name, ``registry.RUN``) atomically; return the summary (with ``extra``'s
    fields: facts of the job, e.g. the machine's matmul rate).

    The metrics table comes from the run's metrics rows, every other run table from its records of that name
    (``RunLog.frame``)."""
    metrics = pd.DataFrame(run_log.metrics)
    frames = {t.name: metrics if t.name == "metrics" else run_log.frame(t.name) for t in registry.RUN if t.tabular}
    for name, frame in frames.items():
        write_table(outputs[name], frame)
    with atomic_path(outputs["model"]) as tmp:
        torch.save(model.state_dict(), tmp)
    summary = {
        "run": asdict(run),
        "test_loss": run_log.test_loss,  # after the last epoch
        "test_acc": run_log.test_acc,
        "best_epoch": run_log.best_epoch,  # the epoch of the best validation accuracy (the earliest of equals)
        "best_test_loss": run_log.best_test_loss,  # the test there: what the study compares runs on
        "best_test_acc": run_log.best_test_acc,
        "best_val_acc": float(metrics["val_acc"].max()) if len(metrics) else float("nan"),
        "final_val_acc": float(metrics["val_acc"].iloc[-1]) if len(metrics) else float("nan"),
        "epochs_run": len(metrics),
        "steps": run_log.steps,  # optimiser steps trained, over every stage
        "budget_steps": run_log.budget_steps,
        "budget_epochs": total_epochs(spec),  # what it could have trained: a "did not learn" says how long it tried
        "stopped_early": run_log.stopped_early,
        # the first epoch whose validation accuracy passed patience_after x chance: when the run left its plateau
        "left_chance_epoch": left_chance_epoch(metrics, spec.patience_after / spec.model.classes),
        "grad_ratio_first_last": grad_ratio(frames["grad_steps"]),
        "diverged": run_log.diverged_epoch is not None,
        "diverged_epoch": run_log.diverged_epoch,
        "train_seconds": run_log.seconds,
        "device": str(device),
        "threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "spec": asdict(spec),
        **dict(extra),
    }
    write_json(outputs["summary"], summary)
    return summary
