"""Evidence over seeds: t intervals, paired differences with Holm's correction, exact binomial intervals.

A seed fixes a run's data order and, for configurations of the same shapes and initialisation, its initial
weights, so runs of one seed across configurations are paired: their difference, seed by seed, carries less
noise than either run. The report compares configurations through these paired differences, corrects the
separations it claims for the number of comparisons it makes (Holm 1979), and where seeds split (some learned,
some did not) counts them with an exact (Clopper-Pearson) interval instead of averaging a bimodal outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95


def t_quantile(dof: int, level: float = LEVEL) -> float:
    return float(stats.t.ppf(0.5 + level / 2, dof))


def t_interval(values, level: float = LEVEL, bounds: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """(mean, low, high) of the t interval of the mean; NaN bounds for fewer than two values.

    ``bounds``: the metric's range (e.g. (0, 1) for an accuracy): the interval never leaves it.
    """
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = t_quantile(len(x) - 1, level) * float(x.std(ddof=1)) / math.sqrt(len(x))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, low, high


@dataclass(frozen=True)
class Paired:
    """The mean ``diff`` of ``a - b`` over the seeds both have, its t interval and the paired t-test's p."""

    diff: float
    low: float
    high: float
    p: float
    seeds: int


def paired_difference(a: dict, b: dict, level: float = LEVEL) -> Paired:
    """Paired difference of two configurations' results, by seed (``{seed: value}``)."""
    common = sorted(set(a) & set(b))
    d = np.array([a[s] - b[s] for s in common], dtype=float)
    d = d[~np.isnan(d)]
    n = len(d)
    if n == 0:
        return Paired(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(d.mean())
    if n < 2:
        return Paired(mean, math.nan, math.nan, math.nan, n)
    sd = float(d.std(ddof=1))
    if sd == 0.0:  # every seed moved by exactly the same amount
        return Paired(mean, mean, mean, 1.0 if mean == 0 else 0.0, n)
    t = mean / (sd / math.sqrt(n))
    half = t_quantile(n - 1, level) * sd / math.sqrt(n)
    return Paired(mean, mean - half, mean + half, float(2 * stats.t.sf(abs(t), n - 1)), n)


def holm(pvalues) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the input's order; NaN stays NaN."""
    p = np.asarray(pvalues, dtype=float)
    valid = np.flatnonzero(~np.isnan(p))
    adjusted = np.full(len(p), math.nan)
    m, running = len(valid), 0.0
    for rank, i in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact binomial interval of a proportion k/n."""
    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)
