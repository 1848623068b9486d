"""End to end: the smoke DAG runs to an HTML report, and reruns regenerate exactly what changed.

The smoke run is started the way a user runs the workflow from another folder: `snakemake -s <project>/Snakefile
-d <workdir>`; the project copy and the working directory are different folders.
"""

import html
import re
from collections import Counter

import pandas as pd
import pytest
from conftest import DEFAULT_FIXES, ROOT, merged_config
from workflow_helpers import copy_project, planned_jobs, snakemake

from vanishing_gradients import study
from vanishing_gradients.report import figures, model, tables, text
from vanishing_gradients.report.stats import log_mean_ci, mean_ci
from vanishing_gradients.report.text import pct, ratio_text

pytestmark = pytest.mark.e2e
SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")


def smoke_config():
    return study.validate_config(merged_config("tests/smoke.yaml"), SCHEMA)


def training_jobs(config):
    """Rule -> number of training jobs the config asks for."""
    return dict(Counter(study.rule_name(run.group) for run in study.runs(config)))


class SmokeRun:
    """A project copy and a separate working directory; ``args`` are what every call passes."""

    def __init__(self, project, workdir):
        self.project, self.workdir = project, workdir
        self.args = (
            "-s",
            str(project / "Snakefile"),
            "-d",
            str(workdir),
            "--configfile",
            str(project / "tests/smoke.yaml"),
        )

    def __truediv__(self, path):
        return self.workdir / path

    def run(self, *args, **kwargs):
        return snakemake(self.workdir, *self.args, *args, **kwargs)

    def planned(self, *args):
        return planned_jobs(self.workdir, *self.args, *args)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run = SmokeRun(copy_project(tmp_path_factory.mktemp("project")), tmp_path_factory.mktemp("workdir"))
    run.run("--cores", "2")
    return run


def test_default_config_plans_the_whole_study(tmp_path):
    jobs = planned_jobs(copy_project(tmp_path))
    seeds = 3
    assert jobs == {
        "download_fashion_mnist": 1,
        "prepare_dataset": 1,
        "train_baseline": 3 * 3 * seeds,
        "gradient_flow_at_init": 1,
        "aggregate": 1,
        "report": 1,
        "all": 1,
        **{f"fix_{f}": n * seeds for f, n in zip(DEFAULT_FIXES, [4, 2, 1, 2, 1, 1, 1, 1], strict=True)},
    }


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
    assert len(priorities) == len(study.runs(study.validate_config(merged_config(), SCHEMA)))
    first = max(priorities, key=priorities.get)
    assert first[0] == "fix_train_some_layers" and priorities[first] == 7 * 100 * 7
    baseline = {w: p for (rule, w), p in priorities.items() if rule == "train_baseline"}
    assert sorted(set(baseline.values())) == [3 * 100, 5 * 100, 7 * 100]


