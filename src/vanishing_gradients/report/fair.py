"""The fair comparison: the chosen learning rates, paired differences between configurations (Holm-corrected),
the exercise's numbers beside the fair ones, and the check of the short screen (no plotting, no IPython).

Every configuration is trained at its own rate, chosen on the screen's validation accuracy; every run's test
accuracy is taken at its best validation epoch. Configurations share the study's seeds, so they are compared
seed by seed. The report makes one family of comparisons (each fix against the baseline at its depth, and every
configuration against the best one) and corrects all of them together for their number (Holm).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .evidence import METRIC, VERDICTS, Protocol, verdicts
from .model import Study, run_label
from .paired import clopper_pearson, t_interval
from .stats import CONFIG_KEYS, LEARNED


def by_seed(runs: pd.DataFrame, label: str, col: str = METRIC) -> dict:
    frame = runs[runs["label"] == label]
    return dict(zip(frame["seed"], frame[col], strict=True))


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
    mean, low, high = t_interval(values, bounds=(0.0, 1.0))
    if math.isnan(low):
        return f"{100 * mean:.1f}%"
    return f"{100 * mean:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


# -------------------------------------------------------------------------------------- comparisons
def comparisons(study: Study) -> pd.DataFrame:
    """The declared family of comparisons with their verdicts (``evidence.verdicts``), computed once per study:
    every sentence, table and figure that states a comparison reads this one table."""
    return study.memo("comparisons", lambda: verdicts(study))


def _level(study: Study, equivalence: bool = False) -> str:
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


def ranking(study: Study) -> pd.DataFrame:
    """Every configuration against the reference at its depth (the reference's own row first, difference 0),
    ordered by the difference; without a declared reference, every fix against the baseline at its depth."""
    table = comparisons(study)
    ref = (study.config.get("comparison") or {}).get("reference")
    against = table[table["against"] == ("against the reference" if ref else "against the baseline")]
    if against.empty:
        return against
    tops = []
    for b in dict.fromkeys(against["b"]):
        top = {c: math.nan for c in table.columns} | {"a": b, "b": b, "against": "reference" if ref else "baseline"}
        tops.append(top | {"kind": "accuracy", "diff": 0.0, "verdict": "", "seeds_a": 0, "seeds_b": 0})
    out = pd.concat([pd.DataFrame(tops), against], ignore_index=True)
    return out.sort_values("diff", ascending=False, kind="stable").reset_index(drop=True)


def ranking_sentences(study: Study) -> list[str]:
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


# ------------------------------------------------------------------------------------- rates and budgets
def chosen_table(study: Study) -> pd.DataFrame:
    """One row per configuration: its grid, the chosen and the course rate, the fair result at the chosen rate
    (best-epoch and last-epoch test accuracy over the study's seeds) and the exercise's run at the course rate."""
    rows = []
    course = study.course_runs
    for sel in study.selection.itertuples():
        fair = study.runs[(study.runs[CONFIG_KEYS] == [sel.group, sel.variant, sel.depth]).all(axis=1)]
        if fair.empty:
            continue
        ex = course[(course[CONFIG_KEYS] == [sel.group, sel.variant, sel.depth]).all(axis=1)]
        rows.append(
            {
                "configuration": fair["label"].iloc[0],
                "grid": ", ".join(f"{lr:g}" for lr in json.loads(sel.grid)),
                "chosen rate": _chosen_text(sel),
                "screen score": _screen_text(sel),
                "test accuracy, best epoch": accuracy_text(fair[METRIC]),
                "test accuracy, last epoch": accuracy_text(fair["test_acc"]),
                "course rate": f"{fair['course_lr'].iloc[0]:g}",
                "course rate, best epoch": accuracy_text(ex[METRIC]) if len(ex) else "not trained",
                "course rate, last epoch": accuracy_text(ex["test_acc"]) if len(ex) else "not trained",
            }
        )
    return pd.DataFrame(rows)


def _screen_text(sel) -> str:
    """'85.1% (3 of 3 seeds learned)': the chosen rate's mean score over the screening seeds."""
    if not sel.screen_seeds:
        return "not screened"
    return f"{100 * sel.screen_val_acc:.1f}% ({sel.learned_seeds} of {sel.screen_seeds} seeds learned)"


def _chosen_text(sel) -> str:
    """'0.3', '3 (grid edge)', 'none learned: course rate 0.01', '1 (seeds split)', '0.01 (fixed)'."""
    outcome = getattr(sel, "outcome", "learned")
    if outcome == "none":
        return f"no rate learned; course rate {sel.lr:g} trained"
    if outcome == "fixed" or not sel.screen_seeds:
        return f"{sel.lr:g} (fixed, not screened)"
    notes = (["seeds split"] if outcome == "split" else []) + (["grid edge"] if sel.at_edge else [])
    return f"{sel.lr:g}" + (f" ({', '.join(notes)})" if notes else "")


def selection_sentences(study: Study) -> list[str]:
    """The rule, which rates were chosen, where no rate learned, which choices were extended beyond the grid and
    which still sit at an edge, and how the fair numbers differ from the exercise's."""
    sel = study.selection
    screened = sel[sel["screen_seeds"] > 0]
    if screened.empty:
        return ["No configuration was screened (one rate per optimiser): every run uses its configured rate."]
    screen = study.config.get("selection", {})
    extend = screen.get("extend", {})
    chosen = screened[screened.get("outcome", "learned") != "none"]
    moved = chosen[[lr != rate for lr, rate in zip(chosen["lr"], _course_rates(study, chosen), strict=True)]]
    out = [
        f"The rule, declared before any run (`selection.rule: {screen.get('rule', 'one_se')}`): the smallest rate "
        "whose mean score over the screening seeds lies within one standard error of the best mean and whose worst "
        f"seed learned; screen: {screen.get('epochs', '?')} epochs, seeds {screen.get('seeds', '?')} (apart from the "
        f"final ones), score: mean validation accuracy of the last {screen.get('score_epochs', '?')} epochs, a "
        "diverged run scoring chance; the test split is never looked at.",
        f"{len(moved)} of {len(chosen)} configurations with a chosen rate chose one other than the course's.",
    ]
    if "outcome" in sel:
        none = screened[screened["outcome"] == "none"]
        if len(none):
            names = [run_label(r.group, r.variant, r.depth) for r in none.itertuples()]
            out.append(
                f"No rate of the grid learns (no screening seed reached {LEARNED:.0%} at any rate): "
                f"{', '.join(names)}. They are trained at the course's rate with the full budget, to show what it "
                "does there."
            )
        split = screened[screened["outcome"] == "split"]
        if len(split):
            names = [
                f"{run_label(r.group, r.variant, r.depth)} ({r.learned_seeds} of {r.screen_seeds} seeds at {r.lr:g})"
                for r in split.itertuples()
            ]
            out.append(f"No rate where every screening seed learned; the largest share is taken: {', '.join(names)}.")
    if "round" in sel and sel["round"].max() > 0:
        grids = {r.Index: json.loads(r.grid) for r in screened.itertuples()}
        declared = set(screen.get("learning_rates", {}).get("sgd", [])) | set(
            screen.get("learning_rates", {}).get("adam", [])
        )
        beyond = {i: [f"{x:g}" for x in grid if x not in declared] for i, grid in grids.items()}
        extended = [
            f"{run_label(r.group, r.variant, r.depth)} (to {', '.join(beyond[r.Index])})"
            for r in screened.itertuples()
            if beyond[r.Index]
        ]
        if extended:
            out.append(
                "Chosen at an edge of the grid, then screened beyond it (`selection.extend`: "
                f"×{extend.get('factor', '?')}, up to {extend.get('times', '?')} times): {', '.join(extended)}."
            )
    edge = screened[screened["at_edge"]]
    if len(edge):
        names = [f"{run_label(r.group, r.variant, r.depth)} ({r.lr:g})" for r in edge.itertuples()]
        out.append(f"Still at an edge of what was screened, so a rate beyond it might do better: {', '.join(names)}.")
    return out


def robustness_sentences(study: Study, table: pd.DataFrame) -> list[str]:
    """Which configurations learn over the widest span of rates (from the screen, every seed)."""
    if table.empty:
        return []
    ranked = table.dropna(subset=["decades"]).sort_values("decades", ascending=False)
    never = table[table["robust rates"] == 0]["configuration"].tolist()
    out = []
    if len(ranked):
        listed = [
            f"{r.configuration}: {r._4:g} to {r.to:g} ({r.decades:.1f} decades{'' if r.contiguous else ', with gaps'})"
            for r in ranked.itertuples()
        ]
        out.append(
            "Rates at which every screening seed learned, within the margin of the best: " + "; ".join(listed) + "."
        )
    if never:
        out.append(f"At no screened rate did every seed learn: {', '.join(never)}.")
    return out


def budget_sentences(study: Study) -> list[str]:
    """What budget the runs had, and that none stopped at chance."""
    runs = study.runs
    if runs.empty or "budget_steps" not in runs:
        return ["The runs of this study do not record their steps (made by an earlier version)."]
    budgets = sorted(runs["budget_steps"].unique())
    same = len(budgets) == 1
    out = [
        (f"Every final run had the same budget: {int(budgets[0]):,} optimiser steps" if same else
         f"Budgets differ between configurations: {', '.join(f'{int(b):,}' for b in budgets)} optimiser steps")
        + f" ({int(runs['budget_epochs'].max())} epochs{_grown(study) if same else ''}). "
        "No run is stopped while at chance: patience counts only once validation accuracy has passed "
        f"{(study.config.get('training') or {}).get('patience_after', 2.0):g} times chance."
    ]  # fmt: skip
    never = runs[runs["left_chance_epoch"].isna()]
    if len(never):
        by = never.groupby("label").size()
        out.append(
            "Never left chance within the whole budget: "
            + ", ".join(f"{label} ({n} of {int((runs['label'] == label).sum())} seeds)" for label, n in by.items())
            + "."
        )
    return out


def _grown(study: Study) -> str:
    """', shared by the stages of a grown network' where one was trained in stages."""
    staged = len(study.metrics) and study.metrics["stage"].max() > 1
    return ", shared by the stages of a grown network" if staged else ""


def verdict_table(study: Study) -> pd.DataFrame:
    """The declared family, one row per comparison, formatted: difference, intervals, corrected p, verdict."""
    table = comparisons(study)
    if table.empty:
        return table

    def points(v):
        return "" if not np.isfinite(v) else f"{100 * v:+.1f}"

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
                f"[{points(lo)}, {points(hi)}]" if np.isfinite(lo) else ""
                for lo, hi in zip(table["eq_low"], table["eq_high"], strict=True)
            ],
            "p (corrected)": [f"{p:.2g}" for p in table["p"]],
            "TOST p (corrected)": ["" if not np.isfinite(p) else f"{p:.2g}" for p in table["p_equivalence"]],
            "seeds": [f"{a}, {b}" for a, b in zip(table["seeds_a"], table["seeds_b"], strict=True)],
            "verdict": table["verdict"],
        }
    )


