"""The statistics the report concludes from, against scipy and hand-computed values: intervals, the declared
comparison family and its verdicts (Welch, TOST, Fisher, Bonferroni). The rate selection: test_selection.py."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vanishing_gradients.report import evidence
from vanishing_gradients.report import stats as report_stats
from vanishing_gradients.report.model import ReportData


def test_t_interval_matches_scipy_and_stays_in_the_metric_range():
    values = [0.81, 0.84, 0.79, 0.9]
    mean, low, high = report_stats.interval(values)
    ref = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert (low, high) == pytest.approx(ref) and mean == pytest.approx(np.mean(values))
    # seeds that split: 70.9%, 10%, 10% gave 30.3 ± 87.3% unclipped, an interval below 0 and above 1
    mean, low, high = report_stats.interval([0.709, 0.1, 0.1], within=(0.0, 1.0))
    assert low == 0.0 and high <= 1.0 and mean == pytest.approx(0.303)
    assert math.isnan(report_stats.interval([0.5])[1])


def test_t_quantile_is_exact_beyond_thirty_degrees_of_freedom():
    assert report_stats.t_quantile(31) == pytest.approx(2.0395, abs=1e-4)  # a table stopping at 30 gave 1.96
    assert report_stats.t_quantile(2) == pytest.approx(4.3027, abs=1e-4)


def test_clopper_pearson_against_the_beta_quantiles():
    low, high = report_stats.clopper_pearson(1, 3)
    assert low == pytest.approx(stats.beta.ppf(0.025, 1, 3)) and high == pytest.approx(stats.beta.ppf(0.975, 2, 2))
    assert report_stats.clopper_pearson(3, 3)[1] == 1.0 and report_stats.clopper_pearson(0, 3)[0] == 0.0


# ------------------------------------------------------------------------------------ the family and its verdicts
P = evidence.Protocol(margin=0.01, alpha=0.05, learned=0.5)


def test_welch_interval_and_p_match_scipy_at_the_corrected_level():
    a, b = [0.881, 0.874, 0.879, 0.886, 0.870], [0.861, 0.866, 0.858, 0.871, 0.863]
    diff, low, high, p = evidence.welch(a, b, 1 - 0.05 / 4)
    ref = stats.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(1 - 0.05 / 4)
    assert (diff, low, high, p) == pytest.approx((np.mean(a) - np.mean(b), ci.low, ci.high, ref.pvalue))


def test_tost_by_hand_and_consistent_with_its_interval():
    rng = np.random.default_rng(3)
    a, b = 0.87 + 0.004 * rng.standard_normal(10), 0.868 + 0.004 * rng.standard_normal(10)
    # by hand: Welch's standard error and degrees of freedom, two one-sided t tests against -margin and +margin
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se, d = math.sqrt(va + vb), a.mean() - b.mean()
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    by_hand = max(stats.t.sf((d + 0.01) / se, dof), stats.t.cdf((d - 0.01) / se, dof))
    assert evidence.tost(a, b, 0.01) == pytest.approx(by_hand)
    # TOST at alpha/m rejects exactly when the (1 - 2 alpha/m) interval lies within the margin
    for m in (1, 5, 27):
        _, low, high, _ = evidence.welch(a, b, 1 - 2 * 0.05 / m)
        assert (by_hand * m <= 0.05) == (low > -0.01 and high < 0.01)


def test_three_verdicts_and_the_interval_they_use():
    base = [0.870, 0.872, 0.868, 0.871, 0.869, 0.870, 0.873, 0.867, 0.871, 0.869]
    worse = evidence.compare([v - 0.05 for v in base], base, 10, P)
    assert worse.verdict == "worse" and worse.high < 0 and worse.p <= 0.05
    same = evidence.compare([v + 0.001 for v in reversed(base)], base, 10, P)
    assert same.verdict == "equivalent" and same.eq_low > -0.01 and same.eq_high < 0.01
    noisy = evidence.compare([0.85, 0.89, 0.86, 0.90], [0.87, 0.86, 0.88, 0.89], 10, P)
    assert noisy.verdict == "inconclusive" and noisy.low < 0 < noisy.high
    # the same data, corrected for a larger family, can only lose a claim
    assert (
        evidence.compare([v - 0.002 for v in base], base, 1, P).p
        <= evidence.compare([v - 0.002 for v in base], base, 27, P).p
    )


def test_seeds_that_split_are_compared_as_shares_with_fishers_exact_test():
    split = [0.85, 0.10, 0.86, 0.10, 0.84, 0.10, 0.10, 0.10, 0.10, 0.10]  # 3 of 10 learned
    learned = [0.86] * 10
    got = evidence.compare(split, learned, 3, P)
    ref = stats.fisher_exact([[3, 7], [10, 0]]).pvalue
    assert got.kind == "share" and got.p == pytest.approx(min(1.0, 3 * ref)) and got.diff == pytest.approx(-0.7)
    assert got.verdict == "worse" and math.isnan(got.p_equivalence)
    assert evidence.compare([0.85, 0.1, 0.85], [0.86, 0.1, 0.86], 3, P).verdict == "inconclusive"


def test_identical_chance_runs_have_no_spread_and_a_clear_verdict():
    chance = [0.1] * 10
    assert evidence.compare(chance, chance, 5, P).verdict == "equivalent"
    assert evidence.compare(chance, [0.86 + 0.001 * i for i in range(10)], 5, P).verdict == "worse"


def family_study(labels_depths, reference=None):
    rows = [
        {"group": g, "variant": v, "depth": d, "label": lab, "seed": s, "best_test_acc": 0.8 + 0.001 * s}
        for g, v, d, lab in labels_depths
        for s in range(3)
    ]
    runs = pd.DataFrame(rows)
    summary = runs.drop_duplicates("label")[["group", "variant", "depth", "label"]].reset_index(drop=True)
    study = ReportData(runs, *[pd.DataFrame()] * 4, config={"comparison": {"reference": reference}})
    study.__dict__["summary"] = summary  # the cached summary: only its labels matter here
    return study


def test_the_family_holds_each_declared_pair_once():
    configs = [
        ("baseline", "sigmoid", 3, "baseline d3"),
        ("baseline", "sigmoid", 7, "baseline d7"),
        ("better_activation", "relu", 7, "better_activation/relu d7"),
        ("combined", "all", 7, "combined/all d7"),
    ]
    pairs = evidence.family(
        family_study(configs, {"group": "combined", "variant": "all"}), {"group": "combined", "variant": "all"}
    )
    as_sets = [frozenset(p[:2]) for p in pairs]
    assert len(as_sets) == len(set(as_sets)) == 3  # relu and combined vs the baseline d7; relu vs combined
    assert frozenset(("combined/all d7", "baseline d7")) in as_sets  # once, though in both halves of the family
    assert not any("baseline d3" in pair for pair in as_sets)  # no reference or fix at depth 3
    assert len(evidence.family(family_study(configs), None)) == 2
