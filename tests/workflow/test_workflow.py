"""End to end: the smoke DAG runs to an HTML report, and reruns regenerate exactly what changed.

The smoke run is started the way a user runs the workflow from another folder: `snakemake -s <project>/Snakefile
-d <workdir>`; the project copy and the working directory are different folders.
"""

import html
import json
import re
from collections import Counter

import pandas as pd
import pytest
from conftest import DEFAULT_FIXES, REPORT_HEADINGS, ROOT, merged_config
from workflow_helpers import all_runs, copy_project, planned_jobs, snakemake

from vanishing_gradients import selection, study, validation
from vanishing_gradients.report import figures, model, outline
from vanishing_gradients.report.formats import pct, ratio_text
from vanishing_gradients.report.sections import (
    appendix,
    comparison,
    conclusions,
    fixes,
    init_flow,
    problem,
    rates,
    summary,
)
from vanishing_gradients.report.stats import log_mean_ci, mean_ci

pytestmark = pytest.mark.e2e
SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")


def smoke_config():
    return validation.validate_config(merged_config("tests/smoke.yaml"), SCHEMA)


def training_jobs(config, chosen=None):
    """Rule -> number of training jobs the config asks for, given the screen's choice."""
    return dict(Counter(study.rule_name(run.group, run.phase) for run in all_runs(config, chosen)))


def screening_jobs(config, rates=None):
    """Screening jobs by rule: of the first selection round, or at ``rates`` (every round's, e.g. ``screened``)."""
    runs = study.screening_runs(config, rates=rates)
    return dict(Counter(study.rule_name(run.group, run.phase) for run in runs))


def screened(smoke_run):
    """Every rate each configuration was screened at, over every selection round (the study's rate table)."""
    table = pd.read_csv(smoke_run / study.study_layout(smoke_config()).selection())
    return {(r.group, r.variant, int(r.depth)): json.loads(r.grid) for r in table.itertuples() if r.outcome != "fixed"}


def chosen(smoke_run):
    return selection.read(smoke_run / study.study_layout(smoke_config()).selection())


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
    """Before the screen has run, the plan is the screen, the choice (a checkpoint) and what follows it."""
    jobs = planned_jobs(copy_project(tmp_path))
    config = validation.validate_config(merged_config(), SCHEMA)
    sgd, adam = (len(config["selection"]["learning_rates"][k]) for k in ("sgd", "adam"))
    seeds = len(config["selection"]["seeds"])
    assert jobs == {
        "download_fashion_mnist": 1,
        "prepare_dataset": 1,
        "screen_baseline": 3 * sgd * seeds,
        "select_learning_rates": 1 + config["selection"]["extend"]["times"],  # a round per possible extension
        "learning_rates": 1,
        "gradient_flow_at_init": 1,
        "aggregate": 1,
        "report": 1,
        "all": 1,
        **{
            f"screen_{f}": n * (adam if f in ("better_optimizer", "combined") else sgd) * seeds
            for f, n in zip(DEFAULT_FIXES, [4, 2, 1, 2, 1, 1, 1, 1], strict=True)
        },
    }


def test_a_study_with_every_rate_fixed_plans_its_training_up_front(tmp_path):
    """The course's study screens nothing: its dry run lists every training job (no checkpoint hides them)."""
    jobs = planned_jobs(copy_project(tmp_path), "--configfile", "studies/course.yaml")
    config = validation.validate_config(merged_config("studies/course.yaml"), SCHEMA)
    expected = Counter(study.rule_name(r.group) for r in study.final_runs(config, study.provisional_choice(config)))
    assert {rule: n for rule, n in jobs.items() if rule in expected} == dict(expected)
    assert not any(rule.startswith("screen_") for rule in jobs)


