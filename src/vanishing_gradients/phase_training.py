"""The phase diagram's training (torch, imported where it is used): one column's runs (``phase.column_param``),
each with the project's trainer, scored on a fixed sample of training images and on validation at the end. The plan
and the table are ``phase``'s."""

from __future__ import annotations

import json
import math
import time

import pandas as pd

from . import specs
from .phase import CENTRING, COLUMNS, SAMPLE, SAMPLE_SEED, name


def fixed_sample(split, size: int = SAMPLE, seed: int = SAMPLE_SEED):
    """``size`` training images (all, if there are fewer) in a seeded draw: the same for every cell."""
    import torch  # here, as every torch import of this module: it imports without torch (tests/project/test_house.py)

    from .data import Split

    chosen = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:size]
    return Split(split.images[chosen], split.labels[chosen])


def train_cell(spec: specs.TrainSpec, data: dict, sample, device, log=print) -> dict:
    """Train one run with the project's trainer and no callbacks (no gradient records, no early stop); its row."""
    from .training import Trainer

    started = time.perf_counter()
    # The trainer's end-of-run evaluation ("test") is the sample of training images: the diagram never looks at the
    # test split, and that end-of-run accuracy is the one it asks for.
    splits = {"train": data["train"], "validation": data["validation"], "test": sample}
    _, run = Trainer(spec, splits, device, log=log, callbacks=[]).fit()
    model = spec.model
    return {
        "depth": model.depth, "lr": spec.lr, "seed": spec.seed, "width": model.width,
        "batch_size": spec.batch_size, "epochs": spec.epochs, "train_images": len(data["train"]),
        "sample_images": len(sample), "steps": run.steps, "train_acc": run.test_acc,
        "val_acc": run.metrics[-1]["val_acc"] if run.metrics else math.nan,
        "diverged": run.diverged_epoch is not None, "seconds": time.perf_counter() - started,
    }  # fmt: skip


def measure(param: str, data: dict, device: str = "cpu", log=print) -> pd.DataFrame:
    """Train every run of one column (``column_param``) on ``data`` (the study's splits): one row per depth, rate
    and seed with the accuracy on the fixed sample of training images and on validation at the end, the optimiser
    steps and the seconds (``COLUMNS``)."""
    from .training import resolve_device

    settings, device = json.loads(param), resolve_device(device)
    sample = fixed_sample(data["train"], settings["sample"], settings["sample_seed"])
    rows = []
    for cell in settings["cells"]:
        spec = specs.from_param(cell)
        row = train_cell(spec, data, sample, device, log)
        rows.append({"centred": settings["centred"], "sigma_w2": settings["sigma_w2"], "init": settings["init"], **row})
        log(
            f"{CENTRING[settings['centred']]} sigmoid, sigma_w^2 {name(settings['sigma_w2'])}, depth {row['depth']}, "
            f"lr {row['lr']:g}, seed {row['seed']}: train-sample acc {row['train_acc']:.4f}, val acc "
            f"{row['val_acc']:.4f}, {row['steps']} steps, {row['seconds']:.1f} s"
        )
    return pd.DataFrame(rows, columns=COLUMNS)
