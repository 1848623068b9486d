"""What defines a run, as plain frozen dataclasses (no torch import: the Snakefile reads these).

The fields of ``ModelSpec`` and ``TrainSpec`` are the one list of run settings: the config's ``training:``
keys and every fix variant's overrides are exactly these fields (less ``depth``, ``seed`` and the data's
shape), their defaults are the course's baseline, and ``from_settings`` builds a spec from them by name.
"""

from __future__ import annotations

import hashlib
import json
import math
import typing
from dataclasses import MISSING, asdict, dataclass, fields

from .datasets import FASHION_MNIST

ACTIVATIONS = ("sigmoid", "tanh", "relu")
NORMS = ("none", "batchnorm", "standardize")
# default: PyTorch's Linear init; normal: N(0, init_std) weights; xavier_normal: Glorot, N(0, 2/(fan_in+fan_out));
# kaiming_normal: He, N(0, 2/fan_in); orthogonal: init_gain x a random (semi-)orthogonal matrix (Saxe et al. 2014),
# so sigma_w^2 = init_gain^2. Every init but default zeroes the biases.
INITS = ("default", "normal", "xavier_normal", "kaiming_normal", "orthogonal")
OPTIMIZERS = ("sgd", "adam")
# none: one learning rate for every layer; init_gradient: each Linear layer's rate is lr x (the output layer's
# weight-gradient norm / its own) at initialisation, capped at layer_lr_cap (layer_rates.py)
LAYER_LRS = ("none", "init_gradient")
BUDGETS = ("stage", "run")


@dataclass(frozen=True)
class ModelSpec:
    depth: int
    width: int = 128
    activation: str = "sigmoid"
    init: str = "default"
    init_std: float | None = None  # the std of init "normal"
    init_gain: float = 1.0  # the gain of init "orthogonal"
    # A centred sigmoid: every layer fed by a sigmoid gets the bias -W.1/2 after its init, so that its input's mean
    # of 1/2 adds nothing: the network computes tanh(x/2)/2 without a hidden bias (Pennington et al. 2017).
    center: bool = False
    norm: str = "none"
    skips: tuple[tuple[int, int], ...] = ()  # (source, target): output of layer source added to target's
    grad_norm: bool = False  # gradient normalisation, the seventh fix (models.GradientNormalization); a switch,
    # not a norm: the measured L2 norms are the tables' grad_norm. Kept as named: it is a config key of every run.
    in_features: int = FASHION_MNIST.in_features  # the data's: study.train_spec passes the study's dataset's
    classes: int = FASHION_MNIST.num_classes

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
        if not self.init_gain > 0:
            raise ValueError(f"init_gain must be > 0, got {self.init_gain}")
        if self.center and (self.activation != "sigmoid" or self.skips):
            raise ValueError(
                "center: true centres a sigmoid's output for the layer it feeds; it needs activation sigmoid and no "
                "skips (a skip feeds a layer two sigmoids' outputs)"
            )
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
    step_every: int = 1  # per-layer gradient norms every k steps
    stats_every: int = 10  # the costlier statistics (mean |grad|, update-to-weight ratio) every k steps
    patience: int | None = None  # end a stage after this many epochs without a better validation accuracy
    # ... counted only once validation accuracy has passed this multiple of chance (1/classes): a run still on
    # its plateau at chance is never stopped (plateaus can end after dozens of epochs), only the full budget ends it
    patience_after: float = 2.0
    budget: str = "stage"  # what `epochs` counts: "stage" (the course: epochs per stage of a schedule) or "run"
    # (the whole run: a schedule's stages share `epochs`, so every configuration gets the same optimiser steps)
    layer_lr: str = "none"  # per-layer learning rates (LAYER_LRS): a control for "depth, not the learning rate"
    layer_lr_cap: float = 1000.0  # the largest factor of a layer's rate over lr

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} not in {list(OPTIMIZERS)}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or null, got {self.patience}")
        if not self.patience_after >= 0:
            raise ValueError(f"patience_after must be >= 0, got {self.patience_after}")
        if self.budget not in BUDGETS:
            raise ValueError(f"budget {self.budget!r} not in {list(BUDGETS)}")
        if self.layer_lr not in LAYER_LRS:
            raise ValueError(f"layer_lr {self.layer_lr!r} not in {list(LAYER_LRS)}")
        if not self.layer_lr_cap >= 1:
            raise ValueError(f"layer_lr_cap must be >= 1 (a factor on lr), got {self.layer_lr_cap}")
        if self.schedule is not None and (sum(self.schedule) != self.model.depth or min(self.schedule) < 1):
            raise ValueError(
                f"schedule {list(self.schedule)} must be positive block sizes summing to depth {self.model.depth}"
            )

    def fingerprint(self) -> str:
        """Stable hash of every setting; a checkpoint is resumed only by a run with the same fingerprint."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def weight_std(spec: ModelSpec, fan_in: int, fan_out: int) -> float | None:
    """The std of a Linear layer's N(0, std) initial weights, or None for PyTorch's default (uniform) init."""
    if spec.init == "normal":
        return spec.init_std
    if spec.init == "xavier_normal":  # Glorot & Bengio (2010): keeps the variance forward and backward
        return math.sqrt(2.0 / (fan_in + fan_out))
    if spec.init == "kaiming_normal":  # He et al. (2015): keeps the variance through ReLUs, fan-in mode
        return math.sqrt(2.0 / fan_in)
    if spec.init == "orthogonal":  # not Gaussian: the std of an entry of init_gain x an orthogonal fan_in x fan_in
        return spec.init_gain / math.sqrt(fan_in)
    return None


# ------------------------------------------------------------------------------------------ settings
# Fields that are not settings: the depth and seed come from the run, the data's shape from the dataset.
NOT_SETTINGS = {"depth", "in_features", "classes", "model", "seed"}


def _settings(cls) -> list:
    return [f for f in fields(cls) if f.name not in NOT_SETTINGS]


MODEL_SETTINGS = tuple(f.name for f in _settings(ModelSpec))
TRAIN_SETTINGS = tuple(f.name for f in _settings(TrainSpec))
SETTINGS = MODEL_SETTINGS + TRAIN_SETTINGS


def _plain(value):
    """Tuples -> lists, the config's (YAML/JSON) form."""
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else value


