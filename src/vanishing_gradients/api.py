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
as in training. torch is imported only when a model is loaded, so ``load_study`` works without it. Every file
is read only if it is a regular file of bounded size (``safe_read``), the spec's sizes are checked against
model.pt's before the model is built, and every error names the file.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import datasets, registry
from .safe_read import MiB, UnreadableFile, read_bytes, read_json, read_table
from .study import FINAL, NAME, SCREEN

MODEL_LIMIT = 4096 * MiB  # bytes of model.pt (the default study's largest: ~1 MB)


def _tables(folder: Path, tables) -> dict[str, pd.DataFrame]:
    """Every table among ``tables`` (``registry.Table``s) that ``folder`` holds, by name (one that is there but no
    readable table is an UnreadableFile naming it)."""
    return {t.name: read_table(folder / t.file) for t in tables if t.tabular and (folder / t.file).exists()}


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
        if not isinstance(dataset, str) or not NAME.match(dataset):  # a name, never a path out of the study
            raise ValueError(
                f"{self.path / registry.SUMMARY.file}: run.dataset {str(dataset)[:60]!r} is not a dataset name; "
                "pass the dataset file to evaluate()"
            )
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


def _summary(path: Path) -> tuple[dict, object]:
    """A run's summary and its spec (``specs.TrainSpec``), checked to be one: errors name the file."""
    from . import specs

    summary_file = path / registry.SUMMARY.file
    if not summary_file.exists():
        raise FileNotFoundError(f"{path} is not a finished run: it has no {registry.SUMMARY.file}")
    summary = read_json(summary_file)
    try:
        return summary, specs.from_param(json.dumps(summary["spec"]))
    except (KeyError, TypeError, ValueError) as err:
        raise UnreadableFile(summary_file, f"holds no valid run spec ({type(err).__name__}: {err})") from None


def _weights(path: Path, spec) -> dict:
    """model.pt's state_dict, checked against the spec's sizes before any model is built: a summary edited to a
    huge width or depth must not allocate what the weights do not hold."""
    import torch

    model_file = path / registry.MODEL.file
    try:
        state = torch.load(io.BytesIO(read_bytes(model_file, MODEL_LIMIT)), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is not a finished run: it has no {registry.MODEL.file}") from None
    except (RuntimeError, ValueError, EOFError, OSError, pickle.UnpicklingError) as err:  # a damaged archive
        if isinstance(err, UnreadableFile):
            raise
        raise UnreadableFile(model_file, f"is no saved model ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UnreadableFile(model_file, "is no state_dict (a mapping of names to tensors)")
    hidden = {key.split(".")[1] for key in state if key.startswith("hidden.")}
    first, head = state.get("hidden.0.linear.weight"), state.get("head.weight")
    held = (len(hidden), *(tuple(t.shape) if t is not None else None for t in (first, head)))
    model = spec.model
    expected = (model.depth, (model.width, model.in_features), (model.classes, model.width))
    if held != expected:
        raise UnreadableFile(
            model_file,
            f"holds {held[0]} hidden layers (first weight {held[1]}, head {held[2]}) where "
            f"{path / registry.SUMMARY.file} describes {expected[0]} (first weight {expected[1]}, head "
            f"{expected[2]}): the run's files do not belong together; train it again (snakemake --cores 1 "
            f"--force {path / registry.SUMMARY.file})",
        )
    return state


def load_run(path: str | Path) -> Run:
    """Load a run folder (summary.json, model.pt and the run's tables) with its model ready to use."""
    from .models import MLP

    path = Path(path)
    summary, spec = _summary(path)
    state = _weights(path, spec)
    model = MLP(spec.model)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:  # another norm or a missing layer: names and shapes differ
        raise UnreadableFile(
            path / registry.MODEL.file, f"does not fit the spec of {path / registry.SUMMARY.file}: {err}"
        ) from None
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
