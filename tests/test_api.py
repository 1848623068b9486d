"""The public API: load_run gives back the model that scored the run's recorded test accuracy; load_study
gives the aggregate tables, torch-free. Runs trained here on tiny data (the smoke study's runs: test_module.py)."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
from conftest import ROOT, tiny_data

import vanishing_gradients as vg
from vanishing_gradients import aggregate, data, job
from vanishing_gradients.layout import StudyLayout
from vanishing_gradients.specs import ModelSpec, TrainSpec

LAYOUT = StudyLayout("unit", "tiny")
SPECS = {  # a plain net, and the fixes whose models differ most from it in structure
    "plain": TrainSpec(model=ModelSpec(depth=2, width=16), lr=0.1, batch_size=64, epochs=2, seed=3),
    "batchnorm_skip": TrainSpec(
        model=ModelSpec(depth=4, width=16, activation="relu", norm="batchnorm", skips=((1, 3),)),
        optimizer="adam",
        lr=0.01,
        batch_size=64,
        epochs=2,
        seed=4,
    ),
    "standardize": TrainSpec(model=ModelSpec(depth=3, width=16, norm="standardize"), batch_size=64, epochs=2),
    "train_some_layers": TrainSpec(model=ModelSpec(depth=3, width=16), batch_size=64, epochs=1, schedule=(2, 1)),
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A study folder laid out as the workflow lays it out: results/unit/{data,runs,aggregate}/, one run per spec."""
    root = tmp_path_factory.mktemp("study")
    splits = tiny_data()
    payload = {k: {"images": v.images, "labels": v.labels} for k, v in splits.items()}
    (root / LAYOUT.dataset_file()).parent.mkdir(parents=True)
    torch.save({"splits": payload, "sha256": data.splits_sha256(payload)}, root / LAYOUT.dataset_file())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # the job's paths are relative to Snakemake's working directory
        runs = {
            name: LAYOUT.run("runs", "fix", name, spec.lr, spec.model.depth, spec.seed) for name, spec in SPECS.items()
        }
        for name, run in runs.items():
            job.run(run, SPECS[name], LAYOUT.dataset_file(), run.outputs(), "cpu", 1, lambda m: None)
        aggregate.aggregate([run.outputs()["summary"] for run in runs.values()], [], LAYOUT.aggregate())
    return root, {name: root / run.run_dir for name, run in runs.items()}


@pytest.mark.parametrize("name", SPECS)
def test_a_loaded_run_scores_its_recorded_test_accuracy(study, name):
    run = vg.load_run(study[1][name])
    assert isinstance(run.model, torch.nn.Module) and not run.model.training
    assert all(p.device.type == "cpu" for p in run.model.parameters())
    assert run.spec == SPECS[name]
    assert run.dataset_file() == study[0] / LAYOUT.dataset_file()
    scored = run.evaluate()
    assert scored["acc"] == run.summary["test_acc"]
    assert scored["loss"] == pytest.approx(run.summary["test_loss"], rel=1e-5)


def test_predict_takes_uint8_images_flat_or_square_and_floats_in_0_1(study):
    run = vg.load_run(study[1]["plain"])
    test = data.load_dataset(run.dataset_file())["test"]
    predicted = run.predict(test.images)
    assert predicted.shape == test.labels.shape
    assert float((predicted == test.labels).float().mean()) == run.summary["test_acc"]
    assert torch.equal(run.predict(test.images.reshape(-1, 28, 28)), predicted)
    assert torch.equal(run.predict(test.images.numpy() / 255.0), predicted)


def test_a_loaded_run_has_its_summary_and_tables(study):
    folder = study[1]["plain"]
    run = vg.load_run(folder)
    assert run.summary == json.loads((folder / "summary.json").read_text())
    pd.testing.assert_frame_equal(run.metrics, pd.read_csv(folder / "metrics.csv"))
    pd.testing.assert_frame_equal(run.grad_steps, pd.read_parquet(folder / "grad_steps.parquet"))
    pd.testing.assert_frame_equal(run.grad_epochs, pd.read_parquet(folder / "grad_epochs.parquet"))
    assert len(run.metrics) == SPECS["plain"].epochs


def test_load_run_of_a_folder_that_is_not_a_run_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a finished run"):
        vg.load_run(tmp_path)


@pytest.mark.parametrize("where", ["results/unit", "results/unit/aggregate"])
def test_load_study_gives_the_aggregate_tables(study, where):
    loaded = vg.load_study(study[0] / where)
    assert sorted(loaded.runs["variant"]) == sorted(SPECS)
    assert set(loaded.metrics["variant"]) == set(SPECS) and len(loaded.grad_steps) and len(loaded.grad_epochs)
    with pytest.raises(FileNotFoundError, match="aggregate"):
        vg.load_study(study[0] / "results")


def test_importing_the_package_stays_torch_free_and_load_study_needs_no_torch(study):
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
        f"sys.path.insert(0, {str(ROOT / 'src')!r})\n"
        "import vanishing_gradients as vg\n"
        "assert 'pandas' not in sys.modules and 'vanishing_gradients.api' not in sys.modules\n"
        f"print(len(vg.load_study({str(study[0] / 'results/unit')!r}).runs))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(SPECS))
    assert {"load_run", "load_study"} <= set(dir(vg)) and vg.__all__
