"""The workflow used as a module of another workflow, as docs/cluster.md shows: `module` + `use rule * from`.

The outer workflow lives in its own folder with its own config overlay (a study name of its own and the smoke
settings) and imports a copy of the project by path. Its smoke study runs through the module once; its runs
are then loaded with the public API and score their recorded test accuracy, and `snakemake --report` of the
outer workflow carries the module's description and tables.
"""

import zipfile
from collections import Counter

import pytest
import yaml
from conftest import DEFAULT_FIXES, ROOT, merged_config
from workflow_helpers import copy_project, planned_jobs, snakemake

import vanishing_gradients as vg
from vanishing_gradients import selection, study, validation

pytestmark = pytest.mark.e2e
STUDY = "outer-smoke"
OUTER_SNAKEFILE = """\
configfile: "outer.yaml"


module vanishing_gradients:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from vanishing_gradients as vg_*
"""


def outer_config() -> dict:
    """What the outer workflow's overlay holds: the smoke settings and a study name of its own."""
    return {**yaml.safe_load((ROOT / "tests/smoke.yaml").read_text()), "study": STUDY}


def module_config() -> dict:
    config = merged_config("tests/smoke.yaml")
    config["study"] = STUDY
    return validation.validate_config(config, str(ROOT / "workflow/schemas/config.schema.yaml"))


def expected_jobs() -> dict[str, int]:
    """Rule -> jobs the outer workflow plans before the screen has chosen (the module's rules renamed vg_*)."""
    jobs = Counter(study.rule_name(run.group, run.phase) for run in study.screening_runs(module_config()))
    for rule in ("download_fashion_mnist", "prepare_dataset", "gradient_flow_at_init", "learning_rates"):
        jobs[rule] = 1
    jobs["select_learning_rates"] = 1 + module_config()["selection"]["extend"]["times"]  # a round per extension
    for rule in ("aggregate", "report", "all"):
        jobs[rule] = 1
    return {f"vg_{rule}": n for rule, n in jobs.items()}


def finished_runs(workdir) -> list:
    """Every run of the finished module study: its screen (every round's rates) and the final runs at the rates it
    chose."""
    table = workdir / study.study_layout(module_config()).selection()
    config = module_config()
    return study.screening_runs(config, rates=selection.screened(table)) + study.final_runs(
        config, selection.read(table)
    )


@pytest.fixture(scope="module")
def outer(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("vanishing-gradients"))
    outer = tmp_path_factory.mktemp("outer")
    (outer / "Snakefile").write_text(OUTER_SNAKEFILE.format(snakefile=project / "Snakefile"))
    (outer / "outer.yaml").write_text(yaml.safe_dump(outer_config()))
    return project, outer


@pytest.fixture(scope="module")
def finished(outer):
    project, workdir = outer
    snakemake(workdir, "--cores", "2")
    return project, workdir


def test_outer_workflow_plans_the_whole_study_under_its_own_name(outer):
    _, workdir = outer
    jobs = expected_jobs()
    assert planned_jobs(workdir) == jobs
    out = snakemake(workdir, "-n", "--forceall", details=True)
    outputs = [line.split(": ", 1)[1] for line in out.stdout.splitlines() if line.strip().startswith("output: ")]
    paths = [p.strip() for line in outputs for p in line.split(",")]
    assert paths and all(p.startswith((f"results/{STUDY}/", "results/downloads/")) for p in paths), paths
    # The overlay names no fix: every fix comes from the module's own config.yaml, laid under the overlay.
    assert {f"vg_screen_{name}" for name in DEFAULT_FIXES} <= set(jobs)


def test_smoke_study_runs_through_the_module_and_its_runs_load_with_the_api(finished):
    project, workdir = finished
    runs = finished_runs(workdir)
    assert (workdir / f"results/{STUDY}/report/report.html").stat().st_size > 0
    loaded = vg.load_study(workdir / f"results/{STUDY}")
    assert len(loaded.runs) == len(runs)
    for run in runs:
        model = vg.load_run(workdir / run.run_dir)
        assert model.evaluate()["acc"] == model.summary["test_acc"], run.key
    assert (loaded.runs["epochs"] == outer_config()["training"]["epochs"]).all()  # the overlay's settings
    assert set(loaded.runs["phase"]) == {"screen", "runs"}
    assert not any((project / d).exists() for d in ("results", "logs", "benchmarks", ".snakemake"))


def test_nothing_to_do_after_the_module_run(finished):
    _, workdir = finished
    assert planned_jobs(workdir) == {}


def test_snakemake_report_of_the_outer_workflow_carries_the_modules_description_and_tables(finished):
    _, workdir = finished
    snakemake(workdir, "--report", "bundle.zip")
    with zipfile.ZipFile(workdir / "bundle.zip") as bundle:
        names = bundle.namelist()
        page = next(bundle.read(n).decode() for n in names if n.endswith("/report.html") and "/data/" not in n)
        tables = {n.rsplit("/", 1)[1] for n in names if "/data/raw/" in n}
    assert "Vanishing gradients in deep MLPs on Fashion-MNIST: study" in page and STUDY in page
    assert {"runs.csv", "metrics.csv", "grad_steps.parquet", "grad_epochs.parquet", "report.html"} <= tables
