"""Reruns go by content, never by a file's time: on two finished tiny studies that share the downloaded data, a
touch of any code file plans nothing, an edit plans exactly the jobs that run that code and what follows them,
and a download or a dataset cache made again leaves its files in place and no study out of date.

Run as a user runs it: plain `snakemake` in the project folder, which uses the workflow profile.
"""

import hashlib
import os
import shutil
import time

import pytest
from conftest import DEFAULT_FIXES
from test_codehash import ANOTHER
from workflow_helpers import copy_project, planned_jobs, snakemake

pytestmark = pytest.mark.e2e
TINY = """\
study: {study}
data: {{subset: {{train: 500, validation: 200, test: 200}}}}
seeds: [42]
baseline: {{depths: [2]}}
selection: {{learning_rates: {{sgd: [0.1]}}, check: []}}
comparison: {{reference: null}}
training: {{epochs: 1, width: 16}}
init_flow: {{depths: [2], seeds: [0], batches: 1}}
fixes: {{{fixes}}}
"""
RUN = "runs/fashion_mnist/baseline/sigmoid/lr0.1/depth2/seed42/summary.json"  # tiny-a also trains lr0.01 (the course's)
A, B = ("--configfile", "tiny-a.yaml"), (f"results/tiny-b/{RUN}", "--configfile", "tiny-b.yaml")
RAW = "results/downloads/fashion_mnist"
TRAINING = {"train_baseline": 2, "gradient_flow_at_init": 1, "aggregate": 1, "report": 1, "all": 1}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Study tiny-a finished (one run, its report) and tiny-b's run, both from the one download."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    fixes = ", ".join(f"{fix}: null" for fix in DEFAULT_FIXES)
    for name in ("a", "b"):
        (project / f"tiny-{name}.yaml").write_text(TINY.format(study=f"tiny-{name}", fixes=fixes))
    snakemake(project, "--cores", "2", *A)
    snakemake(project, "--cores", "2", *B)
    return project


def plans(project, *args) -> tuple[dict, dict]:
    """What a dry run plans for study tiny-a and for tiny-b's run."""
    return planned_jobs(project, *A, *args), planned_jobs(project, *B, *args)


class edited:
    """Append ``text`` to a file of the project for the ``with`` block, then put its content back."""

    def __init__(self, path, text="\n# an edit\n"):
        self.path, self.text = path, text

    def __enter__(self):
        self.original = self.path.read_bytes()
        self.path.write_bytes(self.original + self.text.encode())

    def __exit__(self, *exc):
        self.path.write_bytes(self.original)


def code_files(project) -> list:
    """Every file of code a rule could be said to depend on: scripts, library, notebook, template, workflow."""
    files = [*project.glob("scripts/*.py"), *project.glob("src/**/*.py"), *project.glob("reports/*")]
    files += [project / "Snakefile", *project.glob("workflow/rules/*.smk"), *project.glob("envs/*.yaml")]
    files += [project / "config.yaml", *project.glob("tiny-*.yaml")]
    return [f for f in files if f.is_file()]


def state(paths) -> dict:
    """Each file's inode and content: a file written again (even with the same bytes) gets another inode."""
    return {p: (p.stat().st_ino, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths}


def test_two_finished_studies_plan_nothing(project):
    assert plans(project) == ({}, {})


def test_without_the_profile_a_touched_download_script_reruns_the_download_and_nothing_after_it(project):
    """Without the workflow profile Snakemake's `code` trigger compares the script's time: the download job is
    planned, but no study's data is out of date because of it (the raw files are ancient inputs)."""
    os.utime(project / "scripts/download.py")
    download = {"download_fashion_mnist": 1}
    assert plans(project, "--workflow-profile", "none") == (download, download)


def test_touching_every_code_file_plans_nothing(project):
    later = time.time() + 60
    files = code_files(project)
    assert len(files) > 40
    for path in files:
        os.utime(path, (later, later))
    assert plans(project) == ({}, {})


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("src/vanishing_gradients/training.py", "\n# an edit\n"),
        ("src/vanishing_gradients/models.py", "\n\ndef unused():\n    return 0\n"),
        ("scripts/train.py", "\n# an edit\n"),
    ],
)
def test_an_edit_of_the_training_code_retrains_and_reruns_what_follows(project, path, text):
    with edited(project / path, text):
        a, b = plans(project)
    if path == "scripts/train.py":  # the script is the training rule's alone; the modules also measure init flow
        assert a == {"train_baseline": 2, "aggregate": 1, "report": 1, "all": 1}
    else:
        assert a == TRAINING
    assert b == {"train_baseline": 1}
    assert plans(project) == ({}, {})  # the content back: nothing to do, whatever the file's time


