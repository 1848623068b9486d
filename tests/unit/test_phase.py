"""The phase diagram's plan (config -> columns and their runs), its training of tiny cells, its table read back
checked, and the config's `phase:` key as the validation checks it."""

import copy
import json
import os

import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT

from vanishing_gradients import phase, phase_training, specs, validation
from vanishing_gradients.data import Split
from vanishing_gradients.layout import RecordError, StudyLayout
from vanishing_gradients.storage import write_table

SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")
TINY = {
    "data": {"name": "fashion_mnist", "validation_size": 100},
    "training": {"width": 16, "batch_size": 20},
    "phase": {"sigma_w2": [16.0, 64.0], "depths": [1, 2], "centred": [False, True], "init": "orthogonal",
              "learning_rates": [1.0], "epochs": 5, "seeds": [0]},
}  # fmt: skip


def blocks(n: int, seed: int, shuffle: bool = False) -> Split:
    """Images whose class is the block of 78 bright pixels they hold (learnt in a few steps), with dim noise;
    ``shuffle``: labels that no longer match the images (nothing to learn)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=generator)
    images = torch.randint(0, 40, (n, 784), generator=generator, dtype=torch.uint8)
    for i, k in enumerate(labels.tolist()):
        images[i, 78 * k : 78 * (k + 1)] = 255
    if shuffle:
        labels = labels[torch.randperm(n, generator=generator)]
    return Split(images, labels)


def test_the_plan_names_one_column_per_centring_and_sigma_with_each_runs_settings():
    assert phase.columns(TINY) == [("plain", "16"), ("plain", "64"), ("centred", "16"), ("centred", "64")]
    assert phase.sigma_of(TINY, "64") == 64.0
    orthogonal = phase.cell_spec(TINY, True, 16.0, 3, 0.5, 7)
    assert (orthogonal.model.init, orthogonal.model.init_gain, orthogonal.model.center) == ("orthogonal", 4.0, True)
    assert (orthogonal.optimizer, orthogonal.lr, orthogonal.batch_size, orthogonal.patience) == ("sgd", 0.5, 20, None)
    assert (orthogonal.model.depth, orthogonal.model.width, orthogonal.seed, orthogonal.budget) == (3, 16, 7, "run")
    normal = phase.cell_spec({**TINY, "phase": {**TINY["phase"], "init": "normal"}}, False, 16.0, 3, 0.5, 7)
    assert normal.model.init == "normal" and normal.model.width * normal.model.init_std**2 == pytest.approx(16.0)
    param = phase.column_param(TINY, "centred", "16")
    cells = [specs.from_param(cell) for cell in json.loads(param)["cells"]]
    assert [(c.model.depth, c.model.center, c.model.init_gain) for c in cells] == [(1, True, 4.0), (2, True, 4.0)]
    # adding a sigma_w^2 adds a column and changes no other column's param (nothing else reruns)
    wider = copy.deepcopy(TINY)
    wider["phase"]["sigma_w2"].append(256.0)
    assert phase.column_param(wider, "centred", "16") == param and ("centred", "256") in phase.columns(wider)
    assert phase.runtime(TINY) >= 10 and phase.mem_mb(TINY) >= 1500
    assert StudyLayout("s").phase_column("centred", "16") == "results/s/phase/columns/centred_sw16.parquet"


def test_a_column_trains_each_run_and_scores_it_on_training_images_not_validation():
    """Labels a depth-1 or -2 network learns in 50 steps, validation labels shuffled: the recorded train accuracy is
    that of training images (1.0), the validation one chance-like; every run of the column, reproducibly."""
    data = {"train": blocks(200, 0), "validation": blocks(100, 1, shuffle=True)}
    param = phase.column_param(TINY, "centred", "16")
    table = phase_training.measure(param, data, log=lambda _: None)
    assert list(table.columns) == phase.COLUMNS and table["depth"].tolist() == [1, 2]
    assert table["centred"].all() and (table["sigma_w2"] == 16.0).all() and (table["lr"] == 1.0).all()
    assert (table["steps"] == 5 * 10).all() and (table["sample_images"] == 200).all()  # fewer than 5,000: all
    assert (table["train_acc"] == 1.0).all() and (table["val_acc"] < 0.3).all() and not table["diverged"].any()
    again = phase_training.measure(param, data, log=lambda _: None)
    pd.testing.assert_frame_equal(table.drop(columns="seconds"), again.drop(columns="seconds"))


def table_rows(centred: bool, sigma_w2: float, depths=(1, 2)) -> pd.DataFrame:
    rows = [{"centred": centred, "sigma_w2": sigma_w2, "depth": d, "lr": 0.1, "seed": 0, "init": "orthogonal",
             "width": 16, "batch_size": 20, "epochs": 1, "train_images": 200, "sample_images": 200, "steps": 10,
             "train_acc": 0.5, "val_acc": 0.4, "diverged": False, "seconds": 0.1} for d in depths]  # fmt: skip
    return pd.DataFrame(rows, columns=phase.COLUMNS)


def test_the_columns_are_gathered_sorted_and_every_table_is_read_back_checked(tmp_path):
    paths = [str(tmp_path / "b.parquet"), str(tmp_path / "a.parquet")]
    write_table(paths[0], table_rows(True, 4.0, depths=(2, 1)))
    write_table(paths[1], table_rows(False, 4.0))
    gathered = phase.gather(paths, str(tmp_path / "cells.parquet"), log=lambda _: None)
    assert gathered[["centred", "depth"]].values.tolist() == [[False, 1], [False, 2], [True, 1], [True, 2]]
    pd.testing.assert_frame_equal(phase.read_table(tmp_path / "cells.parquet"), gathered)
    with pytest.raises(RecordError, match="two column tables hold the same cell"):
        phase.gather([paths[0], paths[0]], str(tmp_path / "twice.parquet"))
    write_table(tmp_path / "short.parquet", table_rows(False, 4.0).drop(columns="val_acc"))
    with pytest.raises(RecordError, match=r"short\.parquet: not a phase table .*'val_acc'.*delete it"):
        phase.read_table(tmp_path / "short.parquet")
    os.mkfifo(tmp_path / "pipe.parquet")  # reading it would wait forever: refused by what it is
    with pytest.raises(RecordError, match=r"pipe\.parquet: is a named pipe"):
        phase.read_table(tmp_path / "pipe.parquet")


def config_with(settings) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["phase"] = settings
    return validation.validate_config(config, SCHEMA)


def test_the_config_key_is_off_by_default_filled_in_when_given_and_refused_where_it_cannot_work():
    assert yaml.safe_load((ROOT / "config.yaml").read_text())["phase"] is None
    assert config_with(None)["phase"] is None
    filled = config_with({"sigma_w2": [4, 16]})["phase"]
    assert filled == {"sigma_w2": [4, 16], "depths": [10, 30, 100], "centred": [False, True], "init": "orthogonal",
                      "learning_rates": [0.1, 1.0], "epochs": 2, "seeds": [0]}  # fmt: skip
    with pytest.raises(validation.ConfigError, match=r"phase\.sigma_w2: .* named alike in paths"):
        config_with({"sigma_w2": [1.0, 1.0000001]})
    with pytest.raises(validation.ConfigError, match=r"`phase\.depths\.0`: 0 is less than the minimum"):
        config_with({"depths": [0]})
    with pytest.raises(validation.ConfigError, match=r"`phase\.seed` is not a known key.*did you mean `seeds`"):
        config_with({"seed": [1]})
