"""The report, rendered from a synthetic aggregate whose outcomes are known: sections, figures with alt text, and
numbers and conclusions equal to what the aggregate says."""

import base64
import copy
import dataclasses
import html
import io
import math
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import REPORT_HEADINGS, ROOT
from scipy import stats as scipy_stats

from vanishing_gradients import specs
from vanishing_gradients.layout import report_tables
from vanishing_gradients.report import fair, figures, model, notebook, outline, stats
from vanishing_gradients.report.formats import ratio_text
from vanishing_gradients.report.sections import comparison, conclusions, init_flow, problem, rates, summary
from vanishing_gradients.storage import write_table

SEEDS = [1, 2, 3]
# The fair runs, each configuration at its chosen rate. (group, variant, depth, chosen lr): (test accuracy at the
# best validation epoch, gradient ratio, saturation, overfits)
CONFIGS = {
    ("baseline", "sigmoid", 3, 1.0): (0.87, 0.02, 0.0, False),
    ("baseline", "sigmoid", 5, 1.0): (0.10, 1e-3, 0.0, False),
    ("baseline", "sigmoid", 7, 1.0): (0.10, 1e-5, 0.0, False),
    ("normalization", "batchnorm", 7, 0.1): (0.880, 4.7, 0.01, False),
    ("combined", "relu_bn_skip_adam", 7, 0.001): (0.882, 4.2, 0.0, True),
    ("weight_increasing", "std10", 7, 0.01): (0.10, 5.0, 0.98, False),
    ("skip_connection", "course", 7, 0.1): (0.40, 0.05, 0.0, False),
    ("gradient_normalization", "course", 7, 0.01): ((0.10, 0.70, 0.10), 300.0, 0.97, False),  # one seed learns
}
COURSE_LR = {"combined": 0.001}  # every other configuration's course rate: 0.01
# The screen (seed 0): best validation accuracy at each rate; the chosen rate is the best of them
SCREEN = {("baseline", "sigmoid", 3): {0.01: 0.30, 0.1: 0.80, 1.0: 0.87}}
SCREEN.update({("baseline", "sigmoid", d): {0.01: 0.10, 0.1: 0.10, 1.0: 0.11} for d in (5, 7)})
ACTIVATION = {"combined": "relu"}
EPOCHS = 6


