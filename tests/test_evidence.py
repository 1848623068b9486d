"""The statistics the report concludes from, against scipy and hand-computed values; the rate selection."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vanishing_gradients import selection
from vanishing_gradients.report import paired as pairing


def test_t_interval_matches_scipy_and_stays_in_the_metric_range():
    values = [0.81, 0.84, 0.79, 0.9]
    mean, low, high = pairing.t_interval(values)
    ref = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert (low, high) == pytest.approx(ref) and mean == pytest.approx(np.mean(values))
    # seeds that split: 70.9%, 10%, 10% gave 30.3 ± 87.3% unclipped, an interval below 0 and above 1
    mean, low, high = pairing.t_interval([0.709, 0.1, 0.1], bounds=(0.0, 1.0))
    assert low == 0.0 and high <= 1.0 and mean == pytest.approx(0.303)
    assert math.isnan(pairing.t_interval([0.5])[1])


def test_t_quantile_is_exact_beyond_thirty_degrees_of_freedom():
    assert pairing.t_quantile(31) == pytest.approx(2.0395, abs=1e-4)  # a table stopping at 30 gave 1.96
    assert pairing.t_quantile(2) == pytest.approx(4.3027, abs=1e-4)


def test_paired_difference_matches_scipys_paired_t_test():
    a = {45: 0.840, 46: 0.842, 47: 0.818}  # tanh at three seeds
    b = {45: 0.812, 46: 0.812, 47: 0.800}  # relu at the same seeds
    got = pairing.paired_difference(a, b)
    ref = stats.ttest_rel([a[s] for s in a], [b[s] for s in a])
    ci = ref.confidence_interval(0.95)
    assert got.p == pytest.approx(ref.pvalue) and (got.low, got.high) == pytest.approx((ci.low, ci.high))
    assert got.diff == pytest.approx(0.0253, abs=1e-4) and got.low > 0  # paired: tanh is ahead
    # unpaired, the same numbers cannot be told apart: Welch's interval straddles 0
    assert stats.ttest_ind(list(a.values()), list(b.values()), equal_var=False).pvalue > 0.05


def test_paired_difference_uses_only_shared_seeds_and_handles_no_spread():
    assert pairing.paired_difference({1: 0.5, 2: 0.6}, {2: 0.4, 3: 0.1}).seeds == 1
    same = pairing.paired_difference({1: 0.5, 2: 0.6}, {1: 0.4, 2: 0.5})
    assert (same.diff, same.low, same.high, same.p) == pytest.approx((0.1, 0.1, 0.1, 0.0))
    assert pairing.paired_difference({1: 0.5}, {2: 0.5}).seeds == 0


def test_holm_by_hand():
    # sorted p: 0.01, 0.02, 0.04 with m = 3 -> 0.03, max(0.03, 0.04) = 0.04, max(0.04, 0.04) = 0.04
    assert pairing.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert pairing.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    adjusted = pairing.holm([0.001, math.nan, 0.2])
    assert adjusted[0] == pytest.approx(0.002) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.2)


def test_clopper_pearson_against_the_beta_quantiles():
    low, high = pairing.clopper_pearson(1, 3)
    assert low == pytest.approx(stats.beta.ppf(0.025, 1, 3)) and high == pytest.approx(stats.beta.ppf(0.975, 2, 2))
    assert pairing.clopper_pearson(3, 3)[1] == 1.0 and pairing.clopper_pearson(0, 3)[0] == 0.0


def screen_summary(group, variant, depth, lr, seed, val, optimizer="sgd"):
    return {
        "run": {"group": group, "variant": variant, "depth": depth, "lr": lr, "seed": seed},
        "spec": {"optimizer": optimizer},
        "best_val_acc": val,
    }


def test_the_rate_is_chosen_on_mean_validation_accuracy_never_on_test():
    summaries = [
        screen_summary("baseline", "sigmoid", 3, lr, seed, val)
        for lr, seed, val in [(0.1, 0, 0.80), (0.1, 1, 0.82), (1.0, 0, 0.86), (1.0, 1, 0.70), (3.0, 0, float("nan"))]
    ]
    for s in summaries:
        s["best_test_acc"] = 0.99 if s["run"]["lr"] == 1.0 else 0.1  # must not matter
    chosen = selection.choose(selection.screen_table(summaries))
    row = chosen.iloc[0]
    assert row["lr"] == 0.1 and row["screen_val_acc"] == pytest.approx(0.81)  # 0.81 beats (0.86 + 0.70) / 2
    assert json.loads(row["grid"]) == [0.1, 1.0, 3.0] and row["at_edge"]  # a diverged rate never wins


def test_ties_go_to_the_smallest_rate_and_the_table_round_trips(tmp_path):
    summaries = [screen_summary("fix", "v", 7, lr, 0, 0.1) for lr in (1.0, 0.01, 0.1)]
    table = selection.choose(selection.screen_table(summaries))
    assert table.iloc[0]["lr"] == 0.01
    paths = []
    for i, s in enumerate(summaries):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(s))
    fixed = [{"group": "course", "variant": "sigmoid", "depth": 3, "lr": 0.01, "optimizer": "sgd"}]
    selection.select(paths, tmp_path / "chosen.csv", fixed)
    assert selection.read(tmp_path / "chosen.csv") == {("fix", "v", 7): 0.01, ("course", "sigmoid", 3): 0.01}
    assert pd.read_csv(tmp_path / "chosen.csv").columns.tolist() == selection.COLUMNS
