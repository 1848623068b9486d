# Config validation, the study's paths and the input functions shared by every rule file.
import sys
from pathlib import Path

# This project's folder, from this file's own (workflow.basedir is the importing workflow's in a module).
REPO = Path(str(workflow.current_basedir)).parents[1]
sys.path.insert(0, str(REPO / "src"))  # the library, even when not pip-installed

from vanishing_gradients import specs, study
from vanishing_gradients.data import FILES as DATA_FILES

try:
    study.validate_config(config, str(REPO / "workflow/schemas/config.schema.yaml"))
except study.ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None


wildcard_constraints:
    variant=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    depth=r"\d+",
    seed=r"\d+",


# Every path comes from vanishing_gradients.layout: results/<study>/..., logs/<study>/..., benchmarks/<study>/...
# Paths of the project's own files are absolute, so that `snakemake -d <elsewhere>` finds them.
LAYOUT = study.layout(config)
RAW_FILES = [f"{LAYOUT.raw_dir()}/{name}" for name in DATA_FILES]
DATASET = LAYOUT.dataset_file()
# The library modules that compute a run: editing them retrains; editing the report code does not.
LIBRARY = REPO / "src/vanishing_gradients"
TRAINING_CODE = [
    str(LIBRARY / f"{name}.py") for name in ("data", "specs", "models", "gradstats", "training", "measures", "outputs")
]


def run_pattern(group):
    """The run identity of a rule that trains ``group``, with the variant, depth and seed left as wildcards."""
    return LAYOUT.run(group, "{variant}", "{depth}", "{seed}")


def run_outputs(group):
    """The files every run writes (layout.RUN_OUTPUTS), plus its TensorBoard folder when asked for."""
    outputs = run_pattern(group).outputs()
    if config["tensorboard"]:
        outputs["tensorboard"] = directory(run_pattern(group).tensorboard_dir)
    return outputs


def run_files(kind):
    """One file per run the config asks for (``kind``: an output name, or benchmark), in the study's run order."""
    if kind == "benchmark":
        return [run.benchmark for run in study.runs(config)]
    return [run.outputs()[kind] for run in study.runs(config)]


def run_id(group):
    """Params function: the run's identity as JSON (summary.json carries it; aggregate reads it from there)."""
    return lambda wildcards: LAYOUT.run(group, wildcards.variant, int(wildcards.depth), int(wildcards.seed)).to_json()


def run_spec(group):
    """Params function: the run's full settings as sorted JSON, so a changed setting reruns only its runs."""
    return lambda wildcards: study.spec_param(config, group, wildcards.variant, wildcards.depth, wildcards.seed)


def _train_spec(group, wildcards):
    return study.train_spec(config, group, wildcards.variant, int(wildcards.depth), int(wildcards.seed))


def train_runtime(group):
    """Minutes for SLURM: measured ~1.5 s per epoch on one CPU thread for a 7x128 MLP, plus headroom."""

    def minutes(wildcards):
        spec = _train_spec(group, wildcards)
        return 10 + int(specs.total_epochs(spec) * 2.5 / 60 * max(1.0, spec.model.depth / 7))

    return minutes


def train_priority(group):
    """Longest runs first (total epochs x depth): the 700-epoch train-some-layers run starting last would
    leave the other cores idle while it finishes."""

    def priority(wildcards):
        spec = _train_spec(group, wildcards)
        return specs.total_epochs(spec) * spec.model.depth

    return priority


GPU = 1 if config["device"] == "cuda" else 0
