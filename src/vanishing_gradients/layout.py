"""One run identity, and where every file of a study lives (torch-free: the Snakefile builds its paths here).

A run is (study, dataset, group, variant, depth, seed). Every path of a run is built from all six, so two
runs never share a file, and every study writes only under ``results/<study>/``, ``logs/<study>/`` and
``benchmarks/<study>/``: a smoke or course study never touches the default study's results. The only files
studies share are the downloaded raw data, which is verified by content and never changes.

Paths are relative to Snakemake's working directory. Pass wildcard strings (``"{variant}"``) for the parts a
rule leaves open to get the rule's path patterns from the same code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from . import datasets, registry
from .safe_read import UnreadableFile, read_json

RESULTS, LOGS, BENCHMARKS = "results", "logs", "benchmarks"
DOWNLOADS = "downloads"  # results/downloads/<dataset>/: the raw files every study shares
RESERVED_STUDY_NAMES = (DOWNLOADS,)
AGGREGATE = "aggregate"  # results/<study>/aggregate/: the tables of registry.aggregate()


def report_tables(study_dir: str | Path) -> dict[str, str]:
    """Every table the report reads (``registry.report()``), by name, below a study's results folder."""
    return {
        **{t.name: f"{study_dir}/{AGGREGATE}/{t.file}" for t in registry.aggregate()},
        **{t.name: f"{study_dir}/{t.file}" for t in registry.STUDY},
    }


def optional_tables(study_dir: str | Path) -> dict[str, str]:
    """The tables only some studies have (``registry.OPTIONAL``), by name, below a study's results folder."""
    return {t.name: f"{study_dir}/{t.file}" for t in registry.OPTIONAL}


def checkpoints_dir(study: str) -> str:
    """The folder of a study's runs in training: each run's state below it (``RunId.checkpoint_dir``)."""
    return f"{RESULTS}/{study}/checkpoints"


class RecordError(ValueError):
    """A record read back that is not what its path says it is; the message names the file and the remedy."""


RETRAIN = "delete the run's folder and run snakemake again to train it anew"


def read_summary(path: str | Path, required: tuple[str, ...] = ()) -> dict:
    """A run's summary.json, checked: a regular file of bounded size that parses, holding the keys ``required``
    (and ``run``), and the record of the run its path belongs to (a summary copied into another run's folder is
    refused: it would count one run twice and another not at all)."""
    try:
        summary = read_json(path)
        run = RunId(**summary["run"])
        missing = [key for key in required if key not in summary]
    except (UnreadableFile, KeyError, TypeError, AttributeError) as err:
        raise RecordError(f"{path}: not a run's summary ({type(err).__name__}: {err}); {RETRAIN}") from None
    if missing:
        raise RecordError(f"{path}: the summary lacks {missing}; {RETRAIN}")
    if Path(run.outputs()["summary"]).resolve() != Path(path).resolve():
        raise RecordError(f"{path}: this is the record of another run ({run.key} of study {run.study}); {RETRAIN}")
    return summary


def lr_name(lr: float | str) -> str:
    """A learning rate as a path names it: 0.01 -> "0.01", 0.0001 -> "0.0001", 3e-05 -> "3e-05"."""
    return lr if isinstance(lr, str) else f"{lr:g}"


