"""The report's theory-beside-measurement and depth-sweep modules, on init-flow tables and a synthetic sweep whose
answers are known."""

import math

import pandas as pd
import pytest
from test_report import CONFIG, synthetic_aggregate

from vanishing_gradients import theory as mean_field
from vanishing_gradients.report import depth, model, outline, theory
from vanishing_gradients.report.sections import depth as depth_section
from vanishing_gradients.report.sections import init_flow


def flow_rows(label, group, variant, depth, factor, seeds=(0, 1), output=1.0, first=None):
    """Init-flow rows of one configuration: hidden layer l's norm is factor ** (depth - l) of the last hidden one's."""
    rows = []
    for seed in seeds:
        for layer in range(1, depth + 1):
            norm = (first if layer == 1 and first is not None else 1.0) * factor ** (depth - layer) * (1 + seed / 100)
            rows.append({"label": label, "group": group, "variant": variant, "depth": depth, "seed": seed,
                         "layer": f"hidden{layer}", "grad_norm": norm})  # fmt: skip
        rows.append({"label": label, "group": group, "variant": variant, "depth": depth, "seed": seed,
                     "layer": "output", "grad_norm": output})  # fmt: skip
    return rows


def test_the_fitted_factor_of_a_geometric_profile_is_its_ratio():
    norms = pd.Series({f"hidden{i}": (1 / 7) ** (10 - i) for i in range(2, 11)})
    assert theory.fitted_factor(norms) == pytest.approx(1 / 7, rel=1e-9)


def test_the_factor_is_fitted_at_the_deepest_depth_whose_norms_all_stay_measurable():
    flow = pd.DataFrame(
        flow_rows("a", "baseline", "sigmoid", 8, 0.2)
        + flow_rows("a", "baseline", "sigmoid", 30, 0.2)  # 0.2 ** 28 = 2.7e-20: kept
        + flow_rows("b", "x", "y", 8, 0.5)
        + flow_rows("b", "x", "y", 60, 1e-2)  # 1e-2 ** 58: below TINY, left out: depth 8 is used
        + flow_rows("c", "x", "z", 2, 0.5)  # one equal-shape hidden layer: nothing to fit
    )
    measured = theory.measured_factors(flow).set_index("label")
    assert measured.loc["a", "depth"] == 30 and measured.loc["a", "factor"] == pytest.approx(0.2, rel=1e-6)
    assert measured.loc["b", "depth"] == 8 and measured.loc["b", "factor"] == pytest.approx(0.5, rel=1e-6)
    assert math.isnan(measured.loc["c", "factor"])


SWEEP = {
    # (group, variant, depth, chosen lr): (test accuracy, gradient ratio, saturation, overfits)
    **{("baseline", "sigmoid", d, 1.0): (acc, 0.01, 0.0, False) for d, acc in ((3, 0.87), (7, 0.10), (15, 0.10))},
    **{("normalization", "batchnorm", d, 0.1): (acc, 1.0, 0.0, False) for d, acc in ((3, 0.88), (7, 0.87), (15, 0.86))},
    **{("skip_connection", "course", d, 0.1): (acc, 0.5, 0.0, False) for d, acc in ((3, 0.85), (7, 0.40), (15, 0.10))},
}
SWEEP_CONFIG = {
    **CONFIG,
    "fixes": {
        "normalization": {"depths": [3, 7, 15], "variants": {"batchnorm": {"norm": "batchnorm"}}},
        "skip_connection": {"depths": [3, 7, 15], "variants": {"course": {"skips": [[1, 3], [4, 7]]}}},
    },
}


@pytest.fixture(scope="module")
def sweep_study(tmp_path_factory):
    paths = synthetic_aggregate(tmp_path_factory.mktemp("sweep"), SWEEP, flow_depths=(3, 7, 15))
    return model.load(paths, SWEEP_CONFIG)


def test_a_study_with_a_fix_at_three_depths_leads_with_depth_after_the_answer(sweep_study):
    assert sweep_study.depth_sweep
    toc = [name for _, name, level in outline.contents(sweep_study) if level == 2]
    assert toc[:3] == [
        "1. The answer",
        "2. How deep each configuration trains",
        "3. The problem: deep sigmoid networks stop learning",
    ]
    assert toc[-1] == "10. Appendix: the setup and the configuration"


def test_the_sweep_says_how_deep_each_configuration_trains(sweep_study):
    frame = depth.sweep(sweep_study)
    deepest = {name: depth.deepest(rows) for name, rows in frame.groupby("configuration")}
    assert deepest == {"baseline (sigmoid)": 3, "normalization/batchnorm": 15, "skip_connection/course": 3}
    sentences = depth_section.depth_sentences(sweep_study)
    assert any(s.startswith("normalization/batchnorm trains at every depth up to 15") for s in sentences)
    assert any(s.startswith("skip_connection/course trains up to 3 layers") and "at 7: " in s for s in sentences)
    # The synthetic init flow: baseline 10^-depth (vanishes at 3, 7, 15), batchnorm 0.8 (flows), skips 10^(-d/4)
    agree = next(s for s in sentences if s.startswith("Gradient flow at initialisation"))
    assert "matches whether the network trains in 8 of 9 configurations and depths" in agree
    assert agree.endswith(
        "trains although its initial gradient vanishes or explodes: baseline (sigmoid) at 3 (ratio 0.001)."
    )
    table = depth_section.depth_table(sweep_study).set_index("configuration")
    assert table.loc["normalization/batchnorm", "trains up to depth"] == "15"
    assert table.loc["baseline (sigmoid)", "depth scale ξ"] == "0.26"  # PyTorch's default init, theory
    assert table.loc["normalization/batchnorm", "depth scale ξ"] == "n/a"


