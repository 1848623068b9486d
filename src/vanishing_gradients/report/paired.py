"""Intervals over seeds: t intervals of a mean, exact (Clopper-Pearson) intervals of a share.

Where seeds split (some learned, some did not) the report counts them with an exact interval instead of
averaging a two-valued outcome. Comparisons between configurations and their correction: ``evidence``.
"""

from __future__ import annotations

import math

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


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact binomial interval of a proportion k/n."""
    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)
