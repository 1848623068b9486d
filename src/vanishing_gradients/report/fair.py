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

import pandas as pd

from .model import Study, run_label
from .paired import Paired, clopper_pearson, holm, paired_difference, t_interval
from .stats import CONFIG_KEYS, LEARNED

ALPHA = 0.05
METRIC = "best_test_acc"  # the test accuracy at each run's best validation epoch


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
    """Every comparison the report states, as paired differences ``a - b`` of the best-epoch test accuracy with
    Holm-adjusted p-values over the whole family: each fix against the baseline at its depth, and every
    configuration against the best one (the highest mean)."""
    summary = study.summary
    pairs: dict[tuple[str, str], str] = {}
    baselines = study.baseline_summary.set_index("depth")["label"]
    for row in summary[summary["group"] != "baseline"].itertuples():
        if row.depth in baselines.index:
            pairs[(row.label, baselines[row.depth])] = "against the baseline"
    if len(summary) > 1:
        best = summary.loc[summary[METRIC].idxmax(), "label"]
        for label in summary["label"]:
            if label != best:
                pairs.setdefault((label, best), "against the best")
    rows = []
    for (a, b), kind in pairs.items():
        d = paired_difference(by_seed(study.runs, a), by_seed(study.runs, b)).__dict__
        d["low"], d["high"] = max(d["low"], -1.0), min(d["high"], 1.0)  # a difference of accuracies: [-1, 1]
        rows.append({"a": a, "b": b, "kind": kind, **d})
    table = pd.DataFrame(rows, columns=["a", "b", "kind", *Paired.__dataclass_fields__])
    table["p_holm"] = holm(table["p"]) if len(table) else []
    table["separated"] = table["p_holm"] <= ALPHA
    return table


def difference_text(row) -> str:
    """'+12.3 points [10.1, 14.5], Holm p = 0.003' (paired over the seeds both have)."""
    if math.isnan(row.low):
        return f"{100 * row.diff:+.1f} points (one seed: no interval)"
    p = f"Holm-adjusted p = {row.p_holm:.2g}" if not math.isnan(row.p_holm) else "no test"
    return f"{100 * row.diff:+.1f} points [{100 * row.low:+.1f}, {100 * row.high:+.1f}], {p}"


def comparison_sentence(row) -> str:
    """The verdict of one paired comparison, separation claimed only where Holm's correction keeps it."""
    if row.seeds < 2:
        return f"{row.a} against {row.b}: {difference_text(row)}; single runs cannot be told apart"
    if row.separated:
        verdict = "ahead of" if row.diff > 0 else "behind"
        return f"{row.a} is {verdict} {row.b}: {difference_text(row)}"
    return f"{row.a} and {row.b} cannot be told apart with {row.seeds} paired seeds ({difference_text(row)})"


def ranking(study: Study) -> pd.DataFrame:
    """Every configuration against the best one (the best's own row has a difference of 0), best first."""
    table = study.comparisons
    against = table[table["kind"] == "against the best"]
    if study.summary.empty:
        return against
    best = study.summary.loc[study.summary[METRIC].idxmax(), "label"]
    top = {"a": best, "b": best, "kind": "best", "diff": 0.0, "low": 0.0, "high": 0.0, "p": math.nan}
    top.update(seeds=len(study.seeds), p_holm=math.nan, separated=False)
    out = pd.concat([pd.DataFrame([top]), against], ignore_index=True)
    return out.sort_values("diff", ascending=False, kind="stable").reset_index(drop=True)


def ranking_sentences(study: Study) -> list[str]:
    """Only the separations in words; the rest in one sentence (the figure shows every difference)."""
    table = ranking(study)
    if len(table) < 2:
        return []
    best = table.iloc[0]["a"]
    family = len(study.comparisons)
    out = [
        f"Best mean test accuracy at the best validation epoch: {best} "
        f"({accuracy_text(by_seed(study.runs, best).values())}). Differences are paired by seed; separations "
        f"are claimed after Holm's correction for the report's {family} comparisons (family-wise 5%)."
    ]
    ties = table[(table["kind"] == "against the best") & ~table["separated"]]
    if len(ties):
        out.append(
            f"{', '.join(ties['a'])} cannot be told apart from {best} with these seeds "
            f"({min(ties['seeds'])} paired seeds or more)."
        )
    behind = table[(table["kind"] == "against the best") & table["separated"]]
    if len(behind):
        out.append(
            f"Behind {best}, separated: " + "; ".join(f"{r.a} {difference_text(r)}" for r in behind.itertuples())
        )
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
                "chosen rate": f"{sel.lr:g}" + (" (grid edge)" if sel.at_edge else ""),
                "screen val accuracy": f"{100 * sel.screen_val_acc:.1f}%" if sel.screen_seeds else "not screened",
                "test accuracy, best epoch": accuracy_text(fair[METRIC]),
                "test accuracy, last epoch": accuracy_text(fair["test_acc"]),
                "course rate": f"{fair['course_lr'].iloc[0]:g}",
                "course rate, best epoch": accuracy_text(ex[METRIC]) if len(ex) else "not trained",
                "course rate, last epoch": accuracy_text(ex["test_acc"]) if len(ex) else "not trained",
            }
        )
    return pd.DataFrame(rows)


def selection_sentences(study: Study) -> list[str]:
    """Which rates were chosen, which sit at the grid's edge, and how the fair numbers differ from the exercise's."""
    sel = study.selection
    screened = sel[sel["screen_seeds"] > 0]
    if screened.empty:
        return ["No configuration was screened (one rate per optimiser): every run uses its configured rate."]
    moved = screened[[lr != rate for lr, rate in zip(screened["lr"], _course_rates(study, screened), strict=True)]]
    out = [
        f"{len(moved)} of {len(screened)} configurations chose a rate other than the course's on validation "
        f"(screen: {study.config.get('selection', {}).get('epochs', '?')} epochs, seeds "
        f"{study.config.get('selection', {}).get('seeds', '?')}, the test split never looked at)."
    ]
    edge = screened[screened["at_edge"]]
    if len(edge):
        names = [f"{run_label(r.group, r.variant, r.depth)} ({r.lr:g})" for r in edge.itertuples()]
        out.append(f"At the edge of the grid, so a rate beyond it might do better: {', '.join(names)}.")
    return out


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
        short = screen[screen["label"] == label].groupby("lr")["best_val_acc"].mean()
        long = frame.groupby("lr")["best_val_acc"].mean()
        for lr in sorted(set(short.index) | set(long.index)):
            rows.append(
                {
                    "configuration": label,
                    "rate": lr,
                    "screen val accuracy": _percent(short.get(lr, math.nan)),
                    "full-budget val accuracy": _percent(long.get(lr, math.nan)),
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