def default_settings() -> dict:
    """Every setting with its default (the course's baseline), as the config writes it."""
    return {
        f.name: _plain(f.default) for cls in (ModelSpec, TrainSpec) for f in _settings(cls) if f.default is not MISSING
    }


def _coerce(cls, name: str, value):
    """A config value in the field's type: lists become tuples, numbers of float fields become floats."""
    if isinstance(value, (list, tuple)):
        return tuple(_coerce(cls, name, v) if isinstance(v, (list, tuple)) else v for v in value)
    hint = str(typing.get_type_hints(cls)[name])
    if "float" in hint and value is not None and not isinstance(value, bool):
        return float(value)
    return value


def from_settings(settings: dict, depth: int, seed: int, **data_shape) -> TrainSpec:
    """The spec of one run from ``settings`` (keys of ``SETTINGS``; a missing one takes its default).

    ``data_shape``: ``in_features`` and ``classes``, the dataset's (``datasets.Dataset.model_shape``); without
    them, the default dataset's.
    """
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {list(SETTINGS)}")
    values = {**default_settings(), **settings}
    model = ModelSpec(depth=int(depth), **data_shape, **{k: _coerce(ModelSpec, k, values[k]) for k in MODEL_SETTINGS})
    return TrainSpec(model=model, seed=int(seed), **{k: _coerce(TrainSpec, k, values[k]) for k in TRAIN_SETTINGS})


def to_param(spec: TrainSpec) -> str:
    """The spec as sorted JSON: a plain string param, so Snakemake reruns exactly the runs whose settings change."""
    return json.dumps(asdict(spec), sort_keys=True)


def from_param(text: str) -> TrainSpec:
    raw = json.loads(text)
    model = raw.pop("model")
    settings = {**{k: model[k] for k in MODEL_SETTINGS}, **{k: raw[k] for k in TRAIN_SETTINGS}}
    return from_settings(
        settings, model["depth"], raw["seed"], in_features=model["in_features"], classes=model["classes"]
    )


# ------------------------------------------------------------------------------------------ stages
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


def stage_steps(spec: TrainSpec, per_epoch: int) -> list[int]:
    """Optimiser steps of each stage, given the steps of one epoch. Budget "stage": ``epochs`` whole epochs each
    (the course's seven stages of 100 epochs). Budget "run": the stages share the run's ``epochs`` x ``per_epoch``
    steps, the later (deeper) stages taking the remainder, so a grown network trains exactly as many optimiser
    steps as any other configuration of the study, whatever its number of stages (a stage may end within an
    epoch: 31 stages at 30 layers share a 15-epoch budget)."""
    n = len(stages(spec))
    if spec.budget == "stage":
        return [spec.epochs * per_epoch] * n
    share, extra = divmod(spec.epochs * per_epoch, n)
    if share == 0:
        raise ValueError(
            f"a budget of {spec.epochs} epochs of {per_epoch} steps is fewer steps than the {n} stages of schedule "
            f"{list(spec.schedule)}: give every stage at least one step (more epochs, or fewer blocks)"
        )
    return [share + (1 if i >= n - extra else 0) for i in range(n)]


def total_epochs(spec: TrainSpec) -> int:
    """The run's budget in epochs: ``epochs`` (budget "run"), or ``epochs`` per stage (budget "stage")."""
    return spec.epochs * (len(stages(spec)) if spec.budget == "stage" else 1)


def usable_samples(spec: TrainSpec, train_size: int) -> int:
    """Training images an epoch uses: all of them, but a last batch of one sample is left out with normalisation
    (BatchNorm refuses it, standardize divides by a zero spread)."""
    one_left = spec.model.norm != "none" and train_size % spec.batch_size == 1 and train_size > 1
    return train_size - 1 if one_left else train_size


def steps_per_epoch(spec: TrainSpec, train_size: int) -> int:
    """Optimiser steps in one epoch of ``train_size`` images (``usable_samples``)."""
    return math.ceil(usable_samples(spec, train_size) / spec.batch_size)
