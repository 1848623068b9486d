"""The comparison family declared in the config and its verdicts: computation only, no prose, no plotting.

The family (``comparison:`` in the config, declared before any run): each fix variant against the baseline at its
depth, and every configuration against the reference (e.g. the combined fixes) at its depth, each pair once.

Per pair, over the seeds (unpaired: configurations of different architectures are not correlated through their
seed, and pairing would halve the degrees of freedom), with m the size of the family and Bonferroni's correction,
so that the interval drawn is the one the verdict uses:

- **better / worse**: Welch's (1 - alpha/m) interval of the difference of mean test accuracies excludes 0;
- **equivalent**: otherwise, if the (1 - 2 alpha/m) interval lies within +-margin (two one-sided Welch tests,
  TOST, each at alpha/m);
- **inconclusive**: neither.

Where a configuration's seeds split (some learned, some did not), the mean of a two-valued outcome means little:
the pair is compared as shares of seeds that learned (Fisher's exact test, Bonferroni-corrected; exact
Clopper-Pearson intervals of each share at 1 - alpha/m), with the accuracy of the seeds that learned beside it;
a share comparison is better/worse or inconclusive (equivalence of shares is not tested).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..study import BASELINE
from .model import ReportData, run_label
from .stats import clopper_pearson

METRIC = "best_test_acc"  # the test accuracy at each run's best validation epoch
VERDICTS = ("better", "worse", "equivalent", "inconclusive")


@dataclass(frozen=True)
class Protocol:
    """The family's settings (``comparison:``): margin and alpha as fractions, ``learned`` an accuracy."""

    margin: float = 0.01
    alpha: float = 0.05
    learned: float = 0.5

    @classmethod
    def of(cls, config: dict) -> Protocol:
        found = config.get("comparison") or {}
        return cls(**{k: float(found[k]) for k in ("margin", "alpha", "learned") if k in found})


@dataclass(frozen=True)
class Verdict:
    """One comparison ``a - b``: its kind (accuracy or share), the difference and its intervals, the corrected
    p-values and the verdict."""

    kind: str  # "accuracy" (Welch, TOST) or "share" (Fisher)
    diff: float  # difference of mean accuracies, or of shares of seeds that learned
    low: float  # the (1 - alpha/m) interval of the difference (accuracy) ...
    high: float
    eq_low: float  # ... and the (1 - 2 alpha/m) one that the equivalence test uses (accuracy only)
    eq_high: float
    p: float  # of the difference, Bonferroni-corrected (min(1, m p))
    p_equivalence: float  # of TOST, corrected (NaN for shares)
    verdict: str
    seeds_a: int
    seeds_b: int


def family(study: ReportData, reference: dict | None) -> list[tuple[str, str, str]]:
    """The declared pairs ``(a, b, kind)`` among the configurations the study trained: each fix variant against
    the baseline at its depth, then every configuration against the reference at its depth; each pair once."""
    summary = study.summary
    labels = set(summary["label"])
    pairs: dict[frozenset, tuple[str, str, str]] = {}
    for row in summary.itertuples():
        base = run_label(BASELINE, "sigmoid", row.depth)
        if row.group != BASELINE and base in labels:
            pairs.setdefault(frozenset((row.label, base)), (row.label, base, "against the baseline"))
    if reference:
        for row in summary.itertuples():
            ref = run_label(reference["group"], reference["variant"], row.depth)
            if ref in labels and ref != row.label:
                pairs.setdefault(frozenset((row.label, ref)), (row.label, ref, "against the reference"))
    return list(pairs.values())