def test_a_shallower_depth_that_does_not_train_is_named_and_never_called_every_depth():
    def rows(accuracies: dict[int, float], failing: set[int]) -> pd.DataFrame:
        return pd.DataFrame(
            {"depth": d, "best_test_acc": acc, "best_test_acc_ci": 0.02, "trains": d not in failing}
            for d, acc in accuracies.items()
        )

    # the deep study's centred sigmoid: its interval reaches below 50% at 100, not at 200
    split = depth_section.reach_sentence("c", rows({200: 0.587, 7: 0.81, 100: 0.579}, failing={100}))
    assert (
        split
        == "c trains at 200 layers (58.7% [56.7, 60.7]), its deepest, and not at 100 (57.9% [55.9, 59.9]), shallower."
    )
    assert "every depth" not in split
    deeper = depth_section.reach_sentence("c", rows({7: 0.8, 30: 0.3, 100: 0.7, 200: 0.1}, failing={30, 200}))
    assert (
        deeper.startswith("c trains at 100 layers")
        and "not at 30 (30.0%" in deeper
        and deeper.endswith("; at 200: 10.0% [8.0, 12.0].")
    )
    whole = depth_section.reach_sentence("c", rows({7: 0.8, 30: 0.7}, failing=set()))
    assert whole == "c trains at every depth up to 30 (70.0% [68.0, 72.0] at 30)."
    assert depth_section.reach_sentence("c", rows({30: 0.1, 15: 0.1}, failing={15, 30})) == (
        "c trains at none of its depths, 15 and 30."
    )


def test_predicted_lines_start_at_the_shallowest_measurement_with_the_theory_slope(sweep_study):
    lines = theory.predicted_lines(sweep_study)
    assert set(lines["label"]) == {"baseline (sigmoid)"}  # BatchNorm and skips: not covered
    first = sweep_study.init_summary.set_index(["label", "depth"]).loc[("baseline (sigmoid)", 3), "ratio"]
    factor = mean_field.predict("sigmoid", 1 / 3, 1 / 384).factor
    at = lines.set_index("depth")["ratio"]
    assert at[3] == pytest.approx(first) and at[15] == pytest.approx(first * factor**12)
    reasons = theory.beside(sweep_study).set_index("label")["reason"]
    assert "normalisation" in reasons["normalization/batchnorm"] and "skip" in reasons["skip_connection/course"]


def test_a_control_with_the_same_activation_that_trains_where_its_sibling_does_not_is_stated(tmp_path):
    """Issue 25's controls: ReLU with Kaiming init beside ReLU at N(0, 0.05) at the same depths; tanh, alone with its
    activation, and depths where both or neither train say nothing."""
    config = {
        **CONFIG,
        "fixes": {
            "better_activation": {
                "depths": [15, 30],
                "variants": {
                    "relu": {"activation": "relu", "init": "normal", "init_std": 0.05},
                    "relu_kaiming": {"activation": "relu", "init": "kaiming_normal"},
                    "tanh": {"activation": "tanh"},
                },
            }
        },
    }
    runs = {("baseline", "sigmoid", d, 1.0): (0.1, 1e-5, 0.0, False) for d in (15, 30)}
    for d, kaiming in ((15, 0.84), (30, 0.10)):
        runs[("better_activation", "relu", d, 0.1)] = (0.10, 1e-5, 0.0, False)
        runs[("better_activation", "relu_kaiming", d, 0.1)] = (kaiming, 1.0, 0.0, False)
        runs[("better_activation", "tanh", d, 0.1)] = (0.10, 1.0, 0.0, False)
    S = model.load(synthetic_aggregate(tmp_path, runs, flow_depths=(15, 30)), config)
    (sentence,) = depth_section.control_sentences(S)
    assert sentence.startswith("At 15 layers, all with relu: better_activation/relu_kaiming at 8")
    assert "trains, better_activation/relu at 1" in sentence and "does not" in sentence
    assert sentence in depth_section.depth_sentences(S)


def test_the_correlation_depth_scale_is_shown_and_said_where_it_differs_from_the_gradients(tmp_path):
    """Schoenholz's xi_c beside xi = 1/|ln chi_1|: equal for the baseline (ordered, q* > 0), another number for the
    chaotic N(0, 10) sigmoid, as theory.correlation_depth_scale computes them."""
    S = model.load(synthetic_aggregate(tmp_path), CONFIG)
    table = init_flow.theory_table(S).set_index("configuration")
    base, std10 = table.loc["baseline (sigmoid)"], table.loc["weight_increasing/std10"]
    assert base["correlation depth ξ_c"] == base["depth scale ξ"]
    expected = mean_field.correlation_depth_scale("sigmoid", 128 * 10.0**2)
    assert std10["correlation depth ξ_c"] == f"{expected:.2f}" != std10["depth scale ξ"]
    (sentence,) = [s for s in init_flow.theory_sentences(S) if "6 ξ_c" in s]
    assert f"weight_increasing/std10 (ξ = {std10['depth scale ξ']}, ξ_c = {expected:.2f})" in sentence
    assert "baseline" not in sentence


def test_a_depth_sweeps_answer_leads_with_how_deep_each_configuration_trains(sweep_study):
    from vanishing_gradients.report.sections import summary

    first = summary.summary_sentences(sweep_study)[0]
    assert first.startswith("**How deep each configuration trains** within this budget")
    assert "up to 15 layers: normalization/batchnorm at 86" in first
    assert "up to 3 layers: baseline (sigmoid) at 8" in first and "skip_connection/course at 8" in first
    assert first.index("up to 15") < first.index("up to 3 layers")