def _course_rates(study: Study, sel: pd.DataFrame) -> list[float]:
    rates = study.all_runs.drop_duplicates(CONFIG_KEYS).set_index(CONFIG_KEYS)["course_lr"]
    return [rates.get(key, math.nan) for key in zip(sel["group"], sel["variant"], sel["depth"], strict=True)]


def check_table(study: Study) -> pd.DataFrame:
    """For the configurations of ``selection.check``: each rate's validation accuracy in the short screen and
    with the full budget (the screen's seeds), and the rate each would choose."""
    screen, full = study.screen, study.checked
    if full.empty:
        return pd.DataFrame()
    rows = []
    for label, frame in full.groupby("label", sort=False):
        short = screen[screen["label"] == label].groupby("lr")["score"].mean()
        long = frame.groupby("lr")["score"].mean()
        for lr in sorted(set(short.index) | set(long.index)):
            rows.append(
                {
                    "configuration": label,
                    "rate": lr,
                    "screen score": _percent(short.get(lr, math.nan)),
                    "full-budget score": _percent(long.get(lr, math.nan)),
                    "screen's choice": lr == short.fillna(-1).idxmax() if len(short) else False,
                    "full budget's choice": lr == long.fillna(-1).idxmax(),
                }
            )
    return pd.DataFrame(rows)


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"


def check_sentences(study: Study) -> list[str]:
    table = check_table(study)
    if table.empty:
        return ["No configuration was trained at every rate with the full budget (`selection.check` is empty)."]
    out = []
    for label, frame in table.groupby("configuration", sort=False):
        short = frame.loc[frame["screen's choice"], "rate"].tolist()
        long = frame.loc[frame["full budget's choice"], "rate"].tolist()
        if not short or not long:
            continue
        if short == long:
            out.append(f"{label}: the full budget chooses the same rate as the short screen ({long[0]:g}).")
        else:
            out.append(
                f"{label}: the short screen chose {short[0]:g} if any, the full budget would choose {long[0]:g}: "
                "here the short screen favoured another rate."
            )
    return out
