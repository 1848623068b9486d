"""The dataset as one record: Fashion-MNIST's facts in one place, and a second dataset registered by a test
going through the workflow's own scripts (download, prepare, train) without a change to any other module."""

import hashlib
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, idx_bytes, merged_config, write_gz
from snakemake.iocontainers import Namedlist
from snakemake.utils import update_config

from vanishing_gradients import data, datasets, specs, study, validation
from vanishing_gradients.datasets import FASHION_MNIST, Dataset, RawFile
from vanishing_gradients.report.model import ReportData
from vanishing_gradients.report.outline import report_title
from vanishing_gradients.study import ConfigError

SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")


def test_fashion_mnist_is_the_default_record():
    assert datasets.DEFAULT == FASHION_MNIST.name == "fashion_mnist"
    assert FASHION_MNIST.image_shape == (28, 28) and FASHION_MNIST.in_features == 784
    assert FASHION_MNIST.num_classes == 10 and (FASHION_MNIST.train_size, FASHION_MNIST.test_size) == (60000, 10000)
    model = specs.ModelSpec(depth=3)
    assert FASHION_MNIST.model_shape() == {"in_features": model.in_features, "classes": model.classes}
    schema = yaml.safe_load(Path(SCHEMA).read_text())
    assert schema["properties"]["data"]["properties"]["name"]["default"] == datasets.DEFAULT
    config = validation.validate_config(merged_config(), SCHEMA)
    assert config["data"]["name"] == datasets.DEFAULT and config["data"]["mirrors"] == list(FASHION_MNIST.mirrors)
    assert study.study_layout(config).dataset == "fashion_mnist"  # existing results keep their paths


def test_a_record_whose_files_do_not_fit_is_refused():
    files = {"i": RawFile("0" * 64, (5, 4, 4)), "l": RawFile("0" * 64, (6,))}
    with pytest.raises(ValueError, match=r"train images \(5, 4, 4\) and labels \(6,\) do not match"):
        Dataset("x", "X", files, train=("i", "l"), test=("i", "l"), class_names=("a",), mirrors=())
    with pytest.raises(ValueError, match="'t' is not one of its files"):
        Dataset("x", "X", files, train=("t", "l"), test=("i", "l"), class_names=("a",), mirrors=())


def tiny_dataset(mirror: Path) -> Dataset:
    """Three classes of 8x6 images, 60 to train and 20 to test, its own file names: IDX files in ``mirror``."""
    rng = np.random.default_rng(1)
    names = {"train": ("tiny-train-x.gz", "tiny-train-y.gz"), "test": ("tiny-test-x.gz", "tiny-test-y.gz")}
    files = {}
    for split, n in (("train", 60), ("test", 20)):
        labels = rng.integers(0, 3, n)
        images = rng.integers(0, 60, (n, 8, 6)) + 150 * (np.arange(8)[None, :, None] // 3 == labels[:, None, None])
        for name, array in zip(names[split], (images, labels), strict=True):
            payload = idx_bytes(array)
            write_gz(mirror / name, payload)
            files[name] = RawFile(hashlib.sha256(payload).hexdigest(), array.shape)
    return Dataset(
        name="tiny",
        title="Tiny",
        files=files,
        train=names["train"],
        test=names["test"],
        class_names=("top", "middle", "bottom"),
        mirrors=(str(mirror),),
        offline_hint="Tiny is made by the test.",
    )


def run_script(name: str, config: dict, **parts) -> None:
    """Run a rule's script as Snakemake does: a ``snakemake`` object with its input, output, params and log
    (each a list of files or a mapping of names to values)."""

    class Job:
        scriptdir = str(ROOT / "scripts")
        threads = 1

    job = Job()
    job.config = config
    for part in ("input", "output", "params", "log"):
        given = parts.get(part, {})
        setattr(job, part, Namedlist(toclone=given) if isinstance(given, list) else Namedlist(fromdict=given))
    scripts = str(ROOT / "scripts")
    if scripts not in sys.path:  # as Snakemake's preamble does, so that a script finds scripts/_vg_src
        sys.path.insert(0, scripts)
    runpy.run_path(str(ROOT / "scripts" / name), init_globals={"snakemake": job})


def test_a_second_dataset_runs_through_the_same_code(tmp_path, monkeypatch):
    tiny = tiny_dataset(tmp_path / "mirror")
    monkeypatch.setitem(datasets.DATASETS, tiny.name, tiny)  # the one registration
    monkeypatch.chdir(tmp_path)
    config = merged_config("tests/smoke.yaml")
    tiny_study = {"name": "tiny", "validation_size": 12, "subset": None}
    update_config(config, {"study": "tiny-study", "data": tiny_study, "training": {"width": 8}})
    config = validation.validate_config(config, SCHEMA)
    assert config["data"]["mirrors"] == [str(tmp_path / "mirror")]  # the record's mirrors by default
    where = study.study_layout(config)
    assert where.raw_dir() == "results/downloads/tiny" and where.dataset_file() == "results/tiny-study/data/tiny.pt"

    raw = [f"{where.raw_dir()}/{name}" for name in tiny.files]
    run_script("download.py", config, output=raw, log=["logs/download.log"])
    assert all(Path(path).is_file() for path in raw)
    params = {key: config["data"][key] for key in ("validation_size", "split_seed", "subset")}
    run_script("prepare.py", config, input={"raw": raw}, output=[where.dataset_file()], params=params,
               log=["logs/prepare.log"])  # fmt: skip
    splits = data.load_dataset(where.dataset_file())
    assert {k: tuple(v.images.shape) for k, v in splits.items()} == {"train": (48, 48), "validation": (12, 48),
                                                                     "test": (20, 48)}  # fmt: skip
    assert int(max(s.labels.max() for s in splits.values())) == 2

    run = study.screening_runs(config)[0]
    spec = study.spec_of(config, run)
    assert (spec.model.in_features, spec.model.classes) == (48, 3) and "/tiny/" in run.key
    outputs = run.outputs()
    params = {"run": run.to_json(), "spec": study.spec_param(config, run), "device": "cpu", "code": "test"}
    run_script("train.py", config, input={"data": where.dataset_file()}, output=outputs, params=params,
               log=[run.log])  # fmt: skip
    metrics = pd.read_csv(outputs["metrics"])
    assert len(metrics) == spec.epochs and metrics["val_acc"].between(0, 1).all()
    assert json.loads(Path(outputs["summary"]).read_text())["run"]["dataset"] == "tiny"
    assert all(s.model.in_features == 48 for _, _, s in study.init_flow_specs(config))

    shown = ReportData(*(pd.DataFrame() for _ in range(5)), config=config)
    assert report_title(shown).endswith("on Tiny") and shown.chance == pytest.approx(1 / 3)


def test_a_validation_split_the_dataset_cannot_hold_is_refused(tmp_path, monkeypatch):
    tiny = tiny_dataset(tmp_path)
    monkeypatch.setitem(datasets.DATASETS, tiny.name, tiny)
    config = merged_config()
    config["data"].update(name="tiny", validation_size=60)
    with pytest.raises(ConfigError, match=r"`data.validation_size`: 60 leaves no training images: tiny has 60"):
        validation.validate_config(config, SCHEMA)
