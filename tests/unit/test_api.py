"""The public API: load_run gives back the model that scored the run's recorded test accuracy; load_study
gives the aggregate tables, torch-free. Runs trained here on tiny data (the smoke study's runs: test_module.py)."""

import json
import shutil
import subprocess
import sys
import tracemalloc

import pandas as pd
import pytest
import torch
from conftest import ROOT, tiny_data
from test_bad_files import KINDS, damage, within

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


@pytest.fixture
def run_copy(study, tmp_path):
    """A copy of a finished run, laid out as in its study, to damage."""
    folder = tmp_path / "results" / "unit" / "runs" / "plain"
    shutil.copytree(study[1]["plain"], folder)
    return folder


def edit_summary(folder, **changes):
    summary = json.loads((folder / "summary.json").read_text())
    for key, value in changes.items():
        target = summary
        *parents, last = key.split("__")
        for parent in parents:
            target = target[parent]
        target[last] = value
    (folder / "summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize("width, depth", [(20_000, 2), (16, 100_000), (16, 3)])
def test_load_run_checks_the_spec_against_model_pt_before_building_the_model(run_copy, width, depth):
    """Issue 28, item 9: `width: 20000` allocated 2.2 GB before the size mismatch, a large depth all memory."""
    edit_summary(run_copy, spec__model__width=width, spec__model__depth=depth)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"holds 2 hidden layers .* where .*summary.json describes") as err:
            vg.load_run(run_copy)
        assert tracemalloc.get_traced_memory()[1] < 50_000_000
    finally:
        tracemalloc.stop()
    assert str(run_copy / "model.pt") in str(err.value) and "snakemake --cores 1 --force" in str(err.value)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("file", ["summary.json", "model.pt", "metrics.csv", "grad_steps.parquet"])
def test_load_run_names_a_bad_file(run_copy, file, kind):
    """Issue 28, item 9: a FIFO model.pt hung load_run; every bad file is an error naming it."""
    if (kind, file) == ("truncated", "metrics.csv") or (kind == "missing" and file.endswith((".csv", ".parquet"))):
        pytest.skip("half a CSV is a shorter table; a run without a table loads without it")
    damage(run_copy / file, kind)
    with within(60), pytest.raises((ValueError, FileNotFoundError)) as err:
        vg.load_run(run_copy)
    named = run_copy if kind == "missing" and file in ("summary.json", "model.pt") else run_copy / file
    assert str(named) in str(err.value)


@pytest.mark.parametrize("dataset", ["../../../../../../tmp/elsewhere", "/etc/passwd", ".."])
def test_a_run_dataset_never_names_a_file_outside_the_study(run_copy, dataset):
    """Issue 28, item 9: a run.dataset with ../ loaded a file outside the study."""
    edit_summary(run_copy, run__dataset=dataset)
    run = vg.load_run(run_copy)
    with pytest.raises(ValueError, match="is not a dataset name; pass the dataset file"):
        run.dataset_file()


@pytest.mark.parametrize("kind", ["binary", "empty", "fifo", "folder"])
def test_load_study_names_a_damaged_runs_table(study, tmp_path, kind):
    """Issue 28, item 9: load_study on a damaged runs.csv did not name the file."""
    folder = tmp_path / "aggregate"
    shutil.copytree(study[0] / "results/unit/aggregate", folder)
    damage(folder / "runs.csv", kind)
    with within(60), pytest.raises(ValueError, match=str(folder / "runs.csv")):
        vg.load_study(folder)
