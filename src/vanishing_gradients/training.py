"""The one training loop. Every baseline and every fix goes through ``train``.

A run is a ``TrainSpec``: a model spec plus optimiser, learning rate, batch size, epochs, seed and an
optional train-some-layers schedule. ``train`` preloads the data on the device once, shuffles with its own
generator, keeps running sums on the device, records gradient statistics, evaluates in large batches under
``inference_mode``, checkpoints after every epoch (atomically) and resumes from a checkpoint whose spec
matches. A run whose training loss becomes NaN or infinite stops and is marked diverged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import checkpoints
from .data import Split
from .gradstats import EPOCHS, FRAMES, Callback, GradientRecorder, SaturationMonitor, declared_statistics, epoch_record
from .machine import release_free_memory
from .models import MLP
from .specs import Stage, TrainSpec, stage_steps, stages, steps_per_epoch, usable_samples

OPTIMIZER_CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}  # plain SGD: no momentum
EVAL_BATCH = 2_000  # measured: 35% faster than one 6,000-sample batch (no page faults), 20% faster than 512


def apply_stage(model: MLP, stage: Stage) -> list[nn.Parameter]:
    """Set the active depth, replace the head if asked, freeze the first layers; return the trainable params."""
    model.active = stage.active
    if stage.new_head:
        model.new_head()
    for i, layer in enumerate(model.hidden, start=1):
        layer.requires_grad_(i > stage.frozen and i <= stage.active)
    model.head.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no GPU; set device: auto or cpu")
    return torch.device(name)


def _to_device(split: Split, device) -> tuple[torch.Tensor, torch.Tensor]:
    # uint8 on the device (4x less memory than floats); evaluation scales each chunk by ``pixels``.
    return split.images.to(device), split.labels.to(device)


def pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1]; no mean/std normalisation (as in the course)."""
    return images.to(torch.float32).div_(255.0)


@torch.inference_mode()
def evaluate(model: MLP, x: torch.Tensor, y: torch.Tensor, hooks: list | None = None) -> tuple[float, float]:
    """Mean loss and accuracy over the whole split (not over batches); ``hooks``: forward-hook handles that
    observe this pass, removed at its end."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    chunk = len(y) if model.batch_dependent else EVAL_BATCH
    try:
        for start in range(0, len(y), chunk):
            logits = model(pixels(x[start : start + chunk]))
            target = y[start : start + chunk]
            loss_sum += nn.functional.cross_entropy(logits, target, reduction="sum")
            correct += (logits.argmax(1) == target).sum()
    finally:
        for handle in hooks or []:
            handle.remove()
        model.train(was_training)
    return float(loss_sum) / len(y), float(correct) / len(y)


class BestEpoch(Callback):
    """Keeps the weights of the epoch with the best validation accuracy, for the test at that epoch.

    Practice picks the epoch on validation: the last epoch is not the best one. ``stale`` counts the epochs of
    the current stage since its best one, for early stopping (``TrainSpec.patience``), but only once the stage's
    best validation accuracy has passed ``threshold``: a network on its plateau at chance reaches its highest
    chance value within an epoch or two, and counting from there would stop it long before a late escape.
    """

    def __init__(self, threshold: float = 0.0):
        self.threshold = threshold
        self.best_acc, self.best_epoch, self.weights, self.active = -1.0, None, None, None
        self.stage_best, self.stale = -1.0, 0

    def start_stage(self) -> None:
        self.stage_best, self.stale = -1.0, 0

    def end_epoch(self, model, row: dict) -> None:
        if row["val_acc"] > self.stage_best:
            self.stage_best, self.stale = row["val_acc"], 0
        elif self.stage_best > self.threshold:
            self.stale += 1
        if row["val_acc"] > self.best_acc:  # the first of equal epochs: the earliest best
            self.best_acc, self.best_epoch, self.active = row["val_acc"], row["epoch"], model.active
            self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def evaluate(self, model, x, y) -> tuple[float, float]:
        """Test loss and accuracy of the best epoch's weights; the model keeps its own weights."""
        if self.weights is None:
            return math.nan, math.nan
        final, active = {k: v.detach().clone() for k, v in model.state_dict().items()}, model.active
        model.load_state_dict(self.weights)
        model.active = self.active
        try:
            return evaluate(model, x, y)
        finally:
            model.load_state_dict(final)
            model.active = active

    def state_dict(self) -> dict:
        keys = ("best_acc", "best_epoch", "weights", "active", "stage_best", "stale")
        return {k: getattr(self, k) for k in keys}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


