# Config validation, the study's paths and the input functions shared by every rule file.
import os
import shutil
import sys
from pathlib import Path

# This project's folder, from this file's own (workflow.basedir is the importing workflow's in a module).
REPO = Path(str(workflow.current_basedir)).parents[1]
sys.path.insert(0, str(REPO / "src"))  # the library, even when not pip-installed

from vanishing_gradients import codehash, datasets, resources, selection, specs, storage, study, validation

try:
    validation.validate_config(config, str(REPO / "workflow/schemas/config.schema.yaml"))
except study.ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None


wildcard_constraints:
    variant=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    lr=r"[0-9][0-9.e+-]*",
    depth=r"\d+",
    seed=r"\d+",


# Every path comes from vanishing_gradients.layout: results/<study>/..., logs/<study>/..., benchmarks/<study>/...
# Paths of the project's own files are absolute, so that `snakemake -d <elsewhere>` finds them.
LAYOUT = study.study_layout(config)
DATASET_RECORD = datasets.of(config)  # the dataset's record (data.name): its files, shapes, classes, mirrors
RAW_FILES = [f"{LAYOUT.raw_dir()}/{name}" for name in DATASET_RECORD.files]
DATASET = LAYOUT.dataset_file()
# Reruns go by content, never by a file's time (docs/reruns.md). Each rule's code is a `code` param: the
# hash of its script and of the library modules that script imports (codehash), so an edit of the training code
# retrains and an edit of the report code reruns only the report; the download has none (its files are checked
# against fixed checksums, so its code cannot change them). What a run's data is comes as the `data` param too
# (the raw checksums, the split settings and the hash of the code that prepares it). The raw files are ancient
# inputs of prepare_dataset (data.smk); the dataset cache is a plain input, compared by checksum when it is newer
# (the profiles' max-checksum-file-size), so a cache prepared again with the same content retrains nothing.
SCRIPTS = REPO / "scripts"
# Each hash leaves out the records of datasets other than the study's: registering another one reruns nothing.
_OWN = {"dataset": DATASET_RECORD.name}
CODE = {
    "prepare": codehash.code_hash(SCRIPTS / "prepare.py", **_OWN),
    "train": codehash.code_hash(SCRIPTS / "train.py", **_OWN),
    "init_flow": codehash.code_hash(SCRIPTS / "init_flow.py", **_OWN),
    "phase": codehash.code_hash(SCRIPTS / "phase_diagram.py", **_OWN),
    "select": codehash.code_hash(SCRIPTS / "select.py", **_OWN),
    "aggregate": codehash.code_hash(SCRIPTS / "aggregate.py", **_OWN),
    "report": codehash.code_hash(
        SCRIPTS / "render_report.py", REPO / "reports/report.ipynb", REPO / "reports/offline.html.j2", **_OWN
    ),
}
DATA = study.data_param(config, DATASET_RECORD.files, CODE["prepare"])


def run_pattern(phase, group):
    """The run identity that a training job of ``group`` in ``phase`` fills in: variant, lr, depth, seed as wildcards."""
    return LAYOUT.run(phase, group, "{variant}", "{lr}", "{depth}", "{seed}")


def run_outputs(phase, group):
    """The files every run writes (registry.RUN), plus its TensorBoard folder when asked for."""
    outputs = run_pattern(phase, group).outputs()
    if config["tensorboard"] and phase == study.FINAL:
        outputs["tensorboard"] = directory(run_pattern(phase, group).tensorboard_dir)
    return outputs


ROUNDS = config["selection"]["extend"]["times"]  # selection rounds after the first: each may extend a grid's edge
EXPECTED_RATES = study.expected_rates(config)  # what a rate table read back may hold (selection.read_table)
SCREENED = bool(study.screened_rates(config))  # False: every grid holds one rate, nothing is screened


def round_table(round_):
    """The rate table of a selection round (a checkpoint: known once the round has run)."""
    return checkpoints.select_learning_rates.get(round=round_).output[0]


def screen_rates(round_):
    """Every screened configuration's rates in a selection round: the grid, then each round's extensions."""
    if round_ == 0:
        return study.screened_rates(config)
    return selection.screened(round_table(round_ - 1), EXPECTED_RATES)


