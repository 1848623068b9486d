"""The report's number formats, one of each: accuracies and shares, ratios, intervals, differences in points,
counts of seeds, and lists joined in words. Every section, table and figure writes its numbers through these."""

from __future__ import annotations

import math

from .stats import LEARNED, clopper_pearson, interval


def pct(value: float, half: float = math.nan, digits: int = 1) -> str:
    """A fraction in [0, 1] (an accuracy, a share of units): '87.9%', or with the half-width of an interval
    '87.9% [87.5, 88.3]', the interval kept within [0, 100] (one format whether or not it would leave it)."""
    if not math.isfinite(value):
        return "n/a"
    if math.isfinite(half):
        low, high = max(value - half, 0.0), min(value + half, 1.0)
        return f"{100 * value:.{digits}f}% [{100 * low:.{digits}f}, {100 * high:.{digits}f}]"
    return f"{100 * value:.{digits}f}%"


def points(value: float) -> str:
    """A difference of accuracies in points, signed: '+1.2', or '' where there is none."""
    return "" if not math.isfinite(value) else f"{100 * value:+.1f}"


def ratio_text(ratio: float, low: float = math.nan, high: float = math.nan) -> str:
    if not math.isfinite(ratio):
        return "n/a"
    if math.isfinite(low) and math.isfinite(high) and high > low:
        return f"{ratio:.2g} [{low:.2g}, {high:.2g}]"
    return f"{ratio:.2g}"


def join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def loss_text(mean_half: tuple[float, float]) -> str:
    """A loss with its interval: '0.412 [0.398, 0.426]' (kept at or above 0: a loss is never negative)."""
    mean, half = mean_half
    if not math.isfinite(half):
        return f"{mean:.3f}"
    return f"{mean:.3f} [{max(mean - half, 0.0):.3f}, {mean + half:.3f}]"


def learned_text(learned: int, seeds: int) -> str:
    """'1 of 3 seeds learned [1, 91%]': the count of seeds above 50%, with its exact 95% interval."""
    low, high = clopper_pearson(learned, seeds)
    return f"{learned} of {seeds} seeds learned [{100 * low:.0f}, {100 * high:.0f}%]"


def accuracy_text(values) -> str:
    """'87.9% [87.1, 88.6]' (95% t-interval, kept within [0, 100]); where seeds split, 'k of n seeds learned
    [exact 95% interval]' instead of a mean of a two-valued outcome; a single run's value alone."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "n/a"
    learned = sum(v >= LEARNED for v in values)
    if 0 < learned < len(values):
        return learned_text(learned, len(values))
    mean, low, high = interval(values, within=(0.0, 1.0))
    if math.isnan(low):
        return f"{100 * mean:.1f}%"
    return f"{100 * mean:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def outcome(row) -> str:
    """'test accuracy 87.9% [87.5, 88.3], 3 of 3 seeds above 50%'; where seeds split, no mean of a two-valued outcome:
    'test accuracy above 50% in 1 of 3 seeds [1, 91%]' (exact 95% interval)."""
    if 0 < row.seeds_learned < row.seeds:
        low, high = clopper_pearson(row.seeds_learned, row.seeds)
        return (
            f"test accuracy above {LEARNED:.0%} in {row.seeds_learned} of {row.seeds} seeds "
            f"[{100 * low:.0f}, {100 * high:.0f}%]"
        )
    text = f"test accuracy {pct(row.best_test_acc, row.best_test_acc_ci)}"
    if row.seeds > 1:
        text += f", {row.seeds_learned} of {row.seeds} seeds above {LEARNED:.0%}"
    if row.seeds_learned < row.seeds:
        text += f" ({trained_text(row)})"
    return text


def trained_text(row) -> str:
    """How long a configuration's runs trained, for every "did not learn": 'trained 50 of 50 epochs (5,300 steps);
    none left chance'. A run is never stopped while at chance (``training.patience_after``)."""
    if not math.isfinite(getattr(row, "epochs_run", math.nan)):
        return "training length not recorded"
    budget = f" of {row.budget_epochs:.0f}" if math.isfinite(row.budget_epochs) else ""
    steps = f", {row.steps:,.0f} steps" if math.isfinite(row.steps) else ""
    text = f"trained {row.epochs_run:.0f}{budget} epochs{steps}"
    if row.never_left_chance:
        text += f"; {row.never_left_chance} of {row.seeds} never left chance"
    return text


def saturated_text(row, sep: str) -> str:
    """'; 98.0% [97.9, 98.1] saturated' where the saturation is known."""
    return f"{sep} {pct(row.saturation, row.saturation_ci)} saturated" if math.isfinite(row.saturation) else ""