def synthetic_aggregate(out, configs=None, flow_depths=(2, 8, 30)):
    """The aggregate tables of ``configs`` (default: CONFIGS), in ``out``; init flow at ``flow_depths``."""
    configs = CONFIGS if configs is None else configs
    rng = np.random.default_rng(0)
    runs, metrics, steps, epochs, flow = [], [], [], [], []
    for (group, variant, depth, lr), (acc, ratio, sat, overfits) in configs.items():
        for seed in SEEDS:
            keys = {
                "study": "synthetic",
                "dataset": "fashion_mnist",
                "phase": "runs",
                "group": group,
                "variant": variant,
                "lr": lr,
                "depth": depth,
                "seed": seed,
            }
            run_acc = (acc[SEEDS.index(seed)] if isinstance(acc, tuple) else acc) + float(rng.normal(0, 0.004))
            run_ratio = ratio * float(np.exp(rng.normal(0, 0.1)))
            runs.append(
                {
                    **keys,
                    "test_loss": 1.0,
                    "test_acc": run_acc - 0.005,  # the last epoch
                    "best_test_acc": run_acc,
                    "best_epoch": 3,
                    "best_val_acc": run_acc + 0.01,
                    "final_val_acc": run_acc,
                    "epochs_run": EPOCHS,
                    "grad_ratio_first_last": run_ratio,
                    "diverged": False,
                    "diverged_epoch": None,
                    "train_seconds": 3.0,
                    "device": "cpu",
                    "threads": 1,
                    "torch": "2.14.1",
                    "python": "3.11.7",
                    "activation": ACTIVATION.get(group, "sigmoid"),
                    "init": "normal",
                    "optimizer": "sgd",
                    "epochs": EPOCHS,
                    "wall_s": float(rng.uniform(5, 9)),
                    "max_rss_mb": float(rng.uniform(700, 900)),
                }
            )
            layers = [f"hidden{i}" for i in range(1, depth + 1)] + ["output"]
            for epoch in range(1, EPOCHS + 1):
                val_loss = (
                    0.5 + 0.1 * (epoch - 2) ** 2
                    if overfits
                    else (30.0 if group == "weight_increasing" else 2.0) / epoch
                )
                metrics.append(
                    {
                        **keys,
                        "stage": 1,
                        "epoch": epoch,
                        "train_loss": 2.0 / epoch,
                        "train_acc": run_acc,
                        "val_loss": val_loss,
                        "val_acc": run_acc,
                        "seconds": 1.0,
                    }
                )
                for i, layer in enumerate(layers):  # layer 1's norm is `ratio` times the output layer's
                    norm = 0.1 * run_ratio ** ((depth - i) / depth)
                    for step in range(3):
                        steps.append(
                            {
                                **keys,
                                "stage": 1,
                                "epoch": epoch,
                                "step": (epoch - 1) * 3 + step,
                                "layer": layer,
                                "grad_norm": norm * (1 + 0.1 * step),
                            }
                        )
                    for stat, value in (
                        ("grad_norm", norm),
                        ("grad_abs_mean", norm / 100),
                        ("weight_norm", 5.0),
                        ("update_ratio", 1e-3),
                    ):
                        epochs.append(
                            {**keys, "stage": 1, "epoch": epoch, "layer": layer, "statistic": stat, "value": value}
                        )
                    if layer != "output":
                        epochs.append(
                            {
                                **keys,
                                "stage": 1,
                                "epoch": epoch,
                                "layer": layer,
                                "statistic": "saturation",
                                "value": sat,
                            }
                        )
    selection, template = [], dict(runs[0])
    for group, variant, depth, lr in configs:
        course = COURSE_LR.get(group, 0.01)
        screen = SCREEN.get((group, variant, depth), {lr: 0.8, course: 0.5} if lr != course else {lr: 0.8})
        for rate, val in screen.items():
            runs.append(
                {**template, "phase": "screen", "group": group, "variant": variant, "depth": depth, "lr": rate}
                | {"seed": 0, "best_val_acc": val, "best_test_acc": val, "test_acc": val}
            )
            keys = {k: runs[-1][k] for k in ("study", "dataset", "phase", "group", "variant", "lr", "depth", "seed")}
            metrics += [{**keys, "stage": 1, "epoch": e, "val_acc": val, "val_loss": 1.0} for e in (1, 2, 3)]
        if course != lr:  # the exercise's run, at the course's rate
            runs.append(
                {**template, "group": group, "variant": variant, "depth": depth, "lr": course, "seed": 1}
                | {"best_test_acc": 0.2, "test_acc": 0.15}
            )
        selection.append(
            {"group": group, "variant": variant, "depth": depth, "optimizer": "sgd", "lr": lr}
            | {"screen_val_acc": max(screen.values()), "screen_seeds": 1, "grid": str(sorted(screen)), "at_edge": False}
            | {"outcome": "learned" if max(screen.values()) >= 0.5 else "none", "learned_seeds": 1, "round": 0}
        )
    for group, variant in {(g, v) for g, v, _, _ in configs}:
        for depth in flow_depths:
            for seed in (0, 1):
                per_layer = {
                    "baseline": 10.0**-depth,
                    "normalization": 0.8,
                    "combined": 1.2,
                    "gradient_normalization": 5e3,
                    "weight_increasing": 3.0**depth,
                    "skip_connection": 10.0 ** (-depth / 4),
                }.get(group, 1.0)
                underflow = group == "baseline" and depth == 30 and seed == 1
                for layer, norm in (("hidden1", 0.0 if underflow else per_layer * (1 + seed / 10)), ("output", 1.0)):
                    flow.append(
                        {
                            "group": group,
                            "variant": variant,
                            "depth": depth,
                            "seed": seed,
                            "layer": layer,
                            "grad_norm": norm,
                        }
                    )
    spectra = [  # a narrowing spread where the gradient grows, a widening one where it vanishes; none normalised
        {"group": r["group"], "variant": r["variant"], "depth": r["depth"], "seed": r["seed"]}
        | {
            "sv_log_mean": -r["depth"] / 10,
            "sv_log_std": 0.1 * r["depth"],
            "sv_log_min": -r["depth"],
            "sv_log_max": 0.0,
        }
        | {"sv_sq_log_mean": -r["depth"] / 5, "floor": 0, "q_in": 0.5, "samples": 8, "factors": r["depth"] - 1}
        for r in flow
        if r["layer"] == "output" and r["group"] != "normalization"
    ]
    frames = {"runs": runs, "metrics": metrics, "grad_steps": steps, "grad_epochs": epochs, "init_flow": flow}
    frames["init_spectra"] = spectra
    frames["selection"] = selection
    paths = report_tables(out)  # each table where and as a study keeps it (registry.report())
    for name, rows in frames.items():
        write_table(paths[name], pd.DataFrame(rows))
    return paths


CONFIG = {
    "study": "synthetic",
    "seeds": SEEDS,
    "training": specs.default_settings(),
    "selection": {"seeds": [0], "course_seeds": [1], "check": [], "epochs": 15, "score_epochs": 3},
    "comparison": {"reference": {"group": "combined", "variant": "relu_bn_skip_adam"}, "margin": 0.01, "alpha": 0.05},
    "fixes": {
        "weight_increasing": {"depths": [7], "variants": {"std10": {"init": "normal", "init_std": 10.0}}},
        "skip_connection": {
            "depths": [7],
            "variants": {"course": {"skips": [[1, 3], [4, 7]], "init": "normal", "init_std": 0.05}},
        },
    },
}


@pytest.fixture(scope="module")
def aggregate(tmp_path_factory):
    return synthetic_aggregate(tmp_path_factory.mktemp("aggregate"))


@pytest.fixture(scope="module")
def study(aggregate):
    return model.load(aggregate, CONFIG)


