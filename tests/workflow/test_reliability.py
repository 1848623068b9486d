"""Killed jobs resume, a killed Snakemake leaves no trainer behind, diverging runs are reported, and a second
workflow in the same folder is locked out."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT
from workflow_helpers import SNAKEMAKE, copy_project, snakemake

from vanishing_gradients import compare

pytestmark = pytest.mark.e2e

SMALL = {
    "study": "small",
    "data": {"subset": {"train": 12000, "validation": 1000, "test": 1000}},
    "seeds": [42],
    "baseline": {"depths": [2]},
    "selection": {"learning_rates": {"sgd": [0.01]}, "check": []},
    "training": {"epochs": 150, "width": 64},  # ~15 s: a kill lands in the middle of training
    "fixes": {},
    "init_flow": {"depths": [2, 3], "seeds": [0], "batches": 1},
}
RUN = "runs/fashion_mnist/baseline/sigmoid/lr0.01/depth2/seed42"
TARGET = f"results/small/{RUN}/metrics.csv"
STATE = f"results/small/checkpoints/{RUN}"


def project_with(tmp_path, config):
    workdir = copy_project(tmp_path)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir


def train_processes(workdir):
    out = subprocess.run(["pgrep", "-f", f"{workdir}/.snakemake/scripts/.*train.py"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The run trained in one go: what every interrupted and resumed run must end with."""
    reference = project_with(tmp_path_factory.mktemp("reference"), SMALL)
    snakemake(reference, "--cores", "1", TARGET)
    return reference


