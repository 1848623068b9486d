"""End to end: the smoke DAG runs to an HTML report, and reruns regenerate exactly what changed."""

import html
import re

import pandas as pd
import pytest
import yaml
from conftest import ROOT
from workflow_helpers import copy_project, planned_jobs, snakemake

from vanishing_gradients import study

pytestmark = pytest.mark.e2e
SMOKE = ("--configfile", "tests/smoke.yaml")


def smoke_config():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    smoke = yaml.safe_load((ROOT / "tests/smoke.yaml").read_text())
    for key, value in smoke.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    return study.validate_config(config, str(ROOT / "workflow/schemas/config.schema.yaml"))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = copy_project(tmp_path_factory.mktemp("smoke"))
    snakemake(workdir, "--cores", "2", *SMOKE)
    return workdir


def test_default_config_plans_the_whole_study(tmp_path):
    jobs = planned_jobs(copy_project(tmp_path))
    fixes = ["weight_increasing", "better_activation", "better_optimizer", "normalization", "skip_connection",
             "train_some_layers", "gradient_normalization", "combined"]
    assert jobs == {"download_fashion_mnist": 1, "prepare_dataset": 1, "train_baseline": 3, "aggregate": 1,
                    "report": 1, "all": 1, **{f"fix_{f}": n for f, n in zip(fixes, [2, 2, 1, 2, 1, 1, 1, 1])}}


def test_longest_training_run_is_scheduled_first(tmp_path):
    """Priorities are total epochs x depth: train-some-layers (7 stages x 100 epochs) outranks every run."""
    out = snakemake(copy_project(tmp_path), "-n")
    priorities = {}
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", out.stdout + out.stderr, flags=re.M):
        rule = re.search(r"^(?:local)?rule (\w+):", block, flags=re.M)
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, flags=re.M)
        priority = re.search(r"^\s+priority: (\d+)$", block, flags=re.M)
        if rule and wildcards:
            priorities[(rule.group(1), wildcards.group(1))] = int(priority.group(1)) if priority else 0
    assert len(priorities) == 14
    first = max(priorities, key=priorities.get)
    assert first[0] == "fix_train_some_layers" and priorities[first] == 7 * 100 * 7
    baseline = {w: p for (rule, w), p in priorities.items() if rule == "train_baseline"}
    assert sorted(baseline.values()) == [3 * 100, 5 * 100, 7 * 100]


def test_lint_is_clean():
    out = snakemake(ROOT, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


def test_smoke_run_trains_every_run_and_reports_it(smoke_run):
    runs = pd.read_csv(smoke_run / "results/aggregate/runs.csv")
    expected = study.runs(smoke_config())
    assert sorted(zip(runs.group, runs.variant, runs.depth, runs.seed)) == sorted(
        (r.group, r.variant, r.depth, r.seed) for r in expected)
    assert (runs["epochs_run"] == runs["group"].map(lambda g: 14 if g == "train_some_layers" else 2)).all()
    assert runs["wall_s"].gt(0).all() and runs["max_rss_mb"].gt(0).all()

    page = (smoke_run / "results/report/report.html").read_text()
    figures = re.findall(r'<img [^>]*src="data:image/png;base64,', page)
    assert len(figures) >= 20, "figures are missing or not embedded"
    assert "src=\"http" not in page, "the report must not load anything from the internet"
    text = html.unescape(page)
    for heading in ("1. Setup", "2. The problem", "3. The fixes", "4. Comparison", "5. Cost", "6. Conclusions"):
        assert heading in text
    for title in ("Fix 1: weight increasing", "Fix 6: train some layers", "Fix 7: gradient normalisation"):
        assert title in text
    for row in runs.itertuples():  # every run's test accuracy, as computed by this run, is in the table
        assert f"{100 * row.test_acc:.2f}" in text
    deepest = runs[(runs.group == "baseline") & (runs.depth == 7)].iloc[0]
    assert f"test accuracy {100 * deepest.test_acc:.1f}%" in text
    assert f"{deepest.grad_ratio_first_last:.2g} times the output layer's" in text
    assert (smoke_run / "logs/report/report.ipynb").stat().st_size > 0


def test_nothing_to_do_after_a_finished_run(smoke_run):
    assert planned_jobs(smoke_run, *SMOKE) == {}


def extra_config(workdir, name, text):
    (workdir / name).write_text(text)
    return ("--configfile", "tests/smoke.yaml", name)


def test_changing_one_fix_variant_plans_only_its_runs(smoke_run):
    args = extra_config(smoke_run, "change.yaml", "fixes:\n  weight_increasing:\n    variants:\n"
                        "      std1: {init: normal, init_std: 1.0}\n      std10: {init: normal, init_std: 5.0}\n")
    assert planned_jobs(smoke_run, *args) == {"fix_weight_increasing": 1, "aggregate": 1, "report": 1, "all": 1}


def test_adding_a_seed_plans_only_the_new_runs(smoke_run):
    args = extra_config(smoke_run, "seeds.yaml", "seeds: [42, 43]\n")
    jobs = planned_jobs(smoke_run, *args)
    assert jobs.pop("aggregate") == 1 and jobs.pop("report") == 1 and jobs.pop("all") == 1
    assert sum(jobs.values()) == len(study.runs(smoke_config())) and "prepare_dataset" not in jobs
    out = snakemake(smoke_run, "-n", *args).stdout
    assert "seed=42" not in out and "seed=43" in out


@pytest.mark.parametrize("path", ["reports/report.ipynb", "src/vanishing_gradients/report.py"])
def test_editing_the_report_plans_only_the_report(smoke_run, path):
    source = smoke_run / path
    original = source.read_text()
    try:
        source.write_text(original.replace("Vanishing gradients in deep MLPs", "Vanishing gradients in deep nets", 1)
                          if path.endswith(".ipynb") else original + "\n# an edit\n")
        assert planned_jobs(smoke_run, *SMOKE) == {"report": 1, "all": 1}
    finally:
        source.write_text(original)


def test_editing_the_training_code_plans_every_training_run(smoke_run):
    code = smoke_run / "src/vanishing_gradients/training.py"
    original = code.read_text()
    try:
        code.write_text(original + "\n# an edit\n")
        jobs = planned_jobs(smoke_run, *SMOKE)
        trained = sum(n for rule, n in jobs.items() if rule == "train_baseline" or rule.startswith("fix_"))
        assert trained == len(study.runs(smoke_config()))
        assert "download_fashion_mnist" not in jobs and "prepare_dataset" not in jobs
    finally:
        code.write_text(original)


def test_snakemake_report_bundles_the_html_report_and_key_figures(smoke_run):
    import zipfile

    snakemake(smoke_run, "--report", "bundle.zip", *SMOKE)
    with zipfile.ZipFile(smoke_run / "bundle.zip") as bundle:
        names = bundle.namelist()
        files = {n.rsplit("/", 1)[1]: n for n in names if "/data/raw/" in n}  # the outputs flagged with report()
        assert {"report.html", "gradient_profile.png", "comparison.png"} <= set(files), names
        assert bundle.read(files["report.html"]) == (smoke_run / "results/report/report.html").read_bytes()
        assert bundle.read(files["comparison.png"])[:4] == b"\x89PNG"
    assert (smoke_run / "results/report/gradient_profile.png").read_bytes()[:4] == b"\x89PNG"
