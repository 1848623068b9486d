"""Killed jobs resume, diverging runs are reported, and a second workflow in the same folder is locked out."""

import os
import signal
import subprocess
import time

import pandas as pd
import pytest
import yaml
from workflow_helpers import SNAKEMAKE, copy_project, snakemake

pytestmark = pytest.mark.e2e

SMALL = {
    "study": "small",
    "data": {"subset": {"train": 12000, "validation": 1000, "test": 1000}},
    "seeds": [42],
    "baseline": {"depths": [2], "learning_rates": [0.01]},
    "training": {"epochs": 30, "width": 64},
    "fixes": {},
    "init_flow": {"depths": [2, 3], "seeds": [0], "batches": 1},
}
RUN = "fashion_mnist/baseline/lr0.01/depth2/seed42"
TARGET = f"results/small/runs/{RUN}/metrics.csv"
STATE = f"results/small/checkpoints/{RUN}"


def project_with(tmp_path, config):
    workdir = copy_project(tmp_path)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir


def train_processes(workdir):
    out = subprocess.run(["pgrep", "-f", f"{workdir}/.snakemake/scripts/.*train.py"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def test_sigkilled_training_job_resumes_and_ends_like_an_uninterrupted_run(tmp_path):
    reference = project_with(tmp_path / "reference", SMALL)
    snakemake(reference, "--cores", "1", TARGET)

    workdir = project_with(tmp_path / "killed", SMALL)
    proc = subprocess.Popen([SNAKEMAKE, "--cores", "1", TARGET], cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = workdir / f"logs/small/train/{RUN}.log"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until a few epochs are checkpointed, then SIGKILL the job
        if log.exists() and log.read_text().count("epoch ") >= 8 and train_processes(workdir):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("training never got going")
    for pid in train_processes(workdir):
        os.kill(pid, signal.SIGKILL)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, output
    assert not (workdir / TARGET).exists()
    assert (workdir / STATE / "checkpoint.pt").is_file(), "no checkpoint was left to resume from"

    snakemake(workdir, "--cores", "1", TARGET)
    text = log.read_text()
    assert "resumed from" in text
    assert text.count("epoch 1/30:") == 0, "the resumed job started again from epoch 1"
    killed = pd.read_csv(workdir / TARGET).drop(columns="seconds")
    uninterrupted = pd.read_csv(reference / TARGET).drop(columns="seconds")
    pd.testing.assert_frame_equal(killed, uninterrupted)
    assert not (workdir / STATE).exists(), "the checkpoint is removed after success"


def test_diverged_run_is_recorded_and_the_report_still_renders(tmp_path):
    config = {**SMALL, "training": {"epochs": 3, "width": 32},
              "fixes": {"exploding": {"depths": [2], "variants": {
                  "relu_std1e8": {"activation": "relu", "init": "normal", "init_std": 1e8, "lr": 1.0}}}}}
    workdir = project_with(tmp_path, config)
    snakemake(workdir, "--cores", "2")
    runs = pd.read_csv(workdir / "results/small/aggregate/runs.csv").set_index("group")
    assert bool(runs.loc["exploding", "diverged"]) and runs.loc["exploding", "diverged_epoch"] >= 1
    assert not bool(runs.loc["baseline", "diverged"])
    page = (workdir / "results/small/report/report.html").read_text()
    assert "1 of 1 runs diverged" in page


def test_a_second_workflow_in_the_same_folder_is_locked_out(tmp_path):
    workdir = project_with(tmp_path, SMALL)
    first = subprocess.Popen([SNAKEMAKE, "--cores", "1", TARGET], cwd=workdir, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
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