@dataclass
class RunLog:
    """Everything a run produces: a metrics row and compact records (by name, e.g. ``grad_steps``) per epoch,
    and the per-epoch statistics its callbacks declared (name -> meaning: the ``grad_epochs`` table's)."""

    metrics: list[dict] = field(default_factory=list)
    records: dict[str, list[dict]] = field(default_factory=dict)
    statistics: dict[str, str] = field(default_factory=dict)
    diverged_epoch: int | None = None
    test_loss: float = float("nan")  # after the last epoch
    test_acc: float = float("nan")
    best_epoch: int | None = None  # the epoch of the best validation accuracy, and the test there
    best_test_loss: float = float("nan")
    best_test_acc: float = float("nan")
    stopped_early: bool = False  # a stage ended before its epochs: ``patience`` epochs without a better one
    steps: int = 0  # optimiser steps taken, over every stage
    budget_steps: int = 0  # the steps of the whole budget (every stage's epochs)
    seconds: float = 0.0

    def frame(self, name: str):
        """The tidy table of one kind of record (``gradstats.FRAMES``)."""
        return FRAMES[name](self.records.get(name, []))


# ---------------------------------------------------------------------------------------- trainer
class Trainer:
    """One run in small phases: ``restore`` a checkpoint, ``run_stage`` per stage of the schedule, ``run_epoch``
    per epoch, ``end_epoch`` (the validation pass, then the callbacks), ``save`` after every epoch. Statistics,
    the best epoch and progress are callbacks (``gradstats.Callback``)."""

    def __init__(
        self,
        spec: TrainSpec,
        data: dict[str, Split],
        device="cpu",
        checkpoint=None,
        log=print,
        callbacks: list[Callback] = (),
        code: str = "",
    ):
        self.spec, self.device, self.log = spec, torch.device(device), log
        # Saturated sigmoids (weights N(0, 10), gradient normalisation) make subnormal floats (< 1.2e-38) in the
        # backward pass, and x86 CPUs compute with them far slower (before this flush the full study's N(0, 10) runs
        # took 4.1 s per epoch against ~0.9 s for the other 7-layer runs: README of 0.1.0, Speed). Flushing them
        # to zero changes no number of the other runs (tested bitwise).
        torch.set_flush_denormal(True)
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.identity = checkpoints.fingerprint(spec, data, code) if checkpoint else None
        torch.manual_seed(spec.seed)
        self.model = MLP(spec.model).to(self.device)
        self.shuffle = torch.Generator().manual_seed(spec.seed)
        # The training images as floats once (169 MB for Fashion-MNIST): measured 0.05 s per epoch faster than
        # scaling every batch from uint8, with the same values.
        images, self.train_y = _to_device(data["train"], self.device)
        self.train_x = pixels(images)
        self.val_x, self.val_y = _to_device(data["validation"], self.device)
        self.test = data["test"]
        self.best = BestEpoch(spec.patience_after / spec.model.classes)
        # No callback reads another's record; their order is only that of the statistics in the tables.
        self.callbacks = [self.best, GradientRecorder(spec.step_every, spec.stats_every), SaturationMonitor()]
        self.callbacks += callbacks
        self.statistics = declared_statistics(self.callbacks)
        self.per_epoch = steps_per_epoch(spec, len(self.train_y))
        self.plan, self.stage_steps = stages(spec), stage_steps(spec, self.per_epoch)
        self.run_log = RunLog(statistics=self.statistics, budget_steps=self.budget_steps())

    def budget_steps(self) -> int:
        return sum(self.stage_steps)

    def stage_epochs(self, index: int) -> int:
        """Epochs of a stage, its last one partial where the stage's steps end within an epoch."""
        return -(-self.stage_steps[index] // self.per_epoch)

    def restore(self) -> dict | None:
        """Load the last checkpoint of this run, if any: rebuild its stage's structure, weights and history."""
        resume = checkpoints.load(self.checkpoint, self.identity, self.log)
        if resume is None:
            return None
        for stage in self.plan[: resume["stage"] + 1]:
            apply_stage(self.model, stage)  # rebuild the structure (heads) of that stage before loading weights
        self.model.load_state_dict(resume["model"])
        self.run_log = RunLog(**resume["run"], statistics=self.statistics, budget_steps=self.budget_steps())
        for record in resume["records"]:
            for name, value in record.items():
                self.run_log.records.setdefault(name, []).append(value)
        for callback in self.callbacks:
            callback.load_state_dict(resume["callbacks"].get(type(callback).__name__, {}))
        self.log(f"resumed from {self.checkpoint} at stage {resume['stage'] + 1}, epoch {resume['epoch']} of the stage")
        return resume

    def run(self) -> tuple[MLP, RunLog]:
        try:
            resume = self.restore()
            first = resume["stage"] if resume else 0
            for index in range(first, len(self.plan)):
                if not self.run_stage(index, resume if index == first else None):
                    break
        finally:
            for callback in self.callbacks:
                callback.close()
        test_x, test_y = _to_device(self.test, self.device)
        self.run_log.test_loss, self.run_log.test_acc = evaluate(self.model, test_x, test_y)
        self.run_log.best_epoch = self.best.best_epoch
        self.run_log.best_test_loss, self.run_log.best_test_acc = self.best.evaluate(self.model, test_x, test_y)
        return self.model, self.run_log

    def run_stage(self, index: int, resume: dict | None) -> bool:
        """Train one stage from its first epoch, or from ``resume``; False if the run diverged."""
        if resume is None:
            params = apply_stage(self.model, self.plan[index])
            self.best.start_stage()
        else:
            params = [p for p in self.model.parameters() if p.requires_grad]
        # foreach: one fused kernel per update term for all parameters; measured on the CPU 20% faster than
        # PyTorch's CPU default (a loop over parameters) for Adam and SGD, with bitwise identical weights.
        optimizer = OPTIMIZER_CLASSES[self.spec.optimizer](params, lr=self.spec.lr, foreach=True)
        if resume is not None:
            optimizer.load_state_dict(resume["optimizer"])
            self.shuffle.set_state(resume["shuffle"])
            torch.set_rng_state(resume["torch_rng"])
        self.model.train()
        patience = self.spec.patience
        # stage_epoch counts the epochs of this stage (``stage_epochs``: whole ones, the last one possibly partial);
        # the metrics row's ``epoch`` counts every epoch of the run, across stages. The checkpoint's "epoch" is the
        # stage's epochs done, all of them whole but its last: the steps left follow from it.
        for stage_epoch in range(resume["epoch"] if resume else 0, self.stage_epochs(index)):
            if patience is not None and self.best.stale >= patience:  # checked first: a resumed run stops too
                self.run_log.stopped_early = True
                self.log(f"no better validation accuracy in {patience} epochs: stage {index + 1} ends early")
                break
            steps = min(self.per_epoch, self.stage_steps[index] - stage_epoch * self.per_epoch)
            row, records = self.run_epoch(optimizer, index, stage_epoch, steps)
            if not math.isfinite(row["train_loss"]):
                self.run_log.diverged_epoch = row["epoch"]
                self.log(f"training loss is {row['train_loss']} at epoch {row['epoch']}: run diverged, stopping")
                return False
            self.save(index, stage_epoch + 1, optimizer, records)
        return True

    def run_epoch(self, optimizer, stage_index: int, stage_epoch: int, steps: int) -> tuple[dict, dict]:
        """One pass over the shuffled training split (its first ``steps`` batches: fewer than an epoch's where a
        stage's budget ends within it), then the callbacks' end of epoch; returns (row, records)."""
        started = time.perf_counter()
        model, n, batch = self.model, len(self.train_y), self.spec.batch_size
        for callback in self.callbacks:
            callback.start_epoch(model)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        order = torch.randperm(n, generator=self.shuffle).to(self.device)
        seen = min(usable_samples(self.spec, n), steps * batch)  # a stage's budget may end within the epoch
        for start in range(0, seen, batch):
            idx = order[start : start + batch]
            xb, yb = self.train_x[idx], self.train_y[idx]
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for callback in self.callbacks:
                callback.before_step()
            optimizer.step()
            for callback in self.callbacks:
                callback.after_step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
        self.run_log.steps += -(-seen // batch)
        tags = {"stage": stage_index + 1, "epoch": len(self.run_log.metrics) + 1}
        row = {**tags, "train_loss": float(loss_sum) / seen, "train_acc": float(correct) / seen}
        records = self.end_epoch(row)
        release_free_memory()
        row["seconds"] = time.perf_counter() - started
        self.run_log.seconds += row["seconds"]
        self.run_log.metrics.append(row)
        records = {name: {**tags, **record} for name, record in records.items()}
        for name, record in records.items():
            self.run_log.records.setdefault(name, []).append(record)
        self.log(
            f"stage {stage_index + 1}/{len(self.plan)} epoch {stage_epoch + 1}/{self.stage_epochs(stage_index)}: "
            f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | "
            f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f} | {row['seconds']:.2f}s"
        )
        return row, records

    def end_epoch(self, row: dict) -> dict:
        """The validation pass (observed by every callback's evaluation hooks), then each callback's end of epoch:
        its columns in ``row``, its own records and its statistics (gathered in one ``grad_epochs`` record); last,
        every callback sees the finished epoch. Returns the epoch's records by name."""
        model = self.model
        hooks = [handle for callback in self.callbacks for handle in callback.evaluation_hooks(model)]
        row["val_loss"], row["val_acc"] = evaluate(model, self.val_x, self.val_y, hooks)
        records, parts = {}, []
        for callback in self.callbacks:
            own = callback.end_epoch(model, row) or {}
            taken = set(own) & {*records, EPOCHS}
            if taken:
                raise ValueError(f"{type(callback).__name__} writes the record {sorted(taken)[0]!r}, already taken")
            records.update(own)
            if callback.statistics:
                parts.append(callback.epoch_statistics(model))
        records[EPOCHS] = epoch_record([name for name, _ in model.linears()], list(self.statistics), parts)
        for callback in self.callbacks:
            callback.epoch_done(row, records)
        return records

    def save(self, stage_index: int, stage_epochs_done: int, optimizer, records: dict) -> None:
        """Checkpoint the state after a finished epoch (atomically), so that a killed run resumes from it."""
        if self.checkpoint is None:
            return
        state = {
            "stage": stage_index,
            "epoch": stage_epochs_done,
            "model": self.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "shuffle": self.shuffle.get_state(),
            "torch_rng": torch.get_rng_state(),
            "callbacks": {type(c).__name__: c.state_dict() for c in self.callbacks},
            "run": {
                "metrics": self.run_log.metrics,
                "seconds": self.run_log.seconds,
                "stopped_early": self.run_log.stopped_early,
                "steps": self.run_log.steps,
            },
        }
        checkpoints.save(self.checkpoint, self.identity, state, records)


def train(
    spec: TrainSpec,
    data: dict[str, Split],
    device: str | torch.device = "cpu",
    checkpoint: str | Path | None = None,
    log: Callable[[str], None] = print,
    callbacks: list[Callback] = (),
    code: str = "",
) -> tuple[MLP, RunLog]:
    """Train ``spec`` on ``data``; return the model and its log.

    With ``checkpoint``, the whole state is saved (atomically) after every epoch; a killed run resumes from
    its last finished epoch and ends with the same numbers as an uninterrupted run, and only a state saved with
    the same settings, data and ``code`` (the hash of the training code) is resumed.
    """
    return Trainer(spec, data, device, checkpoint, log, list(callbacks), code).run()
