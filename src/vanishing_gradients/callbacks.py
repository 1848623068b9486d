"""The training loop's callbacks: the hooks a callback has, the statistics callbacks declare, and the best epoch.

The trainer (``training.Trainer``) knows callbacks only through the hooks of ``Callback``: statistics
(``gradstats``), the best epoch and early stopping (``BestEpoch``), progress files (``job.ProgressFile``) and
TensorBoard (``tboard``) are all callbacks. Each declares the per-epoch statistics it measures (``statistics``:
name -> meaning) and gives their values; the trainer gathers every callback's values into the epoch's
``grad_epochs`` record (``epoch_record``), so the statistics of the table are those of the callbacks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch

EPOCHS = "grad_epochs"  # the record (and table) of every callback's per-epoch statistics


class Callback:
    """A hook into the training loop (``training.Trainer.fit``). A new statistic is a new callback, not a loop edit.

    Per stage of a schedule: ``start_stage`` (not on a resumed stage: its state comes from the checkpoint). Per
    epoch: ``stop_reason``, asked first: a callback that answers with a reason ends the stage there (early
    stopping); ``start_epoch``; per step ``before_step`` (after ``backward()``, before the optimiser step) and
    ``after_step``; the validation pass, observed by the forward hooks of ``evaluation_hooks``; then ``end_epoch``,
    which may add columns to the epoch's metrics row (the trainer's columns are there: stage, epoch, training and
    validation loss and accuracy) and returns the callback's own records of the epoch by name; then
    ``epoch_statistics``, the values of the statistics it declares in ``statistics``; last ``epoch_done``, which
    sees the finished epoch: every callback's columns and records (for loggers). After the last epoch, ``end_run``
    may fill fields of the run's log (``training.RunLog``), given the test split's evaluation. A callback reads no
    other callback's record, so their order does not matter (it orders the table's rows). ``state_dict`` and
    ``load_state_dict`` carry what the callback keeps across a checkpoint; ``close`` runs when the run ends (also
    when it fails).
    """

    # The per-epoch statistics of each layer that this callback measures: name -> what it is. They are the
    # ``statistic`` values of the grad_epochs table; ``epoch_statistics`` gives their values.
    statistics: ClassVar[dict[str, str]] = {}

    def start_stage(self, index: int) -> None:
        pass

    def stop_reason(self) -> str | None:
        """Why the stage should end before its next epoch, or None to go on."""
        return None

    def start_epoch(self, model) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def evaluation_hooks(self, model) -> list:
        return []

    def end_epoch(self, model, row: dict) -> dict | None:
        """Columns added to ``row``; returns the callback's own records of the epoch by name (None: none)."""
        return None

    def epoch_statistics(self, model) -> dict:
        """The epoch's values of ``statistics``: ``{"layers": [names], statistic: one value per layer, ...}``,
        for the layers measured (a layer or statistic left out has no row in the table)."""
        return {}

    def epoch_done(self, row: dict, records: dict) -> None:
        pass

    def end_run(self, model, evaluate: Callable) -> dict:
        """Fields of the run's log, after its last epoch; ``evaluate(model)``: (loss, accuracy) on the test split."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def close(self) -> None:
        pass


def declared_statistics(callbacks) -> dict[str, str]:
    """Every statistic the callbacks declare, in their order; a statistic declared twice is an error."""
    out: dict[str, str] = {}
    for callback in callbacks:
        for name, meaning in callback.statistics.items():
            if name in out:
                raise ValueError(f"two callbacks declare the statistic {name!r} (one is {type(callback).__name__})")
            out[name] = meaning
    return out


def epoch_record(layers: list[str], statistics: list[str], parts: list[dict]) -> dict:
    """The callbacks' ``epoch_statistics`` of one epoch as one compact record: a value and a measured flag per
    (layer, statistic). ``layers``: the model's layers in order (any other layer a callback names follows)."""
    layers = list(layers)
    for part in parts:
        layers += [layer for layer in part.get("layers", []) if layer not in layers]
    values = torch.full((len(layers), len(statistics)), float("nan"), dtype=torch.float64)
    measured = torch.zeros(values.shape, dtype=torch.bool)
    for part in parts:
        rows = [layers.index(layer) for layer in part.get("layers", [])]
        for name, column in part.items():
            if name == "layers":
                continue
            if name not in statistics:
                raise ValueError(f"a callback gave values of {name!r}, which no callback declares in `statistics`")
            j = statistics.index(name)
            values[rows, j] = torch.as_tensor(column, dtype=torch.float64).cpu()  # float32 values stay exact
            measured[rows, j] = True
    return {"layers": layers, "statistics": list(statistics), "values": values, "measured": measured}


def epoch_values(record: dict, statistic: str) -> dict[str, float]:
    """Layer -> value of one statistic in an epoch record, for the layers where it was measured."""
    if statistic not in record["statistics"]:
        return {}
    j = record["statistics"].index(statistic)
    return {
        layer: float(record["values"][i, j]) for i, layer in enumerate(record["layers"]) if record["measured"][i, j]
    }


class BestEpoch(Callback):
    """The epoch with the best validation accuracy: its weights, for the test at that epoch, and early stopping.

    Practice picks the epoch on validation: the last epoch is not the best one. ``stale`` counts the epochs of
    the current stage since its best one; after ``patience`` of them the callback asks the trainer to end the stage
    (``TrainSpec.patience``; None: never). It counts only once the stage's best validation accuracy has passed
    ``threshold``: a network on its plateau at chance reaches its highest chance value within an epoch or two, and
    counting from there would stop it long before a late escape.
    """

    def __init__(self, threshold: float = 0.0, patience: int | None = None):
        self.threshold, self.patience = threshold, patience
        self.best_acc, self.best_epoch, self.weights, self.active = -1.0, None, None, None
        self.stage_best, self.stale = -1.0, 0

    def start_stage(self, index: int) -> None:
        self.stage_best, self.stale = -1.0, 0

    def stop_reason(self) -> str | None:
        if self.patience is not None and self.stale >= self.patience:
            return f"no better validation accuracy in {self.patience} epochs"
        return None

    def end_epoch(self, model, row: dict) -> None:
        if row["val_acc"] > self.stage_best:
            self.stage_best, self.stale = row["val_acc"], 0
        elif self.stage_best > self.threshold:
            self.stale += 1
        if row["val_acc"] > self.best_acc:  # the first of equal epochs: the earliest best
            self.best_acc, self.best_epoch, self.active = row["val_acc"], row["epoch"], model.active
            self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def end_run(self, model, evaluate: Callable) -> dict:
        """The best epoch, and the test loss and accuracy of its weights; the model keeps its own weights."""
        if self.weights is None:
            return {"best_epoch": None, "best_test_loss": math.nan, "best_test_acc": math.nan}
        final, active = {k: v.detach().clone() for k, v in model.state_dict().items()}, model.active
        model.load_state_dict(self.weights)
        model.active = self.active
        try:
            loss, acc = evaluate(model)
        finally:
            model.load_state_dict(final)
            model.active = active
        return {"best_epoch": self.best_epoch, "best_test_loss": loss, "best_test_acc": acc}

    def state_dict(self) -> dict:
        keys = ("best_acc", "best_epoch", "weights", "active", "stage_best", "stale")
        return {k: getattr(self, k) for k in keys}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