@pytest.mark.parametrize("path", ["src/vanishing_gradients/report/formats.py", "reports/report.ipynb"])
def test_an_edit_of_the_report_code_reruns_only_the_report(project, path):
    with edited(project / path, "\n" if path.endswith(".ipynb") else "\n# an edit\n"):
        assert plans(project) == ({"report": 1, "all": 1}, {})


@pytest.mark.parametrize("path", ["scripts/download.py", "src/vanishing_gradients/fetch.py"])
def test_an_edit_of_the_download_code_reruns_nothing(project, path):
    with edited(project / path):
        assert plans(project) == ({}, {})


def test_what_the_data_is_decides_it_not_when_it_was_written(project):
    """An edit of the code that prepares the data, or another split, prepares it again and retrains on it."""
    data = {"prepare_dataset": 1, **TRAINING}
    with edited(project / "src/vanishing_gradients/data.py"):
        assert plans(project) == (data, {"prepare_dataset": 1, "train_baseline": 1})
    (project / "split.yaml").write_text("data: {split_seed: 7}\n")
    assert planned_jobs(project, "--configfile", "tiny-a.yaml", "split.yaml") == data


def test_a_download_run_again_keeps_its_files_and_makes_no_study_out_of_date(project):
    """Study tiny-a forces its download: the verified files stay in place (not written again; Snakemake itself
    touches a job's outputs when it ends), prepare_dataset does not follow, and tiny-b is not out of date."""
    raw = sorted((project / RAW).glob("*.gz"))
    before = state(raw)
    forced = ("-R", "download_fashion_mnist")
    assert planned_jobs(project, *A, *forced) == {"download_fashion_mnist": 1}
    snakemake(project, "--cores", "1", *A, *forced)
    assert state(raw) == before
    assert plans(project) == ({}, {})


def test_a_forced_preparation_says_that_it_retrains_and_how_to_prepare_the_data_alone(project):
    """Issue 28, item 13: `--forcerun prepare_dataset` retrained every run though the cache came out the same.
    Snakemake reruns every job below a forced one (an ancient input would stop it, and hide the jobs below it that
    have reasons of their own): the workflow says so, and names the command that leaves the runs alone (tested
    below, test_a_dataset_cache_prepared_again_is_left_in_place_and_retrains_nothing)."""
    forced = ("-R", "prepare_dataset")
    out = snakemake(project, "-n", *A, *forced)
    assert "--forcerun prepare_dataset retrains every run of study 'tiny-a'" in out.stderr
    assert "snakemake --cores 1 --force results/tiny-a/data/fashion_mnist.pt` instead" in out.stderr
    assert "--forcerun" not in snakemake(project, "-n", *A).stderr


def test_registering_another_dataset_plans_nothing(project):
    """Issue 28, item 12: a second `register(...)` in datasets.py replanned every study (66 min for the default)."""
    with edited(project / "src/vanishing_gradients/datasets.py", ANOTHER):
        assert plans(project) == ({}, {})


def test_a_moved_project_folder_plans_nothing(project, tmp_path):
    """Issue 28, item 14: the report reran in a moved project folder (the notebook and its template were inputs
    by absolute path)."""
    moved = tmp_path / "moved"
    shutil.copytree(project, moved, symlinks=True)  # copy2: the files keep their times
    assert plans(moved) == ({}, {})


def test_a_dataset_cache_prepared_again_is_left_in_place_and_retrains_nothing(project):
    """The command docs/troubleshooting.md names for a damaged cache, on a sound one: the cache is not written again,
    and the runs that read it, though it is newer now, are not out of date (its checksum is the one they recorded).
    On a damaged one: the cache is written again, the same bytes as before, and nothing retrains either."""
    dataset = "results/tiny-a/data/fashion_mnist.pt"
    before, content = state([project / dataset]), (project / dataset).read_bytes()
    snakemake(project, "--cores", "1", *A, "--force", dataset)
    assert state([project / dataset]) == before
    assert "already holds these splits: left as it is" in (project / "logs/tiny-a/data/prepare_dataset.log").read_text()
    assert plans(project) == ({}, {})
    later = time.time() + 120
    os.utime(project / dataset, (later, later))
    assert plans(project) == ({}, {})
    (project / dataset).write_bytes(content[:1000])  # truncated
    snakemake(project, "--cores", "1", *A, "--force", dataset)
    assert (project / dataset).read_bytes() == content
    assert plans(project) == ({}, {})