def welch(a, b, level: float) -> tuple[float, float, float, float]:
    """(diff, low, high, two-sided p) of Welch's t for mean(a) - mean(b); exact where both have no spread."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return diff, math.nan, math.nan, math.nan
    if a.std() == 0 and b.std() == 0:  # e.g. two configurations at exactly chance on every seed
        return diff, diff, diff, 1.0 if diff == 0 else 0.0
    with warnings.catch_warnings():  # one sample without spread (every seed at chance) is a valid Welch case
        warnings.simplefilter("ignore", RuntimeWarning)
        test = stats.ttest_ind(a, b, equal_var=False)
        ci = test.confidence_interval(confidence_level=level)
    return diff, float(ci.low), float(ci.high), float(test.pvalue)


def tost(a, b, margin: float) -> float:
    """p of two one-sided Welch tests that |mean(a) - mean(b)| < margin (the larger of the two p-values)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if a.std() == 0 and b.std() == 0:
        return 0.0 if abs(a.mean() - b.mean()) < margin else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        above = stats.ttest_ind(a + margin, b, equal_var=False, alternative="greater").pvalue
        below = stats.ttest_ind(a - margin, b, equal_var=False, alternative="less").pvalue
    return float(max(above, below))


def split(values, learned: float) -> bool:
    """True if some seeds learned and some did not."""
    hits = [v >= learned for v in values]
    return any(hits) and not all(hits)


def compare(a, b, m: int, protocol: Protocol) -> Verdict:
    """The verdict on ``a - b`` (test accuracies over seeds) in a family of ``m`` comparisons."""
    a = [v for v in a if not math.isnan(v)]
    b = [v for v in b if not math.isnan(v)]
    alpha, margin = protocol.alpha / max(m, 1), protocol.margin
    if not a or not b:
        return Verdict("accuracy", math.nan, *[math.nan] * 6, "inconclusive", len(a), len(b))
    if split(a, protocol.learned) or split(b, protocol.learned):
        ka, kb = sum(v >= protocol.learned for v in a), sum(v >= protocol.learned for v in b)
        p = min(1.0, m * float(stats.fisher_exact([[ka, len(a) - ka], [kb, len(b) - kb]]).pvalue))
        diff = ka / len(a) - kb / len(b)
        verdict = ("better" if diff > 0 else "worse") if p <= protocol.alpha else "inconclusive"
        (la, ha), (lb, hb) = clopper_pearson(ka, len(a), 1 - alpha), clopper_pearson(kb, len(b), 1 - alpha)
        return Verdict("share", diff, la - hb, ha - lb, math.nan, math.nan, p, math.nan, verdict, len(a), len(b))
    diff, low, high, p = welch(a, b, 1 - alpha)
    _, eq_low, eq_high, _ = welch(a, b, 1 - 2 * alpha)
    p_eq = tost(a, b, margin)
    p, p_eq = min(1.0, m * p), min(1.0, m * p_eq)
    # a difference of accuracies lies in [-1, 1]; clipping moves no bound across 0 or the margin, so no verdict
    low, high, eq_low, eq_high = (min(1.0, max(-1.0, v)) for v in (low, high, eq_low, eq_high))
    if p <= protocol.alpha:
        verdict = "better" if diff > 0 else "worse"
    elif p_eq <= protocol.alpha:
        verdict = "equivalent"
    else:
        verdict = "inconclusive"
    return Verdict("accuracy", diff, low, high, eq_low, eq_high, p, p_eq, verdict, len(a), len(b))


def verdicts(study: ReportData) -> pd.DataFrame:
    """Every comparison of the declared family with its verdict (``Verdict``'s fields), in the family's order."""
    config = study.config or {}
    protocol = Protocol.of(config)
    pairs = family(study, (config.get("comparison") or {}).get("reference"))
    values = study.fair_runs.groupby("label")[METRIC].apply(list).to_dict()
    rows = [
        {"a": a, "b": b, "against": kind, **asdict(compare(values[a], values[b], len(pairs), protocol))}
        for a, b, kind in pairs
    ]
    return pd.DataFrame(rows, columns=["a", "b", "against", *Verdict.__dataclass_fields__])


def learned_accuracy(values, learned: float) -> float:
    """The mean accuracy of the seeds that learned (NaN if none did)."""
    hits = [v for v in values if v >= learned]
    return float(np.mean(hits)) if hits else math.nan
