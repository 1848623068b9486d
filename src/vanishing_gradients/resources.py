"""What a training job asks the scheduler for (torch-free): memory from the run's width, depth and batch."""

from __future__ import annotations

import math

from . import datasets, specs, study
from .datasets import Dataset

MIN_TRAIN_MEM_MB = 1500  # the rule's request before it scaled: full-data jobs at width 128 peaked at 810-874 MB
BASE_MEM_MB = 1000  # Python, torch, the libraries and the full dataset, with headroom
BYTES_PER_PARAM = 40  # weights, gradients, Adam's two moments, the update-ratio snapshot, the checkpoint: ~25 measured


def run_mem_mb(spec: specs.TrainSpec, data: dict, dataset: Dataset) -> int:
    """Memory (MB) a training job of ``spec`` needs on ``dataset`` with the config's ``data`` (its validation
    size and subset): its parameters, activations and evaluation passes.

    Measured on one epoch of a 1,024-image subset (peak RSS): width 128 x 7: 770 MB; width 1024 x 7 with Adam:
    966 MB; width 2048 x 7 with Adam: 1,425 MB: about 25 bytes per parameter above the base. Activations: the
    training batch (6 tensors per layer), an evaluation chunk of 2,000 rows (a whole split for ``standardize``,
    whose output depends on the batch) and the per-layer saturation statistics over the validation set.
    """
    model, subset = spec.model, data.get("subset") or {}
    params = model.in_features * model.width + (model.depth - 1) * model.width**2 + model.classes * model.width
    validation = min(subset.get("validation", data["validation_size"]), data["validation_size"])
    trained = dataset.train_size - data["validation_size"]
    train = min(subset.get("train", trained), trained)
    chunk = max(train, validation, subset.get("test", dataset.test_size)) if model.norm == "standardize" else 2000
    floats = model.width * (spec.batch_size * model.depth * 6 + chunk * 3 + validation * model.depth)
    need = BASE_MEM_MB + (BYTES_PER_PARAM * params + 4 * floats) / 2**20
    return max(MIN_TRAIN_MEM_MB, math.ceil(need * 1.2 / 100) * 100)


def train_mem_mb(config: dict, phase: str, group: str):
    """Resources function of a training rule: each job's ``mem_mb`` (``run_mem_mb`` of the run's spec)."""

    def mem_mb(wildcards) -> int:
        lr = study.lr_of(config, group, wildcards.variant, wildcards.lr)
        spec = study.train_spec(config, phase, group, wildcards.variant, lr, int(wildcards.depth), int(wildcards.seed))
        return run_mem_mb(spec, config["data"], datasets.of(config))

    return mem_mb