def test_lint_is_clean():
    out = snakemake(ROOT, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


def test_smoke_run_trains_every_run_and_reports_it(smoke_run):
    runs = pd.read_csv(smoke_run / "results/smoke/aggregate/runs.csv")
    expected = study.runs(smoke_config())
    assert sorted(
        zip(runs.study, runs.dataset, runs.group, runs.variant, runs.depth, runs.seed, strict=True)
    ) == sorted((r.study, r.dataset, r.group, r.variant, r.depth, r.seed) for r in expected)
    assert (runs["epochs_run"] == runs["group"].map(lambda g: 14 if g == "train_some_layers" else 2)).all()
    assert runs["wall_s"].gt(0).all() and runs["max_rss_mb"].gt(0).all()

    page = (smoke_run / "results/smoke/report/report.html").read_text()
    figures = re.findall(r"<img [^>]*>", page)
    assert len(figures) >= 20, "figures are missing or not embedded"
    assert all('src="data:image/png;base64,' in f and 'alt="' in f for f in figures)
    assert 'src="http' not in page, "the report must not load anything from the internet"
    text = html.unescape(page)
    for heading in (
        "1. Setup",
        "2. The problem",
        "3. Gradient flow at initialisation",
        "4. The fixes",
        "5. Comparison",
        "6. Cost",
        "7. Conclusions",
        "Is it depth, or a learning rate",
    ):
        assert heading in text, heading
    for title in ("Fix 1: weight increasing", "Fix 6: train some layers", "Fix 7: gradient normalisation"):
        assert title in text
    for _, frame in runs.groupby(["group", "variant", "depth"]):  # every configuration's mean ± 95% interval
        assert pct(*mean_ci(frame["test_acc"]), digits=2) in text
    deepest = runs[(runs.group == "baseline") & (runs.depth == 7) & (runs.lr == 0.01)]
    ratio = ratio_text(*log_mean_ci(deepest["grad_ratio_first_last"]))
    assert f"layer 1's gradient norm was {ratio} times the output layer's" in text
    flow = pd.read_parquet(smoke_run / "results/smoke/init_flow/grad_norms.parquet")
    assert sorted(flow["depth"].unique()) == smoke_config()["init_flow"]["depths"]
    assert {(g, v) for g, v in zip(flow["group"], flow["variant"], strict=True)} == set(
        study.init_flow_variants(smoke_config())
    )
    assert (smoke_run / "logs/smoke/report/report.ipynb").stat().st_size > 0


def visible_text(page: str) -> str:
    """A rendered page's text as a reader sees it: no styles or scripts, tags gone, whitespace collapsed."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"</?(p|li|ul|div|h[1-6]|td|th|tr|table|caption|br|img)\b[^>]*>", " ", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def test_smoke_report_shows_the_sections_tables_and_sentences_the_library_computes(smoke_run):
    """Every heading, sentence and summary cell the report modules compute from the smoke aggregate is on the page,
    and the notebook drew one figure per place it should (the fixes' loop included)."""
    aggregate = smoke_run / "results/smoke/aggregate"
    paths = {name: aggregate / f"{name}.csv" for name in ("runs", "metrics")}
    paths |= {name: aggregate / f"{name}.parquet" for name in ("grad_steps", "grad_epochs")}
    paths["init_flow"] = smoke_run / "results/smoke/init_flow/grad_norms.parquet"
    S = model.load(paths, smoke_config())
    page = (smoke_run / "results/smoke/report/report.html").read_text()
    seen = visible_text(page)
    for anchor, name, _ in text.contents(S):
        assert f'id="{anchor}"' in page and f'href="#{anchor}"' in page and name in seen, anchor
    course = S.course_baseline_labels()
    sentences = [text.seeds_note(S), text.setup_text(S), text.saturation_sentence(S, course)]
    sentences += text.problem_sentences(S) + text.learning_rate_sentences(S) + text.saturation_notes(S, course)
    sentences += text.init_sentences(S) + [s for g in S.fix_groups for s in text.fix_sentences(S, g)]
    sentences += text.group_sentences(S) + text.necessary_not_sufficient(S) + text.overfitting_sentences(S)
    sentences += text.ranking_sentences(S)
    assert len(sentences) > 30
    for sentence in sentences:
        assert " ".join(sentence.replace("**", "").split()) in seen, sentence
    unescaped = html.unescape(page)
    for frame in (tables.format_summary(S.summary), tables.init_depth_table(S)):
        for cell in frame.astype(str).to_numpy().ravel():
            assert f">{cell}</td>" in unescaped, cell
    per_fix = sum(2 + len(S.labels(g, d)) for g in S.fix_groups for d in S.depths(g))
    saturation = 1 if figures.saturated_labels(S, course) else 0
    lr_figure = 1 if S.baselines["lr"].nunique() > 1 else 0
    assert len(re.findall(r"<img ", page)) == lr_figure + 4 + saturation + 1 + per_fix + 2


def test_the_project_folder_gets_nothing_written_into_it(smoke_run):
    assert not any((smoke_run.project / d).exists() for d in ("results", "logs", "benchmarks", ".snakemake"))


def test_nothing_to_do_after_a_finished_run(smoke_run):
    assert smoke_run.planned() == {}


def extra_config(smoke_run, name, text):
    (smoke_run.workdir / name).write_text(text)
    return ("--configfile", str(smoke_run.project / "tests/smoke.yaml"), name)


def test_changing_one_fix_variant_plans_only_its_runs(smoke_run):
    args = extra_config(
        smoke_run,
        "change.yaml",
        "fixes:\n  weight_increasing:\n    variants:\n"
        "      std1: {init: normal, init_std: 1.0}\n      std10: {init: normal, init_std: 5.0}\n",
    )
    assert smoke_run.planned(*args) == {
        "fix_weight_increasing": len(smoke_config()["seeds"]),
        "gradient_flow_at_init": 1,
        "aggregate": 1,
        "report": 1,
        "all": 1,
    }


def test_adding_a_seed_plans_only_the_new_runs(smoke_run):
    args = extra_config(smoke_run, "seeds.yaml", "seeds: [42, 43, 7]\n")
    jobs = smoke_run.planned(*args)
    assert jobs.pop("aggregate") == 1 and jobs.pop("report") == 1 and jobs.pop("all") == 1
    assert jobs == {rule: n // 2 for rule, n in training_jobs(smoke_config()).items()}  # one seed of two more
    out = smoke_run.run("-n", *args).stdout
    assert "seed=42" not in out and "seed=43" not in out and "seed=7" in out


@pytest.mark.parametrize(
    "path",
    [
        "reports/report.ipynb",
        "src/vanishing_gradients/report/stats.py",
        "src/vanishing_gradients/report/figures/base.py",
    ],
)
def test_editing_the_report_plans_only_the_report(smoke_run, path):
    source = smoke_run.project / path
    original = source.read_text()
    try:
        source.write_text(
            original.replace("Vanishing gradients in deep MLPs", "Vanishing gradients in deep nets", 1)
            if path.endswith(".ipynb")
            else original + "\n# an edit\n"
        )
        assert smoke_run.planned() == {"report": 1, "all": 1}
    finally:
        source.write_text(original)


def test_editing_the_training_code_plans_every_training_run(smoke_run):
    code = smoke_run.project / "src/vanishing_gradients/training.py"
    original = code.read_text()
    try:
        code.write_text(original + "\n# an edit\n")
        jobs = smoke_run.planned()
        assert {rule: n for rule, n in jobs.items() if rule in training_jobs(smoke_config())} == training_jobs(
            smoke_config()
        )
        assert "download_fashion_mnist" not in jobs and "prepare_dataset" not in jobs
    finally:
        code.write_text(original)


def test_snakemake_report_bundles_the_html_report_key_figures_and_aggregate_tables(smoke_run):
    import zipfile

    smoke_run.run("--report", "bundle.zip")
    with zipfile.ZipFile(smoke_run / "bundle.zip") as bundle:
        names = bundle.namelist()
        files = {n.rsplit("/", 1)[1]: n for n in names if "/data/raw/" in n}  # the outputs flagged with report()
        assert {"report.html", "gradient_profile.png", "comparison.png"} <= set(files), names
        assert bundle.read(files["report.html"]) == (smoke_run / "results/smoke/report/report.html").read_bytes()
        assert bundle.read(files["comparison.png"])[:4] == b"\x89PNG"
        for table in ("runs.csv", "metrics.csv", "grad_steps.parquet", "grad_epochs.parquet"):
            assert bundle.read(files[table]) == (smoke_run / "results/smoke/aggregate" / table).read_bytes()
        page = next(bundle.read(n).decode() for n in names if n.endswith("/report.html") and "/data/" not in n)
    assert (smoke_run / "results/smoke/report/gradient_profile.png").read_bytes()[:4] == b"\x89PNG"
    # The workflow description (reports/workflow.rst, rendered with the study's config) and the captions.
    assert "Vanishing gradients in deep MLPs on Fashion-MNIST: study" in page and "smoke" in page
    assert "Aggregate tables" in page and "One row per training run of study" in page


def planned_files(workdir, *args) -> set[str]:
    """Every output, log and benchmark file a dry run plans (all jobs, as on a fresh clone)."""
    out = snakemake(workdir, "-n", "--forceall", *args)
    files = set()
    for line in (out.stdout + out.stderr).splitlines():
        key, _, value = line.strip().partition(": ")
        if key in ("output", "log", "benchmark"):
            files.update(v.strip() for v in value.split(","))
    return files


def test_studies_never_share_an_output_but_the_downloaded_data(tmp_path):
    """A smoke or course run must never retrain over or replace the full study's results."""
    project = copy_project(tmp_path)
    plans = {
        name: planned_files(project, *args)
        for name, args in (
            ("default", ()),
            ("smoke", ("--configfile", "tests/smoke.yaml")),
            ("course", ("--configfile", "studies/course.yaml")),
        )
    }
    download = {f for f in plans["default"] if "/downloads/" in f}
    assert len([f for f in download if f.endswith(".gz")]) == 4
    for a, b in (("default", "smoke"), ("default", "course"), ("smoke", "course")):
        assert plans[a] & plans[b] == download, (a, b)
    for name, files in plans.items():
        assert all(f.split("/")[1] in (name, "downloads") for f in files), name


def test_editing_the_mirror_list_reruns_nothing(smoke_run):
    args = extra_config(smoke_run, "mirrors.yaml", "data:\n  mirrors: [/nowhere, /usr/share/datasets/fashion-mnist]\n")
    assert smoke_run.planned(*args) == {}