def test_the_screen_runs_first_and_its_longest_runs_first(tmp_path):
    """Priorities: the screen before any final run (they wait for its choice), then total epochs x depth."""
    out = snakemake(copy_project(tmp_path), "-n", details=True)
    priorities = {}
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", out.stdout + out.stderr, flags=re.M):
        rule = re.search(r"^(?:local)?rule (\w+):", block, flags=re.M)
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, flags=re.M)
        priority = re.search(r"^\s+priority: (\d+)$", block, flags=re.M)
        if rule and wildcards and rule.group(1).startswith("screen_"):
            priorities[(rule.group(1), wildcards.group(1))] = int(priority.group(1)) if priority else 0
    config = validation.validate_config(merged_config(), SCHEMA)
    assert len(priorities) == len(study.screening_runs(config))
    epochs = config["selection"]["epochs"]  # the whole run's: train-some-layers' stages share them
    top = {rule for (rule, _), p in priorities.items() if p == max(priorities.values())}
    assert max(priorities.values()) == 10**6 + epochs * 7 and "screen_train_some_layers" in top
    baseline = {w: p for (rule, w), p in priorities.items() if rule == "screen_baseline"}
    assert sorted(set(baseline.values())) == [10**6 + d * epochs for d in (3, 5, 7)]


def test_lint_is_clean():
    out = snakemake(ROOT, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


def test_smoke_run_trains_every_run_and_reports_it(smoke_run):
    runs = pd.read_csv(smoke_run / "results/smoke/aggregate/runs.csv")
    config = smoke_config()  # every round's screening runs (the extensions too), then the final runs
    expected = study.screening_runs(config, rates=screened(smoke_run)) + study.final_runs(config, chosen(smoke_run))
    keys = ("study", "dataset", "phase", "group", "variant", "lr", "depth", "seed")
    assert sorted(zip(*(runs[k] for k in keys), strict=True)) == sorted(
        tuple(getattr(r, k) for k in keys) for r in expected
    )
    # every run trains its whole budget: 7 epochs (none leaves chance in the smoke's few steps: no early stop), and
    # train-some-layers' seven stages share the same optimiser steps as every other configuration
    assert (runs["epochs_run"] == 7).all() and (runs["steps"] == runs["budget_steps"]).all()
    assert runs["budget_steps"].nunique() == 1
    assert runs["wall_s"].gt(0).all() and runs["max_rss_mb"].gt(0).all()

    page = (smoke_run / "results/smoke/report/report.html").read_text()
    figures = re.findall(r"<img [^>]*>", page)
    assert len(figures) >= 20, "figures are missing or not embedded"
    assert all('alt="' in f for f in figures)
    # a still figure embeds its PNG; an animation's frame image gets its frames, embedded, from its script
    stills = [f for f in figures if "_anim_img" not in f]
    assert all('src="data:image/png;base64,' in f for f in stills) and len(stills) < len(figures)
    assert 'src="http' not in page, "the report must not load anything from the internet"
    text = html.unescape(page)
    for heading in REPORT_HEADINGS:
        assert heading in text, heading
    for title in ("Fix 1: weight increasing", "Fix 6: train some layers", "Fix 7: gradient normalisation"):
        assert title in text
    picked = chosen(smoke_run)
    fair = runs[
        (runs.phase == "runs")
        & runs.seed.isin(smoke_config()["seeds"])
        & (runs.lr == [picked[key] for key in zip(runs.group, runs.variant, runs.depth, strict=True)])
    ]
    for _, frame in fair.groupby(["group", "variant", "depth"]):  # every configuration's mean ± 95% interval
        assert pct(*mean_ci(frame["best_test_acc"]), digits=2) in text
    deepest = fair[(fair.group == "baseline") & (fair.depth == 7)]
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
    S = model.load(str(smoke_run / "results/smoke"), json.loads(study.report_param(smoke_config())))
    page = (smoke_run / "results/smoke/report/report.html").read_text()
    seen = visible_text(page)
    for anchor, name, _ in outline.contents(S):
        assert f'id="{anchor}"' in page and f'href="#{anchor}"' in page and name in seen, anchor
    course = S.baseline_labels()
    sentences = [summary.seeds_note(S), appendix.setup_text(S), problem.saturation_sentence(S, course)]
    sentences += problem.problem_sentences(S) + problem.learning_rate_sentences(S) + problem.saturation_notes(S, course)
    sentences += init_flow.init_sentences(S) + [s for g in S.fix_groups for s in fixes.fix_sentences(S, g)]
    sentences += (
        conclusions.group_sentences(S) + conclusions.necessary_not_sufficient(S) + conclusions.overfitting_sentences(S)
    )
    sentences += comparison.ranking_sentences(S) + rates.selection_sentences(S) + rates.check_sentences(S)
    sentences += init_flow.theory_sentences(S) + summary.summary_sentences(S)
    assert len(sentences) > 30
    for sentence in sentences:
        assert " ".join(sentence.replace("**", "").replace("`", "").split()) in seen, sentence
    unescaped = html.unescape(page)
    assert not S.depth_sweep and 'id="depth"' not in page  # the smoke study trains each fix at one depth
    frames = (comparison.format_summary(S.summary), init_flow.init_depth_table(S), rates.chosen_table(S))
    for frame in (*frames, init_flow.theory_table(S)):
        for cell in frame.astype(str).to_numpy().ravel():
            assert f">{cell}</td>" in unescaped, cell
    # per fix and depth: curves, update ratio, a heatmap per configuration; per fix: its profile animation
    per_fix = sum(2 + len(S.labels(g, d)) for g in S.fix_groups for d in S.depths(g)) + len(S.fix_groups)
    saturation = 1 if figures.saturated_labels(S, course) else 0
    screened = 2 if len(S.screen) else 0  # the baselines by depth and rate, and every configuration's rates
    # the baselines' curves, gradients over steps and heatmap, their mean/max bars, update ratio and animation, and
    # the mechanism where the init flow measured the baselines' deepest depth (the profiles are SVG, not images)
    mechanism = 1 if figures.mechanism(S, "baseline", "", S.baselines["depth"].max()) else 0
    signals = 1 if figures.signals_at_init(S, init_flow.signals_depth(S)) else 0
    spectra = 1 if init_flow.spectra_sentences(S) else 0  # the Jacobian's singular values at initialisation
    # init flow, the signals and the spectra, then the ranking, the ranked summary, the plateau's survival curve and
    # the cost
    expected = screened + 3 + 3 + mechanism + saturation + 1 + signals + spectra + per_fix + 4
    assert len(re.findall(r"<img ", page)) == expected


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
    jobs = smoke_run.planned(*args)
    rates = len(screened(smoke_run)[("weight_increasing", "std10", 7)])
    assert jobs.pop("screen_weight_increasing") == rates * len(smoke_config()["selection"]["seeds"])  # std10's
    assert jobs.pop("select_learning_rates") == 1 + smoke_config()["selection"]["extend"]["times"]  # every round
    assert jobs.pop("learning_rates") == 1
    std10 = [r for r in study.final_runs(smoke_config(), chosen(smoke_run)) if r.variant == "std10"]
    assert jobs.pop("fix_weight_increasing", 0) <= len(std10)  # its final runs, if the old choice stands
    assert jobs == {"gradient_flow_at_init": 1, "aggregate": 1, "report": 1, "all": 1}


def test_adding_a_seed_plans_only_the_new_runs(smoke_run):
    args = extra_config(smoke_run, "seeds.yaml", "seeds: [42, 43, 7]\n")
    jobs = smoke_run.planned(*args)
    assert jobs.pop("aggregate") == 1 and jobs.pop("report") == 1 and jobs.pop("all") == 1
    fair = Counter(study.rule_name(g) for g, _, _ in study.configurations(smoke_config()))
    assert jobs == dict(fair)  # one run per configuration at its chosen rate: the new seed; no screen
    out = smoke_run.run("-n", *args, details=True).stdout
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
        edited = (
            original.replace("a flat line is healthy gradient flow", "a flat line is a healthy flow", 1)
            if path.endswith(".ipynb")
            else original + "\n# an edit\n"
        )
        assert edited != original  # a real edit of the file's content
        source.write_text(edited)
        assert smoke_run.planned() == {"report": 1, "all": 1}
    finally:
        source.write_text(original)


def test_editing_the_training_code_plans_every_training_run(smoke_run):
    code = smoke_run.project / "src/vanishing_gradients/training.py"
    original = code.read_text()
    try:
        code.write_text(original + "\n# an edit\n")
        jobs = smoke_run.planned()
        # round 0's screening runs, then the choice: the extensions and the final runs follow the checkpoints
        screen = screening_jobs(smoke_config())
        assert {rule: n for rule, n in jobs.items() if rule in screen} == screen
        assert jobs["select_learning_rates"] == 1 + smoke_config()["selection"]["extend"]["times"]
        assert jobs["aggregate"] == 1
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
    out = snakemake(workdir, "-n", "--forceall", *args, details=True)
    files = set()
    for line in (out.stdout + out.stderr).splitlines():
        key, _, value = line.strip().partition(": ")
        if key in ("output", "log", "benchmark"):  # a flag follows its file: "results/x.gz (update)"
            files.update(v.strip().removesuffix(" (update)") for v in value.split(","))
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


def run_summaries(workdir) -> dict:
    return {p: p.stat().st_mtime_ns for p in (workdir / "results/smoke").glob("*/fashion_mnist/**/summary.json")}


def test_a_deleted_run_is_trained_again_by_a_plain_snakemake(smoke_run):
    run = study.final_runs(smoke_config(), chosen(smoke_run))[0]
    (smoke_run / run.outputs()["summary"]).unlink()
    assert smoke_run.planned() == {study.rule_name(run.group): 1, "aggregate": 1, "report": 1, "all": 1}
    smoke_run.run("--cores", "2")
    assert (smoke_run / run.outputs()["summary"]).exists() and smoke_run.planned() == {}


def test_a_changed_screening_run_retrains_exactly_the_final_runs_whose_rate_it_changes(smoke_run):
    """A screening result that changes (here: written over, as a rerun that came out otherwise would) makes the
    choice rerun; only the configuration whose chosen rate moved gets new final runs, nothing else retrains."""
    config, before = smoke_config(), chosen(smoke_run)
    key = ("better_activation", "tanh", 7)
    other = next(lr for lr in study.grid(config, *key[:2]) if lr != before[key])
    changed = [r for r in study.screening_runs(config) if (r.group, r.variant, r.depth) == key and r.lr == other]
    for screen in changed:  # every screening seed of that rate now learns: its score is its last epochs' accuracy
        metrics_path = smoke_run / screen.outputs()["metrics"]
        metrics = pd.read_csv(metrics_path)
        metrics.assign(val_acc=0.99).to_csv(metrics_path, index=False)
    trained = run_summaries(smoke_run.workdir)
    smoke_run.run("--cores", "2")
    after = chosen(smoke_run)
    assert after[key] == other and {k: v for k, v in after.items() if k != key} == {
        k: v for k, v in before.items() if k != key
    }
    new = set(study.final_runs(config, after)) - set(study.final_runs(config, before))
    now = run_summaries(smoke_run.workdir)
    added = {p for p in now if p not in trained}
    extended = {p for p in added if "/screen/" in str(p)}  # 'other' is the grid's edge: screened one step beyond
    assert all(f"/{key[0]}/{key[1]}/" in str(p) for p in extended)
    assert added - extended == {smoke_run / r.outputs()["summary"] for r in new}
    assert new and {(r.group, r.variant, r.depth, r.lr) for r in new} == {(*key, other)}
    assert all(now[p] == t for p, t in trained.items())  # nothing else retrained
    assert smoke_run.planned() == {}