@pytest.fixture(scope="module")
def rendered(aggregate, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    notebook.render(
        str(ROOT / "reports/report.ipynb"), str(out.with_suffix(".ipynb")), str(out), aggregate, config=CONFIG
    )
    return html.unescape(out.read_text())


def test_mean_ci_is_the_t_interval():
    mean, half = stats.mean_ci(pd.Series([1.0, 2.0, 3.0, 4.0]))
    assert mean == 2.5 and half == pytest.approx(3.182446 * np.std([1, 2, 3, 4], ddof=1) / 2)  # t(0.975, 3 dof)
    assert stats.t_quantile(1, 0.95) == pytest.approx(12.7062, abs=1e-4)
    assert stats.t_quantile(60, 0.95) == pytest.approx(2.0003, abs=1e-4)
    assert math.isnan(stats.mean_ci(pd.Series([5.0]))[1])
    geo, low, high = stats.log_mean_ci([1e-2, 1e-4])
    assert geo == pytest.approx(1e-3) and low < 1e-3 < high
    assert math.isnan(stats.log_mean_ci([0.0, 1.0])[0])


def test_report_has_every_section_and_every_figure_has_alt_text(rendered):
    for heading in (
        "Contents",
        *REPORT_HEADINGS,
        "How it acts on the gradient",
        "Fix 4: normalisation inside the network",
        "Fix 5: skip connections",
    ):
        assert heading in rendered, heading
    for anchor in (
        "summary",
        "appendix",
        "problem",
        "rates",
        "init-flow",
        "fixes",
        "fix-normalization",
        "fix-skip_connection",
        "comparison",
        "cost",
        "conclusions",
    ):
        assert f'id="{anchor}"' in rendered and f'href="#{anchor}"' in rendered
    assert "3 seeds (1, 2, 3)" in rendered and "95% t-intervals" in rendered and "draw each seed" in rendered
    assert "▶" in rendered and "bootstrapcdn" not in rendered  # the animations' controls: nothing fetched
    images = re.findall(r"<img [^>]*>", rendered)
    # the baselines' curves, gradients over steps, heatmap, mean/max bars, update ratio and profile animation
    # (saturation is all zero: a sentence; the synthetic has no signals: no mechanism figure); lr-depth, the screen's
    # lr curves, init flow; the Jacobian's spectra; per fix and depth: curves, update ratio, heatmap (5), and per fix
    # its profile animation (5); the paired ranking, ranked, cost and the plateau's survival curve. The gradient
    # profiles (the answer's and one per fix and depth) are interactive SVG figures.
    assert len(images) == 6 + 3 + 1 + 5 * 3 + 5 + 4
    assert len(re.findall(r'<figure [^>]*role="img"', rendered)) == 1 + 5
    assert (
        rendered.count("Hover over a point") == 1 + 5 and len(re.findall(r'id="f[0-9a-f]{8}-legend-0"', rendered)) == 6
    )
    for image in images:
        alt = re.search(r'alt="([^"]*)"', image)
        assert alt and len(alt.group(1)) > 40 and "No description" not in alt.group(1), image[:200]
    assert 'src="http' not in rendered


def fair_runs(runs):
    """The runs of the fair comparison: each configuration at its chosen rate, with the study's seeds."""
    chosen = {(g, v, d): lr for g, v, d, lr in CONFIGS}
    keys = zip(runs["group"], runs["variant"], runs["depth"], runs["lr"], strict=True)
    at_chosen = [chosen.get((g, v, d)) == lr for g, v, d, lr in keys]
    return runs[(runs["phase"] == "runs") & runs["seed"].isin(SEEDS) & np.array(at_chosen)]


def test_tables_hold_the_numbers_of_the_aggregate(rendered, aggregate):
    runs = pd.read_csv(aggregate["runs"])
    fair = fair_runs(runs)
    for (group, variant, depth), frame in fair.groupby(["group", "variant", "depth"]):
        acc = frame["best_test_acc"]  # the test at the best validation epoch
        half = 4.302653 * acc.std(ddof=1) / np.sqrt(3)  # three seeds: t(0.975, 2 dof) = 4.303
        if 0 < (acc >= 0.5).sum() < 3:
            assert "1 of 3 seeds learned [1, 91%]" in rendered  # seeds split: counted, with an exact interval
        else:
            low, high = max(acc.mean() - half, 0), min(acc.mean() + half, 1)
            expected = f"{100 * acc.mean():.2f}% [{100 * low:.2f}, {100 * high:.2f}]"
            assert expected in rendered, (group, variant, depth)
        geo = 10 ** np.log10(frame["grad_ratio_first_last"]).mean()
        assert f"{geo:.2g} [" in rendered
    assert f"{fair['wall_s'].sum() / 60:.1f} min" in rendered
    assert "Standard deviation of the initial weights per layer" in rendered  # fix 1's init table
    assert "0.0206 (uniform)" in rendered and ">10<" in rendered.replace(" ", "")
    assert rendered.count("Standard deviation of the initial weights per layer") == 2  # fix 1 and fix 5
    assert "Learning rates chosen on validation" in rendered and "course rate, best epoch" in rendered


def test_the_learning_rate_question_is_answered_from_the_screen(study):
    said = " ".join(problem.learning_rate_sentences(study))
    assert "Learning rates screened: 0.01, 0.1, 1 (15 epochs each, screening seeds 0" in said
    assert "3 hidden layers: best score 87.0% at rate 1; above 50% at 0.1 and 1." in said
    assert "5 hidden layers: best score 11.0% at rate 1; at no rate above 50%." in said
    # no screening rate learned at depth 7: the rate is not called chosen
    assert "At rate 1 (no rate of the grid learned in the screen) with the full budget, depth 7: test accuracy" in said
    # as wide as its test: within this grid and budget, not "the failure is depth"
    assert "With 5 and 7 hidden layers no rate of the grid (0.01, 0.1, 1) learns in the screen" in said
    assert "within this grid, one global SGD rate and this budget" in said and "failure is depth" not in said


def test_a_screen_where_no_depth_learns_says_it_cannot_conclude(study):
    small = copy.copy(study)
    small.all_runs = study.all_runs.assign(score=0.1)
    said = " ".join(problem.learning_rate_sentences(small))
    assert "too small to tell depth from the learning rate" in said and "within this grid" not in said


def test_a_screen_of_one_depth_that_does_not_learn_is_not_called_too_small(study):
    """The deep preset screens the baseline at 7 layers only: nothing shallower to set it against."""
    one = copy.copy(study)
    runs = study.all_runs
    one.all_runs = runs[(runs["group"] != "baseline") | (runs["depth"] == 7)].assign(score=0.1)
    said = " ".join(problem.learning_rate_sentences(one))
    assert "7 hidden layers is the only depth the baseline is screened at, and no rate of the grid learns" in said
    assert "cannot tell depth from the learning rate." in said and "too small" not in said


def test_fixes_are_grouped_from_the_numbers(study):
    groups = stats.groups_of_fixes(study.summary)
    assert set(groups["learned"]["label"]) == {"normalization/batchnorm d7", "combined/relu_bn_skip_adam d7"}
    assert set(groups["saturated"]["label"]) == {"weight_increasing/std10 d7"}
    assert set(groups["vanishing"]["label"]) == {"skip_connection/course d7"}
    assert set(groups["exploding"]["label"]) == {"gradient_normalization/course d7"}  # ratio 300: not healthy
    assert groups["mixed"].empty
    said = " ".join(conclusions.group_sentences(study))
    assert "The units saturate and the network does not learn" in said
    assert "98.0% [98.0, 98.0] saturated" in said and "above 50% in 1 of 3 seeds" in said


def test_a_run_whose_ratio_is_unknown_and_units_saturated_is_filed_as_saturated(study):
    summary = study.summary.copy()
    row = summary["label"] == "weight_increasing/std10 d7"
    summary.loc[row, ["ratio", "flow_class"]] = [math.nan, "unknown"]
    groups = stats.groups_of_fixes(summary)
    assert set(groups["saturated"]["label"]) == {"weight_increasing/std10 d7"} and groups["mixed"].empty


def test_a_ratio_near_one_is_shown_necessary_but_not_sufficient(study, aggregate):
    runs = pd.read_csv(aggregate["runs"])
    runs = fair_runs(runs)
    geo = runs.groupby(["group", "variant", "depth"])["grad_ratio_first_last"].apply(lambda r: 10 ** np.log10(r).mean())
    said = " ".join(conclusions.necessary_not_sufficient(study))
    floor = geo[("combined", "relu_bn_skip_adam", 7)]
    assert (
        f"every configuration that learned had a ratio of at least {floor:.2g} (combined/relu_bn_skip_adam d7)" in said
    )
    assert f"skip_connection/course d7: {geo[('skip_connection', 'course', 7)]:.2g}, not learned" in said
    assert f"baseline d7: {geo[('baseline', 'sigmoid', 7)]:.2g}, not learned" in said
    assert f"not sufficient: weight_increasing/std10 d7: ratio {geo[('weight_increasing', 'std10', 7)]:.2g}" in said
    assert "gradient_normalization" not in said.split("not sufficient")[1]  # exploding, and one seed learned


def test_overfitting_is_flagged_with_the_epoch_of_lowest_validation_loss(study):
    flagged = stats.overfitting(study.metrics)
    assert list(flagged["label"]) == ["combined/relu_bn_skip_adam d7"]
    assert flagged["best_epochs"].iloc[0] == [2, 2, 2] and flagged["best_val_loss"].iloc[0][0] == pytest.approx(0.5)
    said = conclusions.overfitting_sentences(study)[0]
    assert said.startswith("combined/relu_bn_skip_adam d7: validation loss lowest at epoch 2, 2 and 2 (by seed")


def test_configurations_are_compared_in_the_declared_family_with_welch_at_bonferronis_level(study):
    table = fair.comparisons(study).set_index(["a", "b"])
    m = len(table)
    fixes = len(study.summary[study.summary["group"] != "baseline"])
    assert m == fixes + (fixes - 1)  # each fix against its baseline, every other one against the reference; once
    ref = "combined/relu_bn_skip_adam d7"
    runs = study.fair_runs
    for (a, b), row in table.iterrows():
        x = runs[runs["label"] == a]["best_test_acc"].to_numpy()
        y = runs[runs["label"] == b]["best_test_acc"].to_numpy()
        if row["kind"] == "accuracy":
            test = scipy_stats.ttest_ind(x, y, equal_var=False)
            ci = test.confidence_interval(1 - 0.05 / m)
            assert row["p"] == pytest.approx(min(1, m * test.pvalue)) and row["diff"] == pytest.approx(
                x.mean() - y.mean()
            )
            assert (row["low"], row["high"]) == pytest.approx((max(-1, ci.low), min(1, ci.high)))
    # batchnorm and combined differ by 0.2 points with 3 seeds of noise 0.4: neither different nor equivalent
    assert table.loc[("normalization/batchnorm d7", ref), "verdict"] == "inconclusive"
    assert table.loc[("skip_connection/course d7", ref), "verdict"] == "worse"  # 48 points behind, every seed
    assert table.loc[("gradient_normalization/course d7", ref), "kind"] == "share"  # its seeds split
    said = " ".join(comparison.ranking_sentences(study))
    assert f"{m} comparisons, declared in the config before any run" in said and "Bonferroni" in said
    assert "claims about this test set" in said
    ranked = fair.ranking(study)
    assert ranked.iloc[0]["a"] == ref and list(ranked["diff"]) == sorted(ranked["diff"], reverse=True)


def test_the_fair_numbers_stand_beside_the_exercises(study):
    table = rates.chosen_table(study).set_index("configuration")
    assert table.loc["baseline d3", "chosen rate"] == "1" and table.loc["baseline d3", "course rate"] == "0.01"
    assert table.loc["baseline d3", "course rate, best epoch"] == "20.0%"  # the single run at the course's rate
    # std10's course rate is its chosen one: the exercise's run is the fair run of the course's seed
    assert table.loc["weight_increasing/std10 d7", "course rate, best epoch"] != "not trained"
    assert table.loc["gradient_normalization/course d7", "test accuracy, best epoch"].startswith("1 of 3 seeds")
    assert rates.chosen_caption(study) == rates.CHOSEN_CAPTION
    # a study that trains no run at the course's rate (the deep preset) shows no column of them
    none = dataclasses.replace(study, all_runs=study.all_runs[~study.all_runs["course"]])
    assert not set(rates.COURSE_COLUMNS) & set(rates.chosen_table(none).columns)
    assert "course rate" in rates.chosen_table(none) and "exercise" not in rates.chosen_caption(none)
    said = " ".join(rates.selection_sentences(study))
    assert "configurations with a chosen rate chose one other than the course's" in said
    assert "No rate of the grid learns" in said and "baseline d5" in said.split("No rate of the grid learns")[1]


def test_gradient_flow_at_initialisation_flags_underflow(study):
    table = study.init_summary
    deep = table[(table["label"] == "baseline (sigmoid)") & (table["depth"] == 30)].iloc[0]
    assert bool(deep["zero"]) and math.isnan(deep["ratio"])
    said = " ".join(init_flow.init_sentences(study))
    assert "At 30 hidden layers, layer 1 still receives between a tenth and ten times" in said
    assert "exactly 0 for at least one seed" in said and "weight_increasing/std10" in said
    depth_table = init_flow.init_depth_table(study).set_index("configuration")
    band = "ratio in [0.1, 10] up to depth"
    assert depth_table.loc["normalization/batchnorm", band] == "30 (all)"
    assert depth_table.loc["baseline (sigmoid)", "ratio at depth 30"] == "0"
    assert depth_table.loc["baseline (sigmoid)", band] == "none"
    assert depth_table.loc["gradient_normalization/course", band] == "none"  # exploding is not healthy


def line_colours(plot):
    return {
        line.get_label(): line.get_color()
        for ax in plot.fig.axes
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    }


def test_one_colour_per_run_label_in_every_figure(study):
    labels = ["baseline d7", "normalization/batchnorm d7", "weight_increasing/std10 d7"]
    curves = line_colours(figures.curves(study, labels, "t"))
    profile = line_colours(figures.layer_profile(study, labels, "t"))
    for label in labels:
        assert curves[label] == profile[label], label
    other = line_colours(figures.curves(study, labels[::-1], "t"))
    assert all(other[label] == curves[label] for label in labels)


def test_loss_axis_is_logarithmic_when_losses_span_more_than_a_decade(study):
    wide = figures.curves(study, ["weight_increasing/std10 d7", "normalization/batchnorm d7"], "t")
    narrow = figures.curves(study, ["normalization/batchnorm d7"], "t")
    assert wide.fig.axes[0].get_yscale() == "log" and narrow.fig.axes[0].get_yscale() == "linear"


def test_gradient_profile_aligns_layers_by_distance_from_the_output(study):
    data = figures.layer_profile_data(study, ["baseline d3", "baseline d7"]).query("seed == 1")
    where = data.set_index(["label", "layer"])["below_output"]
    assert where[("baseline d3", "output")] == where[("baseline d7", "output")] == 0
    assert where[("baseline d3", "hidden3")] == where[("baseline d7", "hidden7")] == 1
    assert where[("baseline d3", "hidden1")] == 3 and where[("baseline d7", "hidden1")] == 7
    axis = figures.layer_profile(study, ["baseline d7"], "t").fig.axes[0]
    ticks = [t.get_text() for t in axis.get_xticklabels()]
    assert ticks[0] == "output" and ticks[1] == "1 below"


def test_an_all_zero_saturation_panel_becomes_a_sentence(study):
    labels = ["baseline d3", "weight_increasing/std10 d7"]
    plot = figures.saturation_per_layer(study, labels, "t")
    assert [ax.get_title() for ax in plot.fig.axes] == ["weight_increasing/std10 d7"]
    (sentence,) = problem.saturation_notes(study, labels)
    assert sentence.startswith("baseline d3: no saturated units")
    assert figures.saturation_per_layer(study, ["baseline d3"], "t") is None
    assert len(problem.saturation_notes(study, ["baseline d3"])) == 1


@pytest.mark.skipif(shutil.which("chromium") is None, reason="apt-get install chromium")
def test_report_opens_in_headless_chromium(rendered, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(rendered)
    shot = tmp_path / "shot.png"
    cmd = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,4000",
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert shot.stat().st_size > 50_000, "the screenshot is nearly empty"
    console_errors = [line for line in result.stderr.splitlines() if "CONSOLE" in line and "ERROR" in line.upper()]
    assert not console_errors, console_errors
    assert "net::ERR" not in result.stderr, "the page tried to load something it could not"
    dom = subprocess.run([*cmd[:-2], "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom.stdout)) == len(
        re.findall(r"<img [^>]*>", rendered)
    )
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.std() > 20, "the screenshot is blank"


def test_ranked_comparison_puts_the_best_configuration_at_the_top(study):
    plot = figures.ranked_comparison(study)
    ax = plot.fig.axes[0]
    ticks = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    best = study.summary.sort_values("best_test_acc", ascending=False)["label"].iloc[0]
    top = min(ticks, key=ticks.get) if ax.yaxis_inverted() else max(ticks, key=ticks.get)
    assert top == best and ax.get_xlim() == (0, 1)


def test_every_gradient_panel_shows_its_steps(study):
    plot = figures.grad_norm_over_training(study, ["baseline d3", "baseline d7"], "t")
    last_step = study.grad_steps["step"].max()
    for ax in plot.fig.axes:
        assert ax.get_xlim()[1] >= last_step and ax.get_ylim() == plot.fig.axes[0].get_ylim()


def signal_rows(depth: int = 7, factor: float = 0.25) -> pd.DataFrame:
    """Init-flow rows of the baseline at ``depth`` whose signals are known: the backward signal shrinks by
    ``factor`` per layer towards the input, the forward signal stays at 0.5, the pre-activations lie in [-1, 1]."""
    rows = []
    for seed in (0, 1):
        for i in range(1, depth + 1):
            rows.append(
                {"group": "baseline", "variant": "", "depth": depth, "seed": seed, "layer": f"hidden{i}"}
                | {"grad_norm": factor ** (depth - i), "pre_mean": 0.0, "pre_std": 0.5, "pre_q05": -1.0}
                | {"pre_q95": 1.0, "slope": 0.235, "forward_rms": 0.5, "backward_rms": factor ** (depth - i)}
            )
        rows.append(
            {"group": "baseline", "variant": "", "depth": depth, "seed": seed, "layer": "output"} | {"grad_norm": 1.0}
        )
    frame = pd.DataFrame(rows)
    frame["label"] = model.flow_label("baseline", "")
    return frame


def test_the_mechanism_and_the_signals_at_initialisation_say_what_was_measured(study):
    with_signals = dataclasses.replace(study, init_flow=signal_rows(), cache={})
    plot = figures.mechanism(with_signals, "baseline", "", 7)
    assert plot is not None and "hidden7 0.235" in plot.alt
    said = " ".join(problem.mechanism_sentences(with_signals, 7))
    assert "between -1 and 1" in said and "0.235 to 0.235" in said
    assert f"{0.25**-6:.2g} times as large" not in said and f"{0.25**6:.2g} times as large" in said
    assert init_flow.signals_depth(with_signals) == 7
    back, forward = init_flow.signal_sentences(with_signals)
    assert f"baseline (sigmoid) {0.25**6:.2g}" in back and "baseline (sigmoid) 1" in forward
    assert figures.signals_at_init(with_signals, 7) is not None
    # a study recorded before the signals were: no figure, no sentence, no error
    assert figures.mechanism(study, "baseline", "", 7) is None and problem.mechanism_sentences(study, 7) == []
    assert init_flow.signal_sentences(study) == [] and figures.signals_at_init(study, 7) is None


def test_few_seeds_are_drawn_one_by_one_and_a_loss_axis_never_goes_below_zero(study):
    labels = study.baseline_labels()
    plot = figures.curves(study, labels, "curves")
    assert "each seed as a thin line" in plot.alt  # 3 seeds: fewer than SEEDS_FOR_BANDS
    loss_axis = plot.fig.axes[0]
    assert loss_axis.get_yscale() == "log" or loss_axis.get_ylim()[0] >= 0


def test_the_update_ratio_bars_and_the_profile_over_epochs_are_drawn_from_the_records(study):
    labels = study.baseline_labels()
    ratio = figures.update_ratio(study, labels, "update ratio")
    assert ratio is not None and "0.001" in ratio.alt  # the synthetic records 1e-3 at every layer and epoch
    bars = figures.grad_bars_data(study, labels)
    assert set(bars["over steps"]) == {"mean", "max"}
    wide = bars.pivot_table(index=["label", "layer"], columns="over steps", values="grad_norm")
    assert (wide["max"] >= wide["mean"]).all()
    frames = figures.profile_frames(study, labels, frames=2)
    assert sorted(frames["epoch"].unique()) == [1, EPOCHS]  # the first and the last epoch
    movie = figures.profile_animation(study, labels, "profile", frames=2)
    assert movie is not None and "2 of them" in movie.alt
    page = movie.anim.to_jshtml()  # self-contained: both frames embedded, a slider to move between them
    assert page.count("data:image/png;base64") == 2 and 'type="range"' in page


def test_embedded_images_are_compacted_to_256_colours_at_their_size(study, monkeypatch):
    from PIL import Image

    shown = []
    monkeypatch.setattr(notebook, "_html", shown.append)
    labels = study.baseline_labels()
    movie = figures.profile_animation(study, labels, "profile", frames=2)
    notebook.animate(movie)
    frames = re.findall(r"data:image/png;base64,((?:[A-Za-z0-9+/=]|\\\n)+)", shown[0])
    assert len(frames) == 2 and 'alt="' in shown[0]
    for frame in frames:
        with Image.open(io.BytesIO(base64.b64decode(frame.replace("\\\n", "")))) as image:
            assert image.mode == "P" and len(image.getcolors(256)) <= 256  # a palette image: 256 colours at most
            assert image.size == (round(movie.fig.get_figwidth() * 72), round(movie.fig.get_figheight() * 72))
    raw = io.BytesIO()
    figures.curves(study, labels, "curves").fig.savefig(raw, format="png", dpi=90)
    small = notebook.compact_png(raw.getvalue())
    assert len(small) < len(raw.getvalue())
    with Image.open(io.BytesIO(raw.getvalue())) as before, Image.open(io.BytesIO(small)) as after:
        assert before.size == after.size
        difference = np.abs(np.asarray(before.convert("RGB"), float) - np.asarray(after.convert("RGB"), float))
        assert difference.mean() < 1.0  # on a 0-255 scale: no visible change


def test_the_answer_is_computed_from_the_tables_the_sections_show(study):
    said = summary.summary_sentences(study)
    problem_line = said[0]
    assert problem_line.startswith("**The problem.** The sigmoid/SGD baseline learns with 3 hidden layers")
    assert "not with 5 and 7. With 7:" in problem_line
    deepest = study.baseline_summary.set_index("depth").loc[7]
    assert ratio_text(deepest["ratio"], deepest["ratio_low"], deepest["ratio_high"]) in problem_line
    fixes_line = next(line for line in said if line.startswith("**The fixes at 7 hidden layers**"))
    learned = study.summary[(study.summary["group"] != "baseline") & (study.summary["accuracy_class"] == "learned")]
    assert f"{len(learned)} learned (" in fixes_line
    for against, rows in fair.comparisons(study).groupby("against"):
        line = next(line for line in said if line.startswith(f"**Compared {against}**"))
        assert f"({len(rows)} comparisons" in line
        assert all(f"{n} {verdict}" in line for verdict, n in rows["verdict"].value_counts().items())


def test_the_profile_shows_values_on_hover_and_a_legend_click_hides_a_configuration(study):
    labels = study.baseline_labels()
    plot = figures.layer_profile(study, labels, "profile")
    assert len(plot.toggles) == 2 * len(labels)  # a legend entry's line and its text
    markup = notebook.interactive_svg(plot)
    values = figures.layer_profile_data(study, labels).groupby(["label", "below_output"])["value"].apply(stats.geo_mean)
    titles = [html.unescape(t) for t in re.findall(r"<title>([^<]*)</title>", markup)]
    assert f"baseline d7, output layer: mean ‖∇W‖₂ {values[('baseline d7', 0)]:.3g}" in titles
    assert f"baseline d3, 3 below the output: mean ‖∇W‖₂ {values[('baseline d3', 3)]:.3g}" in titles
    for entry, members in plot.toggles.items():  # every id the script names is in the figure, once
        for gid in (entry, *members):
            assert len(re.findall(rf'<g id="f[0-9a-f]{{8}}-{gid}">', markup)) == 1, gid
    assert "<svg" in markup and "addEventListener" in markup and "<?xml" not in markup


@pytest.mark.parametrize(("layers", "shown"), [(8, 8), (201, 12)])
def test_a_per_layer_legend_is_thinned_to_fit_its_panel_keeping_the_first_and_the_output(layers, shown):
    """At 200 layers a legend of every layer outgrew its panel (tight_layout gave up, its warning in the report)."""
    import matplotlib.pyplot as plt

    from vanishing_gradients.report.figures import training

    fig, ax = plt.subplots()
    names = [f"hidden{i}" for i in range(1, layers)] + ["output"]
    for i, name in enumerate(names):
        ax.plot([0, 1], [i, i], label=name)
    training.layer_legend(ax)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == shown and texts[0] == "hidden1" and texts[-1] == "output"
    assert texts == sorted(texts, key=names.index)  # input to output, in order
    plt.close(fig)


def test_a_heatmap_of_200_layers_keeps_a_readable_height(study, monkeypatch):
    """A row per layer made a 200-layer heatmap 92 inches tall; its height is capped, seaborn thins the labels."""
    from vanishing_gradients.report.figures import training

    rows = [f"hidden{i}" for i in range(1, 201)] + ["output"]
    monkeypatch.setattr(training, "heatmap_data", lambda *_: pd.DataFrame(-2.0, index=rows, columns=[1, 2, 3]))
    plot = figures.grad_heatmap(study, study.baseline_labels()[0], vrange=(-8, 1))
    assert plot.fig.get_size_inches()[1] <= 12
    assert "hidden1" in plot.alt


def test_the_layer_profile_of_200_layers_labels_a_readable_number_of_layers(study, monkeypatch):
    """A label per layer ran into one black smear at 100 and 200 layers."""
    from vanishing_gradients.report.figures import training

    def tick_names(labels):
        return [t.get_text() for t in figures.layer_profile(study, labels, "t").fig.axes[0].get_xticklabels()]

    shallow = tick_names(study.baseline_labels())
    assert shallow == ["output"] + [f"{k} below" for k in range(1, len(shallow))]  # up to 15 layers: every one
    label = study.baseline_labels()[0]
    profile = pd.DataFrame({"label": label, "seed": 0, "below_output": range(201), "value": 1.0})
    monkeypatch.setattr(training, "layer_profile_data", lambda *_: profile)
    assert tick_names([label]) == ["output"] + [f"{k} below" for k in range(20, 201, 20)]


def test_the_rate_by_depth_figure_draws_each_screening_seed_as_a_dot_not_a_band(study):
    plot = figures.lr_depth(study)
    ax = plot.fig.axes[0]
    screen = study.screen[study.screen["group"] == "baseline"]
    dots = sum(len(c.get_offsets()) for c in ax.collections)
    assert dots == len(screen)  # one dot per screening run, and no error bar (a LineCollection) besides
    assert "each seed a dot" in plot.alt


@pytest.mark.parametrize(("control", "verdict"), [(0.80, "not depth itself"), (0.10, "do not make it learn either")])
def test_the_per_layer_rate_control_is_stated_beside_the_baseline(tmp_path, control, verdict):
    """Issue 25, item 5: "depth, not the learning rate" is the result of the control where a study trains it: the
    course's sigmoid with a rate per layer (layer_lr), at the baseline's depth, each at its rate chosen on validation.
    """
    config = copy.deepcopy(CONFIG)
    fix = {"depths": [7], "variants": {"layer_rates": {"layer_lr": "init_gradient"}}}
    config["fixes"] = {"better_optimizer": fix}
    configs = {k: v for k, v in CONFIGS.items() if k[0] == "baseline"}
    configs[("better_optimizer", "layer_rates", 7, 0.1)] = (control, 1.0, 0.0, False)
    S = model.load(synthetic_aggregate(tmp_path, configs), config)
    (sentence,) = problem.layer_rate_sentences(S)
    assert (
        sentence.startswith("The control, a rate per layer: the same 7-layer sigmoid network") and verdict in sentence
    )
    first, second = (float(v) for v in re.findall(r"test accuracy (\d+\.\d)%", sentence))  # control, then baseline
    assert "capped at ×1000" in sentence and first == pytest.approx(100 * control, abs=1) and second < 15
    assert not any("does not rule out a rate for each layer" in s for s in problem.learning_rate_sentences(S))
    # its heading and mechanism name what is trained: no Adam here (the course's Fix 3 heading says Adam)
    assert outline.title("better_optimizer", S) == "Fix 3: better optimizer (a rate per layer)"
    assert outline.mechanism("better_optimizer", S) == outline.LAYER_RATES
    adam = dataclasses.replace(S, fair_runs=S.fair_runs.assign(optimizer="adam"))
    assert outline.title("better_optimizer", adam) == "Fix 3: better optimizer (Adam and a rate per layer)"
    assert outline.mechanism("better_optimizer", adam).startswith("Adam divides each parameter's step")
    assert outline.title("better_optimizer") == "Fix 3: better optimizer (Adam)"
    config["fixes"]["better_optimizer"]["variants"]["layer_rates"]["activation"] = "tanh"  # not the course's network
    assert problem.layer_rate_sentences(model.load(synthetic_aggregate(tmp_path / "tanh", configs), config)) == []


def test_the_appendix_lists_every_value_that_defines_the_study():
    """The fixes' depths, a variant's own depths, the comparison's declarations and the phase diagram's settings too."""
    from vanishing_gradients.report.sections import appendix

    config = copy.deepcopy(CONFIG) | {"phase": {"sigma_w2": [4, 16], "depths": [10]}}
    config["fixes"]["weight_increasing"]["variant_depths"] = {"std10": [7, 200]}
    table = appendix.config_table(config).set_index("config key")["value"]
    assert (
        table["fixes.weight_increasing.depths"] == "[7]"
        and table["fixes.weight_increasing.variant_depths.std10"] == "[7, 200]"
    )
    assert table["phase.sigma_w2"] == "[4, 16]" and table["comparison.margin"] == "0.01"