@dataclass(frozen=True)
class RunId:
    study: str
    dataset: str
    phase: str  # "runs" (the full budget) or "screen" (the learning-rate screen)
    group: str  # "baseline" or a fix name
    variant: str  # "sigmoid" for the baseline, or a fix variant's name
    lr: float | str  # the learning rate (a wildcard string in a rule's pattern)
    depth: int | str  # hidden layers
    seed: int | str

    @property
    def key(self) -> str:
        """The run's path below its study, unique among all runs: phase/dataset/group/variant/lr/depth/seed."""
        return (
            f"{self.phase}/{self.dataset}/{self.group}/{self.variant}/lr{lr_name(self.lr)}"
            f"/depth{self.depth}/seed{self.seed}"
        )

    @property
    def run_dir(self) -> str:
        return f"{RESULTS}/{self.study}/{self.key}"

    def outputs(self) -> dict[str, str]:
        """Every file the run writes (``registry.RUN``), by name."""
        return {t.name: f"{self.run_dir}/{t.file}" for t in registry.RUN}

    @property
    def log(self) -> str:
        return f"{LOGS}/{self.study}/{self.key}.log"

    @property
    def benchmark(self) -> str:
        return f"{BENCHMARKS}/{self.study}/{self.key}.tsv"

    @property
    def checkpoint_dir(self) -> str:
        """State while training: the checkpoint, the run lock and the progress file. Removed when the run ends."""
        return f"{checkpoints_dir(self.study)}/{self.key}"

    @property
    def tensorboard_dir(self) -> str:
        return f"{RESULTS}/{self.study}/tensorboard/{self.key}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, keys: dict) -> RunId:
        run = cls(**{f.name: keys[f.name] for f in fields(cls)})
        return cls(**{**asdict(run), "lr": float(run.lr), "depth": int(run.depth), "seed": int(run.seed)})

    @classmethod
    def from_json(cls, text: str) -> RunId:
        return cls.from_dict(json.loads(text))


RUN_KEYS = [f.name for f in fields(RunId)]


@dataclass(frozen=True)
class StudyLayout:
    """The files of one study that are not a run's."""

    study: str
    dataset: str = datasets.DEFAULT

    def raw_dir(self) -> str:
        return f"{RESULTS}/{DOWNLOADS}/{self.dataset}"

    def download_log(self) -> str:
        return f"{LOGS}/{DOWNLOADS}/{self.dataset}.log"

    def download_benchmark(self) -> str:
        return f"{BENCHMARKS}/{DOWNLOADS}/{self.dataset}.tsv"

    def dataset_file(self) -> str:
        return f"{RESULTS}/{self.study}/data/{self.dataset}.pt"

    def report_tables(self) -> dict[str, str]:
        """The tables of ``registry.report()`` by name: the aggregate's, then the study's own."""
        return report_tables(f"{RESULTS}/{self.study}")

    def aggregate(self) -> dict[str, str]:
        """The aggregate's outputs (``registry.aggregate()``) by name."""
        return {t.name: self.report_tables()[t.name] for t in registry.aggregate()}

    def study_tables(self) -> dict[str, str]:
        """The study's tables that are no run's and not the aggregate's (``registry.STUDY``) by name."""
        return {t.name: self.report_tables()[t.name] for t in registry.STUDY}

    def init_flow(self) -> str:
        return self.study_tables()["init_flow"]

    def phase(self) -> str:
        """The phase diagram's table (``registry.PHASE``), gathered from its columns."""
        return optional_tables(f"{RESULTS}/{self.study}")["phase"]

    def phase_column(self, centring, sigma_w2) -> str:
        """One column's cells (a centring and a sigma_w^2: one job), before they are gathered."""
        return f"{Path(self.phase()).parent}/columns/{centring}_sw{sigma_w2}.parquet"

    def report_dir(self) -> str:
        return f"{RESULTS}/{self.study}/report"

    def log(self, name: str) -> str:
        return f"{LOGS}/{self.study}/{name}"

    def benchmark(self, name: str) -> str:
        return f"{BENCHMARKS}/{self.study}/{name}.tsv"

    def run(self, phase: str, group: str, variant, lr, depth, seed) -> RunId:
        return RunId(self.study, self.dataset, phase, group, variant, lr, depth, seed)

    def selection(self) -> str:
        """Each configuration's learning rate, chosen on the screen's validation accuracy (the last round's)."""
        return self.study_tables()["selection"]

    def selection_round(self, round_) -> str:
        """The rate table of one selection round (0: the declared grid; each later one adds the extensions)."""
        return f"{Path(self.selection()).parent}/round{round_}.csv"
