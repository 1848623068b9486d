# Config validation and input functions shared by every rule file.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # the library, even when not pip-installed

from vanishing_gradients import study
from vanishing_gradients.data import FILES as DATA_FILES

try:
    study.validate_config(config, str(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"))
except study.ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None


wildcard_constraints:
    group=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    variant=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    depth=r"\d+",
    seed=r"\d+",


DATASET = "results/data/fashion_mnist.pt"
RAW_FILES = [f"results/data/raw/{name}" for name in DATA_FILES]
RUN_DIR = "results/runs/{group}/{variant}/depth{depth}/seed{seed}"
# The library modules that compute a run: editing them retrains; editing the report code does not.
LIBRARY = Path(workflow.basedir) / "src/vanishing_gradients"
TRAINING_CODE = [str(LIBRARY / f"{name}.py") for name in ("data", "specs", "models", "gradstats", "training", "results")]


def run_outputs(group):
    """The five files every run writes, for a rule that trains runs of ``group``."""
    run_dir = RUN_DIR.replace("{group}", group)
    return {
        "metrics": f"{run_dir}/metrics.csv",
        "grad_steps": f"{run_dir}/grad_steps.parquet",
        "grad_epochs": f"{run_dir}/grad_epochs.parquet",
        "summary": f"{run_dir}/summary.json",
        "model": f"{run_dir}/model.pt",
    }


def run_files(kind, prefix="results/runs"):
    """One file per run the config asks for (``kind``: summary, benchmark), in the study's run order."""
    if kind == "benchmark":
        return [f"benchmarks/train/{run.path}.tsv" for run in study.runs(config)]
    return [f"{prefix}/{run.path}/{kind}" for run in study.runs(config)]


def run_spec(group):
    """Params function: the run's full settings as sorted JSON, so a changed setting reruns only its runs."""
    return lambda wildcards: study.spec_param(config, group, wildcards.variant, wildcards.depth, wildcards.seed)


def _train_spec(group, wildcards):
    return study.train_spec(config, group, wildcards.variant, int(wildcards.depth), int(wildcards.seed))


def train_runtime(group):
    """Minutes for SLURM: measured ~1.5 s per epoch on one CPU thread for a 7x128 MLP, plus headroom."""

    def minutes(wildcards):
        spec = _train_spec(group, wildcards)
        return 10 + int(study.total_epochs(spec) * 2.5 / 60 * max(1.0, spec.model.depth / 7))

    return minutes


def train_priority(group):
    """Longest runs first (total epochs x depth): the 700-epoch train-some-layers run starting last would
    leave the other cores idle while it finishes."""

    def priority(wildcards):
        spec = _train_spec(group, wildcards)
        return study.total_epochs(spec) * spec.model.depth

    return priority


GPU = 1 if config["device"] == "cuda" else 0
