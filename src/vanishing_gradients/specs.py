"""What defines a run, as plain frozen dataclasses (no torch import: the Snakefile reads these)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

ACTIVATIONS = ("sigmoid", "tanh", "relu")
NORMS = ("none", "batchnorm", "standardize")
INITS = ("default", "normal")
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class ModelSpec:
    depth: int
    width: int = 128
    activation: str = "sigmoid"
    init: str = "default"  # "default": PyTorch's Linear init; "normal": N(0, init_std) weights, zero biases
    init_std: float | None = None
    norm: str = "none"
    skips: tuple[tuple[int, int], ...] = ()  # (source, target): output of layer source added to target's
    grad_norm: bool = False
    in_features: int = 28 * 28
    classes: int = 10

    def __post_init__(self):
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} not in {list(ACTIVATIONS)}")
        if self.norm not in NORMS:
            raise ValueError(f"norm {self.norm!r} not in {NORMS}")
        if self.init not in INITS:
            raise ValueError(f"init {self.init!r} not in {INITS}")
        if self.init == "normal" and not (self.init_std and self.init_std > 0):
            raise ValueError("init 'normal' needs init_std > 0")
        for source, target in self.skips:
            if not 1 <= source < target <= self.depth:
                raise ValueError(f"skip ({source}, {target}) must satisfy 1 <= source < target <= depth={self.depth}")


@dataclass(frozen=True)
class TrainSpec:
    model: ModelSpec
    optimizer: str = "sgd"
    lr: float = 0.01
    batch_size: int = 512
    epochs: int = 100  # per stage when a schedule is given
    seed: int = 42
    schedule: tuple[int, ...] | None = None  # train-some-layers: hidden layers per block, summing to depth
    step_every: int = 1

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} not in {list(OPTIMIZERS)}")
        if self.schedule is not None and (sum(self.schedule) != self.model.depth or min(self.schedule) < 1):
            raise ValueError(f"schedule {list(self.schedule)} must be positive block sizes summing to depth {self.model.depth}")

    def fingerprint(self) -> str:
        """Stable hash of every setting; a checkpoint is resumed only by a run with the same fingerprint."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Stage:
    active: int  # hidden layers in use
    frozen: int  # the first `frozen` hidden layers do not train
    new_head: bool


def stages(spec: TrainSpec) -> list[Stage]:
    """The course's growth schedule: add a block with a fresh head (earlier blocks frozen), then unfreeze all."""
    if spec.schedule is None:
        return [Stage(spec.model.depth, 0, False)]
    plan, active = [], 0
    for i, size in enumerate(spec.schedule):
        frozen, active = active, active + size
        plan.append(Stage(active, frozen, True))
        if i > 0:
            plan.append(Stage(active, 0, False))
    return plan


