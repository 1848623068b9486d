"""Trainability against weight scale and depth: the sigmoid's phase diagram (config key ``phase``; none by default).

Sigmoid networks of the study's width, plain or centred (``ModelSpec.center``: each layer fed by a sigmoid gets the
bias -W.1/2), initialised at each sigma_w^2 of ``phase.sigma_w2`` (init orthogonal with gain sqrt(sigma_w^2), or
N(0, sqrt(sigma_w^2 / width)): either way the hidden layers' sigma_w^2, with zero biases), at each depth, trained
with plain SGD at each rate of ``phase.learning_rates`` for ``phase.epochs`` epochs with each seed, at the study's
batch size on its data. A cell is (centring, sigma_w^2, depth); the report chooses each cell's rate on its own
(``report.phase``). Schoenholz et al. (2017) found random networks trainable up to about 6 xi_c layers
(``theory.correlation_depth_scale``); the report draws that bound over the cells.

This module is the plan and the table, torch-free: the Snakefile, the config check and the report read it (the
report's code hash must not cover the trainer). ``phase_training.measure`` trains one column (one job: a centring
and a sigma_w^2).
"""

from __future__ import annotations

import json
import math

import pandas as pd

from . import datasets, registry, resources, specs
from .errors import ConfigError
from .layout import RecordError
from .safe_read import MiB, UnreadableFile
from .safe_read import read_table as read_checked
from .storage import write_table

TABLE = registry.PHASE
CENTRING = {False: "plain", True: "centred"}  # a column's centring, as its paths name it
SAMPLE, SAMPLE_SEED = 5_000, 0  # the fixed sample of training images whose accuracy is measured at the end
KEYS = ["centred", "sigma_w2", "depth", "lr", "seed"]  # one row per cell, rate and seed
COLUMNS = [*KEYS, "init", "width", "batch_size", "epochs", "train_images", "sample_images", "steps", "train_acc",
           "val_acc", "diverged", "seconds"]  # fmt: skip
REMEDY = "delete it and run snakemake again to train those cells anew"
# Measured: a cell of 100 layers, width 128, one epoch of 157 steps of batch 128 (20,000 images), one CPU thread:
# 3.9 to 6.1 s with its validation, the sample and a job's first-cell warm-up: 2.5e-4 to 3.9e-4 s per layer and step.
SECONDS_PER_LAYER_STEP = 4e-4


def name(sigma_w2: float) -> str:
    """A sigma_w^2 as paths name it: 16.0 -> '16', 0.5 -> '0.5'."""
    return f"{sigma_w2:g}"


def columns(config: dict) -> list[tuple[str, str]]:
    """Every column of the diagram as its paths name it, (centring, sigma_w^2): one job each."""
    settings = config["phase"]
    return [(CENTRING[centred], name(s)) for centred in settings["centred"] for s in settings["sigma_w2"]]


def sigma_of(config: dict, sigma_name: str) -> float:
    """The configured sigma_w^2 that a path's name stands for (the exact float, not one parsed back from text)."""
    return next(float(s) for s in config["phase"]["sigma_w2"] if name(s) == sigma_name)


def cell_spec(config: dict, centred: bool, sigma_w2: float, depth: int, lr: float, seed: int) -> specs.TrainSpec:
    """One cell's run at one rate and seed: every setting not named here at its default (no norm, no skips, no
    early stop), so that only the weight scale, the centring and the depth tell the cells apart."""
    settings, width = config["phase"], config["training"]["width"]
    if settings["init"] == "orthogonal":
        init = {"init": "orthogonal", "init_gain": math.sqrt(sigma_w2)}
    else:
        init = {"init": "normal", "init_std": math.sqrt(sigma_w2 / width)}
    chosen = {"width": width, "activation": "sigmoid", "center": centred, **init, "optimizer": "sgd", "lr": lr,
              "batch_size": config["training"]["batch_size"], "epochs": settings["epochs"], "budget": "run",
              "patience": None}  # fmt: skip
    return specs.from_settings(chosen, depth, seed, **datasets.of(config).model_shape())


def cells(config: dict, centred: bool, sigma_w2: float) -> list[specs.TrainSpec]:
    """One column's runs: every depth, rate and seed."""
    settings = config["phase"]
    return [
        cell_spec(config, centred, sigma_w2, depth, float(lr), seed)
        for depth in settings["depths"]
        for lr in settings["learning_rates"]
        for seed in settings["seeds"]
    ]