def start_and_wait_for_epochs(workdir, epochs=8):
    """Start Snakemake on TARGET (own process group) and return it once ``epochs`` epochs are checkpointed."""
    proc = subprocess.Popen(
        [SNAKEMAKE, "--cores", "1", TARGET],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    log = workdir / f"logs/small/{RUN}.log"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count("epoch ") >= epochs and train_processes(workdir):
            return proc
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("training never got going")


def assert_resumed_like_uninterrupted(workdir, reference):
    text = (workdir / f"logs/small/{RUN}.log").read_text()
    assert "resumed from" in text
    assert text.count("epoch 1/150:") == 0, "the resumed job started again from epoch 1"
    resumed = pd.read_csv(workdir / TARGET).drop(columns="seconds")
    pd.testing.assert_frame_equal(resumed, pd.read_csv(reference / TARGET).drop(columns="seconds"))
    assert compare.compare_trees(workdir / "results/small/runs", reference / "results/small/runs") == {}
    assert not (workdir / STATE).exists(), "the checkpoint is removed after success"


def test_sigkilled_training_job_resumes_and_ends_like_an_uninterrupted_run(tmp_path, uninterrupted):
    workdir = project_with(tmp_path, SMALL)
    proc = start_and_wait_for_epochs(workdir)
    for pid in train_processes(workdir):
        os.kill(pid, signal.SIGKILL)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, output
    assert not (workdir / TARGET).exists()
    assert (workdir / STATE / "checkpoint.pt").is_file(), "no checkpoint was left to resume from"

    snakemake(workdir, "--cores", "1", TARGET)
    assert_resumed_like_uninterrupted(workdir, uninterrupted)


def test_status_shows_a_running_job_and_a_killed_snakemake_leaves_no_trainer(tmp_path, uninterrupted):
    """docs/troubleshooting.md's recovery: after SIGKILL of Snakemake, `snakemake --unlock`, then `snakemake`."""
    workdir = project_with(tmp_path, SMALL)
    proc = start_and_wait_for_epochs(workdir, epochs=4)
    status = subprocess.run(
        [sys.executable, "-m", "vanishing_gradients.status"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    row = next(line for line in status.stdout.splitlines() if RUN in line)
    done, total = map(int, re.search(r"(\d+)/(\d+)", row).groups())
    assert total == 150 and 4 <= done < 150, row
    assert re.search(r"\d+\.\d%", row) and re.search(r"\d+m\d\ds", row) and row.endswith("running"), row

    trainers = train_processes(workdir)
    assert trainers
    os.kill(proc.pid, signal.SIGKILL)  # Snakemake only: its training job is not signalled
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in trainers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in trainers), "the training job outlived its Snakemake"
    log = (workdir / f"logs/small/{RUN}.log").read_text()
    assert "that started this job is gone" in log and "epoch 150/150" not in log

    locked = snakemake(workdir, "--cores", "1", "--rerun-incomplete", TARGET, check=False)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    snakemake(workdir, "--unlock")
    snakemake(workdir, "--cores", "1", "--rerun-incomplete", TARGET)
    assert_resumed_like_uninterrupted(workdir, uninterrupted)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def test_diverged_run_is_recorded_and_the_report_still_renders(tmp_path):
    config = {
        **SMALL,
        "training": {"epochs": 3, "width": 32},
        "selection": {"learning_rates": {"sgd": [1.0]}, "course_seeds": [], "check": []},  # one run each
        "fixes": {
            "exploding": {
                "depths": [2],
                "variants": {"relu_std1e8": {"activation": "relu", "init": "normal", "init_std": 1e8, "lr": 1.0}},
            }
        },
    }
    workdir = project_with(tmp_path, config)
    snakemake(workdir, "--cores", "2")
    runs = pd.read_csv(workdir / "results/small/aggregate/runs.csv").set_index("group")
    assert bool(runs.loc["exploding", "diverged"]) and runs.loc["exploding", "diverged_epoch"] >= 1
    assert not bool(runs.loc["baseline", "diverged"])
    page = (workdir / "results/small/report/report.html").read_text()
    assert "1 of 1 runs diverged" in page


def test_a_study_without_screening_selects_only_once_the_data_is_prepared(tmp_path):
    # With every rate fixed the checkpoint has no screening inputs; run beside the download it lost the rest of
    # the DAG (Snakemake 9.27, see selection.smk) and the run exited 0 having trained nothing.
    config = {**SMALL, "selection": {"learning_rates": {"sgd": [1.0]}, "course_seeds": [], "check": []}}
    workdir = project_with(tmp_path, config)
    plan = snakemake(workdir, "-n", "--cores", "2", details=True).stdout
    checkpoint = plan.split("checkpoint select_learning_rates:")[1].split("\n\n")[0]
    inputs = re.search(r"input: (.*)", checkpoint).group(1).split(", ")
    assert "results/small/data/fashion_mnist.pt" in inputs


def test_a_second_workflow_in_the_same_folder_is_locked_out(tmp_path):
    workdir = project_with(tmp_path, SMALL)
    first = subprocess.Popen(
        [SNAKEMAKE, "--cores", "1", TARGET], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while not train_processes(workdir) and time.monotonic() < deadline:
            time.sleep(0.2)
        second = snakemake(workdir, "--cores", "1", TARGET, check=False)
        assert second.returncode != 0
        assert "Directory cannot be locked" in second.stdout + second.stderr
    finally:
        first.kill()
        first.wait()


def test_a_damaged_dataset_names_the_command_that_rebuilds_it_and_the_study_then_completes(tmp_path):
    config = {**SMALL, "training": {"epochs": 2, "width": 16}}
    workdir = project_with(tmp_path, config)
    dataset = "results/small/data/fashion_mnist.pt"
    snakemake(workdir, "--cores", "1", dataset)
    (workdir / dataset).write_bytes((workdir / dataset).read_bytes()[:1000])  # truncated

    failed = snakemake(workdir, "--cores", "1", TARGET, check=False)
    assert failed.returncode != 0
    log = (workdir / f"logs/small/{RUN}.log").read_text()
    command = f"snakemake --cores 1 --force {dataset}"
    assert f"{dataset} is not a readable dataset cache" in log and command in log
    assert len(log.splitlines()) < 40, "the error is drowned in a traceback"

    snakemake(workdir, *command.split()[1:])  # the command the message names
    snakemake(workdir, "--cores", "1")
    assert (workdir / "results/small/report/report.html").is_file()