def screening_runs():
    """Every screening run of the study: those of its last selection round (which screens all earlier ones')."""
    return study.screening_runs(config, rates=screen_rates(ROUNDS)) if SCREENED else []


def final_runs():
    """The full-budget runs: known once every configuration's rate is chosen (the last round's table). A study
    that screens nothing knows them up front, so `snakemake -n` lists its training jobs."""
    if not SCREENED:
        return study.final_runs(config, study.provisional_choice(config))
    return study.final_runs(config, selection.read(round_table(ROUNDS), EXPECTED_RATES))


def screen_files(kind):
    """Input function of a selection round: one file (``kind``: an output name) per screening run it reads."""

    def files(wildcards):
        runs = study.screening_runs(config, rates=screen_rates(int(wildcards.round))) if SCREENED else []
        return [run.outputs()[kind] for run in runs]

    return files


def run_files(kind, phase):
    """Input function: one file per run of ``phase`` (``kind``: an output name, or benchmark), in a stable order."""

    def files(wildcards):
        runs = screening_runs() if phase == study.SCREEN else final_runs()
        return [run.benchmark if kind == "benchmark" else run.outputs()[kind] for run in runs]

    return files


def every_run_output(wildcards):
    """Input function of `all`: every file of every run, screening and final."""
    return [path for run in screening_runs() + final_runs() for path in run.outputs().values()]


def copy_checked_rates(source, target, log):
    """The study's rate table: the last round's, read back with every check, written atomically; the log says
    what was chosen (one line per configuration)."""
    table = selection.read_table(source, EXPECTED_RATES)
    with storage.atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    lines = [selection.describe(row) for row in table.itertuples()]
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text("\n".join([f"{target}, from {source}:", *lines]) + "\n")


def _run(phase, group, wildcards):
    """The run a job of this rule trains, its learning rate the configured float that the path names."""
    lr = study.lr_of(config, group, wildcards.variant, wildcards.lr)
    return LAYOUT.run(phase, group, wildcards.variant, lr, int(wildcards.depth), int(wildcards.seed))


def run_id(phase, group):
    """Params function: the run's identity as JSON (summary.json carries it; aggregate reads it from there)."""
    return lambda wildcards: _run(phase, group, wildcards).to_json()


def run_spec(phase, group):
    """Params function: the run's full settings as sorted JSON, so a changed setting reruns only its runs."""
    return lambda wildcards: study.spec_param(config, _run(phase, group, wildcards))


def train_runtime(phase, group):
    """Minutes for SLURM: 10 + 2.5 s per epoch and stage, scaled by depth/7, well above the epoch times measured on
    one CPU thread (the numbers: docs/cluster.md and docs/performance.md)."""

    def minutes(wildcards):
        spec = study.spec_of(config, _run(phase, group, wildcards))
        return 10 + int(specs.total_epochs(spec) * 2.5 / 60 * max(1.0, spec.model.depth / 7))

    return minutes


def train_priority(phase, group):
    """The screen first (the final runs wait for its choice), then the longest runs (total epochs x depth): the
    700-epoch train-some-layers run starting last would leave the other cores idle while it finishes."""

    def priority(wildcards):
        spec = study.spec_of(config, _run(phase, group, wildcards))
        return specs.total_epochs(spec) * spec.model.depth + (10**6 if phase == study.SCREEN else 0)

    return priority


def on_command_line(*options):
    """The rules and files given after any of ``options`` (e.g. -R, --forcerun) on the snakemake command line, in
    order. Read from sys.argv: Snakemake reads the Snakefile before its own settings are at hand."""
    named, taking = [], False
    for arg in sys.argv[1:]:
        option, equals, value = arg.partition("=")
        if equals and option in options:
            named.append(value)
        taking = arg in options or (taking and not arg.startswith("-"))
        if taking and not arg.startswith("-"):
            named.append(arg)
    return named


def job_message(text):
    """A job's one line on the terminal; with VG_JOB_DETAILS=1 in the environment, none, so that Snakemake prints
    each job's inputs, outputs, log, wildcards and priority instead (a dry run to debug the plan)."""
    return None if os.environ.get("VG_JOB_DETAILS") else text


GPU = 1 if config["device"] == "cuda" else 0
