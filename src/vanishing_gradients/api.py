"""Reuse a finished study from Python: ``load_run`` (one trained model with its tables) and ``load_study``.

    import vanishing_gradients as vg

    run = vg.load_run("results/default/runs/fashion_mnist/baseline/sigmoid/lr1/depth7/seed42")
    run.model                  # the trained MLP, in eval mode, on the CPU
    run.summary["test_acc"]    # summary.json as a dict; run.spec: its settings (specs.TrainSpec)
    run.metrics, run.grad_steps, run.grad_epochs   # the run's tables (pandas)
    run.predict(images)        # class per image: uint8 (N, 784) or (N, 28, 28), or floats in [0, 1]
    run.evaluate()             # {"loss", "acc"} on the test split of the study's dataset file

    study = vg.load_study("results/default")   # or results/default/aggregate
    study.runs                 # one row per run; study.metrics, study.grad_steps, study.grad_epochs

The model is built as training built it (``models.MLP`` from the run's spec) and fed pixels scaled to [0, 1]
as in training. torch is imported only when a model is loaded, so ``load_study`` works without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import datasets, registry
from .storage import read_table
from .study import FINAL, SCREEN


def _tables(folder: Path, tables) -> dict[str, pd.DataFrame]:
    """Every table among ``tables`` (``registry.Table``s) that ``folder`` holds, by name."""
    return {t.name: read_table(folder / t.file) for t in tables if t.tabular and (folder / t.file).is_file()}


class _Tables:
    """The tables every run has, and that a study's aggregate concatenates, by name."""

    tables: dict[str, pd.DataFrame]

    @property
    def metrics(self) -> pd.DataFrame:
        return self.tables["metrics"]

    @property
    def grad_steps(self) -> pd.DataFrame:
        return self.tables["grad_steps"]

    @property
    def grad_epochs(self) -> pd.DataFrame:
        return self.tables["grad_epochs"]


@dataclass
class Run(_Tables):
    """A finished run: its folder, summary.json, settings, trained model and tables (by output name)."""

    path: Path
    summary: dict
    spec: object  # specs.TrainSpec
    model: object  # models.MLP (torch.nn.Module), eval mode, CPU
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def dataset_file(self) -> Path:
        """The study's cached dataset, ``results/<study>/data/<dataset>.pt``, above the run's ``runs/`` (or
        ``screen/``) folder."""
        dataset = self.summary.get("run", {}).get("dataset", datasets.DEFAULT)
        for parent in self.path.resolve().parents:
            if parent.name in (FINAL, SCREEN):
                return parent.parent / "data" / f"{dataset}.pt"
        raise FileNotFoundError(f"{self.path} is not below a study's runs/ or screen/ folder: pass the dataset file")

    def predict(self, images):
        """The predicted class of each image (a torch tensor of class indices)."""
        import torch

        from .training import pixels

        x = torch.as_tensor(images)
        x = x.reshape(len(x), -1)
        x = pixels(x) if x.dtype == torch.uint8 else x.to(torch.float32)
        with torch.inference_mode():
            return self.model(x).argmax(1)

    def evaluate(self, dataset: str | Path | None = None, split: str = "test") -> dict[str, float]:
        """Mean loss and accuracy over a split of the dataset file (default: the run's own study's), computed
        as training computed the recorded ``test_loss`` and ``test_acc``."""
        from .data import load_dataset
        from .training import evaluate

        data = load_dataset(dataset if dataset is not None else self.dataset_file())[split]
        loss, acc = evaluate(self.model, data.images, data.labels)
        return {"loss": loss, "acc": acc}


def load_run(path: str | Path) -> Run:
    """Load a run folder (summary.json, model.pt and the run's tables) with its model ready to use."""
    import torch

    from . import specs
    from .models import MLP

    path = Path(path)
    summary_file = path / registry.SUMMARY.file
    if not summary_file.is_file():
        raise FileNotFoundError(f"{path} is not a finished run: it has no {registry.SUMMARY.file}")
    summary = json.loads(summary_file.read_text())
    spec = specs.from_param(json.dumps(summary["spec"]))
    model = MLP(spec.model)
    model.load_state_dict(torch.load(path / registry.MODEL.file, map_location="cpu", weights_only=True))
    model.eval()
    return Run(path=path, summary=summary, spec=spec, model=model, tables=_tables(path, registry.RUN))


@dataclass
class Study(_Tables):
    """A study's aggregate tables (one row per run, per epoch, per step): ``results/<study>/aggregate/``."""

    path: Path
    tables: dict[str, pd.DataFrame]

    @property
    def runs(self) -> pd.DataFrame:
        return self.tables["runs"]


def load_study(path: str | Path) -> Study:
    """Load the aggregate tables of a study: its ``results/<study>/`` folder or its ``aggregate/`` folder."""
    path = Path(path)
    folder = path / "aggregate" if (path / "aggregate").is_dir() else path
    tables = _tables(folder, registry.aggregate())
    if registry.RUNS.name not in tables:
        raise FileNotFoundError(
            f"{folder} has no {registry.RUNS.file}: give a study's results/<study>/ or its aggregate/ folder "
            "after the aggregate rule has run"
        )
    return Study(path=folder, tables=tables)
