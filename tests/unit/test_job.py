"""A training job: the run lock, the progress file, clean-up, and the optional TensorBoard output."""

import json
import os
import subprocess
import sys
import time
from typing import ClassVar

import pandas as pd
import pytest
from conftest import ROOT, tiny_data

from vanishing_gradients import aggregate, data, job, progress
from vanishing_gradients.callbacks import Callback
from vanishing_gradients.layout import RunId, StudyLayout
from vanishing_gradients.procs import process_start
from vanishing_gradients.specs import ModelSpec, TrainSpec

HOLD = """
import sys, time
sys.path.insert(0, {src!r})
from pathlib import Path
from vanishing_gradients.job import run_lock
with run_lock(Path({path!r})):
    print("held", flush=True)
    time.sleep({seconds})
"""


def hold_lock(path, seconds):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(src=str(ROOT / "src"), path=str(path), seconds=seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_trainer_of_the_same_run_stops_with_a_message_naming_the_first(tmp_path):
    lock = tmp_path / "run" / "lock"
    holder = hold_lock(lock, 30)
    try:
        with pytest.raises(job.RunLockedError) as err, job.run_lock(lock, wait_s=0.5):
            pytest.fail("the lock was taken twice")
        assert f"pid {holder.pid}" in str(err.value) and "kill" in str(err.value)
    finally:
        holder.kill()
        holder.wait()
    with job.run_lock(lock, wait_s=5):  # released by the kernel when its holder died
        assert lock.exists()
    assert not lock.exists()


def test_a_second_trainer_waits_for_a_holder_that_is_ending(tmp_path):
    lock = tmp_path / "lock"
    holder = hold_lock(lock, 1.5)
    started = time.monotonic()
    with job.run_lock(lock, wait_s=30):
        waited = time.monotonic() - started
    holder.wait()
    assert waited > 0.5


@pytest.fixture
def dataset(tmp_path, monkeypatch):
    import torch

    splits = tiny_data()
    path = tmp_path / "data.pt"
    payload = {k: {"images": v.images, "labels": v.labels} for k, v in splits.items()}
    torch.save({"splits": payload, "sha256": data.splits_sha256(payload)}, path)
    monkeypatch.chdir(tmp_path)  # the job's state folder is relative to Snakemake's working directory
    return path


def test_a_job_writes_its_outputs_and_leaves_no_state_behind(dataset, tmp_path):
    run = RunId("unit", "tiny", "runs", "baseline", "sigmoid", 0.1, 2, 3)
    spec = TrainSpec(model=ModelSpec(depth=2, width=16), lr=0.1, batch_size=64, epochs=3, seed=3)
    seen = []

    def log(message):
        seen.append(message)
        if "epoch 2/3" in message:  # logged after the epoch: its progress is on disk, one epoch to go
            seen.append(progress.read(tmp_path / progress.path(run)))

    summary = job.run(run, spec, str(dataset), run.outputs(), "cpu", 1, log)
    assert summary["run"] == {
        "study": "unit",
        "dataset": "tiny",
        "phase": "runs",
        "group": "baseline",
        "variant": "sigmoid",
        "lr": 0.1,
        "depth": 2,
        "seed": 3,
    }
    written = next(m for m in seen if isinstance(m, dict))
    assert written["epochs_done"] == 2 and written["epochs_total"] == 3 and written["seconds_left"] > 0
    assert written["run"] == run.key and 0 <= written["val_acc"] <= 1
    assert written["pid"] == os.getpid() and written["pid_start"] == process_start(os.getpid())  # names the writer
    assert all((tmp_path / path).is_file() for path in run.outputs().values())
    assert not (tmp_path / run.checkpoint_dir).exists()


def test_tensorboard_event_files_hold_every_layers_gradient_norms_and_histograms(dataset, tmp_path):
    pytest.importorskip("tensorboard", reason="pip install -e '.[tensorboard]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunId("unit", "tiny", "runs", "baseline", "sigmoid", 0.1, 3, 1)
    spec = TrainSpec(model=ModelSpec(depth=3, width=16), lr=0.1, batch_size=64, epochs=4, seed=1)
    outputs = {**run.outputs(), "tensorboard": run.tensorboard_dir}
    job.run(run, spec, str(dataset), outputs, "cpu", 1, lambda m: None, tensorboard=True)
    events = EventAccumulator(str(tmp_path / run.tensorboard_dir), size_guidance={"histograms": 0}).Reload()
    layers = ["hidden1", "hidden2", "hidden3", "output"]
    epochs = pd.read_parquet(tmp_path / run.outputs()["grad_epochs"]).query("statistic == 'grad_norm'")
    for layer in layers:
        scalars = events.Scalars(f"grad_norm/{layer}")
        assert [s.step for s in scalars] == [1, 2, 3, 4]
        expected = epochs[epochs["layer"] == layer].sort_values("epoch")["value"].tolist()
        assert [s.value for s in scalars] == pytest.approx(expected, rel=1e-6)
        histograms = events.Histograms(f"gradient/{layer}")
        assert len(histograms) == 4 and histograms[-1].histogram_value.num > 0
    assert len(events.Scalars("metrics/val_acc")) == 4


class WeightMean(Callback):
    """A new statistic, defined here and nowhere else: the mean weight of each layer after the epoch."""

    statistics: ClassVar[dict[str, str]] = {"weight_mean": "mean of the layer's weights after the epoch"}

    def epoch_statistics(self, model):
        layers = model.linears()
        return {
            "layers": [name for name, _ in layers],
            "weight_mean": [float(lin.weight.detach().mean()) for _, lin in layers],
        }


def test_a_new_statistic_is_one_callback_and_lands_in_the_run_and_aggregate_tables(dataset, tmp_path):
    import torch

    run = RunId("unit", "tiny", "runs", "baseline", "sigmoid", 0.1, 2, 3)
    spec = TrainSpec(model=ModelSpec(depth=2, width=16), lr=0.1, batch_size=64, epochs=2, seed=3)
    job.run(run, spec, str(dataset), run.outputs(), "cpu", 1, lambda m: None, callbacks=[WeightMean()])
    epochs = pd.read_parquet(run.outputs()["grad_epochs"])
    assert list(epochs["statistic"].unique()) == [
        "grad_norm", "grad_abs_mean", "weight_norm", "update_ratio", "saturation", "weight_mean"
    ]  # fmt: skip
    last = epochs.query("statistic == 'weight_mean' and epoch == 2").set_index("layer")["value"]
    weights = torch.load(run.outputs()["model"], weights_only=True)
    keys = {"hidden1": "hidden.0.linear", "hidden2": "hidden.1.linear", "output": "head"}
    assert last.to_dict() == pytest.approx({name: float(weights[f"{key}.weight"].mean()) for name, key in keys.items()})
    tables = StudyLayout("unit", "tiny").aggregate()
    aggregate.aggregate([run.outputs()["summary"]], [], tables)
    assert (pd.read_parquet(tables["grad_epochs"])["statistic"] == "weight_mean").sum() == 2 * 3  # epochs x layers


def test_a_job_finds_the_snakemake_that_started_it_and_its_start_time():
    """The watch on Snakemake (``stop_with_snakemake``) knows its ancestors up to the outermost process whose command
    line names snakemake, each with its start time (psutil: the same on Linux and macOS)."""
    child = "import json; from vanishing_gradients import job; print(json.dumps(job.snakemake_ancestors()))"
    parent = "import subprocess, sys, os; print(os.getpid()); subprocess.run([sys.executable, '-c', sys.argv[1]])"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", parent, child, "not-snakemake-but-named-so"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    chain = json.loads(out[1])
    assert [pid for pid, _ in chain] == [int(out[0])] and float(chain[0][1]) <= time.time()