def column_param(config: dict, centring: str, sigma_name: str) -> str:
    """Everything one column trains, as sorted JSON (its rule's param: a changed setting reruns the columns it
    changes, and no other rule)."""
    centred, sigma_w2 = centring == CENTRING[True], sigma_of(config, sigma_name)
    runs = [specs.to_param(spec) for spec in cells(config, centred, sigma_w2)]
    column = {"centred": centred, "sigma_w2": sigma_w2, "init": config["phase"]["init"], "cells": runs}
    return json.dumps({**column, "sample": SAMPLE, "sample_seed": SAMPLE_SEED}, sort_keys=True)


def check(config: dict) -> None:
    """The settings of ``phase`` (null: none) that the schema cannot check, refused with a ConfigError naming the key
    and the fix: each sigma_w^2 names its column's files, and every run is a network the project builds."""
    settings = config.get("phase")
    if not settings:
        return
    names = [name(s) for s in settings["sigma_w2"]]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"phase.sigma_w2: {settings['sigma_w2']} has two values named alike in paths ({names}); list each value "
            "once, at most 6 significant digits apart"
        )
    for centred in settings["centred"]:
        for sigma_w2 in settings["sigma_w2"]:
            try:
                cells(config, centred, float(sigma_w2))
            except (ValueError, TypeError) as err:
                raise ConfigError(f"phase (centred {centred}, sigma_w2 {sigma_w2}): {err}") from None


def train_images(config: dict) -> int:
    """Images in the study's training split (``data.validation_size`` off, then ``data.subset``)."""
    data, dataset = config["data"], datasets.of(config)
    trained = dataset.train_size - data["validation_size"]
    return min((data.get("subset") or {}).get("train", trained), trained)


def mem_mb(config: dict) -> int:
    """A column job's memory: that of its deepest run (``resources.run_mem_mb``)."""
    deepest = cell_spec(config, False, 1.0, max(config["phase"]["depths"]), 0.1, 0)
    return resources.run_mem_mb(deepest, config["data"], datasets.of(config))


def runtime(config: dict) -> int:
    """A column job's minutes for SLURM: 10 + three times its hidden-layer steps at ``SECONDS_PER_LAYER_STEP``
    (scaled by width^2 x batch over 128^2 x 128, the measured cell's)."""
    settings, spec = config["phase"], cell_spec(config, False, 1.0, 1, 0.1, 0)
    steps = settings["epochs"] * specs.steps_per_epoch(spec, train_images(config))
    layer_steps = steps * sum(settings["depths"]) * len(settings["learning_rates"]) * len(settings["seeds"])
    scale = max(1.0, spec.model.width**2 * spec.batch_size / 128**3)
    return 10 + math.ceil(3 * layer_steps * SECONDS_PER_LAYER_STEP * scale / 60)


# ------------------------------------------------------------------------------------------ the table
def read_table(path) -> pd.DataFrame:
    """A phase table (a column's, or the gathered one) read back checked: a regular file of bounded size
    (``safe_read``), holding ``COLUMNS`` and each cell, rate and seed once; else a RecordError naming the file."""
    try:
        frame = read_checked(path, limit=256 * MiB)
    except UnreadableFile as err:
        raise RecordError(f"{err}; {REMEDY}") from None
    missing = [column for column in COLUMNS if column not in frame]
    if missing:
        raise RecordError(f"{path}: not a phase table (it lacks the columns {missing}); {REMEDY}")
    if frame.duplicated(KEYS).any():
        raise RecordError(f"{path}: a cell's run at one rate and seed is there twice; {REMEDY}")
    return frame


def gather(paths: list[str], output: str, log=print) -> pd.DataFrame:
    """The columns' tables (each read back checked) as one table, sorted by cell, rate and seed."""
    table = pd.concat([read_table(path) for path in paths], ignore_index=True)
    if table.duplicated(KEYS).any():
        raise RecordError(f"{output}: two column tables hold the same cell; {REMEDY} (its columns' tables)")
    table = table.sort_values(KEYS, kind="stable").reset_index(drop=True)
    write_table(output, table)
    log(f"wrote {len(table)} runs of {len(paths)} columns to {output}")
    return table
