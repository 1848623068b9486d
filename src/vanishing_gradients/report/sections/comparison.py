"""Section "Comparison": the declared family of comparisons, each verdict as wide as its test, and every
configuration's summary."""

from __future__ import annotations

import math

import pandas as pd

from ..evidence import VERDICTS, Protocol
from ..fair import comparisons
from ..formats import learned_text, pct, points, ratio_text
from ..model import ReportData

VERDICT_CAPTION = (
    "The declared family: each comparison's difference (points of test accuracy) with the interval its verdict uses "
    "(Bonferroni over the family), the equivalence interval, the corrected p-values and the verdict"
)


SUMMARY_CAPTION = (
    "All configurations at their chosen learning rate: mean [95% t-interval] over seeds of the test accuracy at the "
    "best validation epoch and at the last; the ratio is a geometric mean [95% interval]"
)


def _level(study: ReportData, equivalence: bool = False) -> str:
    protocol, m = Protocol.of(study.config), max(len(comparisons(study)), 1)
    return f"{100 * (1 - (2 if equivalence else 1) * protocol.alpha / m):.4g}%"


def difference_text(row) -> str:
    """'-1.1 points [-1.9, -0.3], corrected p = 0.003' (an accuracy), or the shares of seeds that learned."""
    if row.kind == "share":
        return f"share of seeds that learned {100 * row.diff:+.0f} points [{100 * row.low:+.0f}, {100 * row.high:+.0f}], Fisher's exact test, corrected p = {row.p:.2g}"  # noqa: E501
    if math.isnan(row.low):
        return f"{100 * row.diff:+.1f} points (one seed: no interval)"
    return f"{100 * row.diff:+.1f} points [{100 * row.low:+.1f}, {100 * row.high:+.1f}], corrected p = {row.p:.2g}"


def comparison_sentence(row, margin: float = 0.01) -> str:
    """The verdict on one comparison of the family, as wide as its test."""
    if row.verdict in ("better", "worse"):
        within = ""
        if row.kind == "accuracy" and -margin < row.eq_low and row.eq_high < margin:
            within = f", by less than the ±{100 * margin:g}-point margin"
        return f"{row.a} is {row.verdict} than {row.b}{within}: {difference_text(row)}"
    if row.verdict == "equivalent":
        return (
            f"{row.a} is equivalent to {row.b} within ±{100 * margin:g} point: {difference_text(row)}, "
            f"equivalence interval [{100 * row.eq_low:+.1f}, {100 * row.eq_high:+.1f}], TOST corrected p = "
            f"{row.p_equivalence:.2g}"
        )
    return (
        f"{row.a} against {row.b} is inconclusive with {row.seeds_a} and {row.seeds_b} seeds ({difference_text(row)})"
    )


def ranking_sentences(study: ReportData) -> list[str]:
    """The family, its correction and each verdict class in words (the figure shows every difference)."""
    table = comparisons(study)
    if table.empty:
        return []
    protocol = Protocol.of(study.config)
    subset = (study.config.get("data") or {}).get("subset") or {}
    test_size = subset.get("test") or study.dataset.test_size
    out = [
        f"{len(table)} comparisons, declared in the config before any run (each fix against the baseline at its "
        "depth; every configuration against the reference at its depth, if one is declared), each corrected for "
        f"all of them (Bonferroni, family-wise {100 * protocol.alpha:g}%): a difference is claimed where its "
        f"{_level(study)} interval excludes 0, an equivalence where the {_level(study, True)} interval lies within "
        f"±{100 * protocol.margin:g} point (TOST). Where seeds split, shares of seeds that learned are compared "
        f"(Fisher's exact test). These are claims about this test set of {test_size:,} images: two models that "
        "disagree on 6% of them have a standard error of about 0.24 points on their difference from the images alone."
    ]
    for verdict in VERDICTS:
        rows = table[table["verdict"] == verdict]
        if len(rows):
            names = [f"{r.a} vs {r.b}" for r in rows.itertuples()]
            out.append(f"**{verdict.capitalize()}** ({len(rows)} of {len(table)}): {'; '.join(names)}.")
    return out


def verdict_table(study: ReportData) -> pd.DataFrame:
    """The declared family, one row per comparison, formatted: difference, intervals, corrected p, verdict."""
    table = comparisons(study)
    if table.empty:
        return table

    return pd.DataFrame(
        {
            "a": table["a"],
            "b": table["b"],
            "compared as": table["kind"],
            "difference (points)": [points(v) for v in table["diff"]],
            f"{_level(study)} interval": [
                f"[{points(lo)}, {points(hi)}]" for lo, hi in zip(table["low"], table["high"], strict=True)
            ],
            f"{_level(study, True)} interval": [
                f"[{points(lo)}, {points(hi)}]" if math.isfinite(lo) else ""
                for lo, hi in zip(table["eq_low"], table["eq_high"], strict=True)
            ],
            "p (corrected)": [f"{p:.2g}" for p in table["p"]],
            "TOST p (corrected)": ["" if not math.isfinite(p) else f"{p:.2g}" for p in table["p_equivalence"]],
            "seeds": [f"{a}, {b}" for a, b in zip(table["seeds_a"], table["seeds_b"], strict=True)],
            "verdict": table["verdict"],
        }
    )


def format_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Readable version: accuracies as 'mean% [interval]', the ratio as 'geometric mean [interval]'."""

    def with_ci(col: str, digits: int = 1) -> list[str]:
        return [pct(v, c, digits) for v, c in zip(table[col], table[f"{col}_ci"], strict=True)]

    def accuracy(col: str) -> list[str]:
        """Where seeds split, how many learned (a mean of a two-valued outcome says little)."""
        split = (table["seeds_learned"] > 0) & (table["seeds_learned"] < table["seeds"])
        counts = [learned_text(k, n) for k, n in zip(table["seeds_learned"], table["seeds"], strict=True)]
        return [c if s else v for c, s, v in zip(counts, split, with_ci(col, 2), strict=True)]

    return pd.DataFrame(
        {
            "run": table["label"],
            "rate": [f"{lr:g}" for lr in table["lr"]],
            "seeds": table["seeds"],
            "test accuracy (best epoch)": accuracy("best_test_acc"),
            "test accuracy (last epoch)": with_ci("test_acc", 2),
            "best val accuracy": with_ci("best_val_acc", 2),
            "grad ratio hidden1/output": [
                ratio_text(*r) for r in zip(table["ratio"], table["ratio_low"], table["ratio_high"], strict=True)
            ],
            "saturated units": with_ci("saturation"),
            "diverged runs": table["diverged"],
        }
    )
