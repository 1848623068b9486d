"""Section "Learning rates": the rule, the rate each configuration chose, the fair result beside the exercise's
run at the course's rate, the check of the short screen, and the robustness of each configuration to its rate."""

from __future__ import annotations

import json
import math

import pandas as pd

from ..evidence import METRIC
from ..fair import course_rates
from ..formats import accuracy_text, pct
from ..model import ReportData, run_label
from ..stats import CONFIG_KEYS, LEARNED

FAIR_CAPTION = (
    "Learning rates chosen on validation, the fair result at the chosen rate (test accuracy, mean [95% interval] "
    "over the study's seeds, or how many seeds learned where they split)"
)
CHOSEN_CAPTION = FAIR_CAPTION + " and the exercise's own run at the course's rate"
COURSE_COLUMNS = ["course rate, best epoch", "course rate, last epoch"]


def chosen_caption(study: ReportData) -> str:
    """``CHOSEN_CAPTION``, less the exercise's run where the study trains none (``selection.course_seeds: []``)."""
    return CHOSEN_CAPTION if len(study.course_runs) else FAIR_CAPTION


CHECK_CAPTION = (
    "The short screen against the full budget: validation score at every rate (the screen: mean over its seeds; the "
    "full budget: the first screening seed)"
)


ROBUST_CAPTION = (
    "Robustness to the learning rate, from the screen: the rates at which every screening seed learned and the mean "
    "score stayed within comparison.robust_margin of the best rate's (from, to, their span in decades, whether no "
    "failing rate lies between them), and the spread of the final seeds at the chosen rate"
)


def chosen_table(study: ReportData) -> pd.DataFrame:
    """One row per configuration: its grid, the chosen and the course rate, the fair result at the chosen rate
    (best-epoch and last-epoch test accuracy over the study's seeds) and the exercise's run at the course rate."""
    rows = []
    course = study.course_runs
    for sel in study.selection.itertuples():
        fair = study.fair_runs[(study.fair_runs[CONFIG_KEYS] == [sel.group, sel.variant, sel.depth]).all(axis=1)]
        if fair.empty:
            continue
        ex = course[(course[CONFIG_KEYS] == [sel.group, sel.variant, sel.depth]).all(axis=1)]
        rows.append(
            {
                "configuration": fair["label"].iloc[0],
                "grid": ", ".join(f"{lr:g}" for lr in json.loads(sel.grid)),
                "chosen rate": _chosen_text(sel, fallback(study)),
                "screen score": _screen_text(sel),
                "test accuracy, best epoch": accuracy_text(fair[METRIC]),
                "test accuracy, last epoch": accuracy_text(fair["test_acc"]),
                "course rate": f"{fair['course_lr'].iloc[0]:g}",
                "course rate, best epoch": accuracy_text(ex[METRIC]) if len(ex) else "not trained",
                "course rate, last epoch": accuracy_text(ex["test_acc"]) if len(ex) else "not trained",
            }
        )
    table = pd.DataFrame(rows)
    return table if len(course) else table.drop(columns=COURSE_COLUMNS, errors="ignore")  # no run to show there


def _screen_text(sel) -> str:
    """'85.1% (3 of 3 seeds learned)': the chosen rate's mean score over the screening seeds."""
    if not sel.screen_seeds:
        return "not screened"
    return f"{100 * sel.screen_val_acc:.1f}% ({sel.learned_seeds} of {sel.screen_seeds} seeds learned)"


def fallback(study: ReportData) -> str:
    """The study's ``selection.fallback``: which rate is trained where none learned (``course`` by default)."""
    return (study.config.get("selection") or {}).get("fallback", "course")


def _chosen_text(sel, fallback: str = "course") -> str:
    """'0.3', '3 (grid edge)', 'no rate learned; course rate 0.01 trained', '1 (seeds split)', '0.01 (fixed)'."""
    outcome = getattr(sel, "outcome", "learned")
    if outcome == "none":
        if fallback == "best_score":
            return f"no rate learned; {sel.lr:g}, the best screen score, trained"
        return f"no rate learned; course rate {sel.lr:g} trained"
    if outcome == "fixed" or not sel.screen_seeds:
        return f"{sel.lr:g} (fixed, not screened)"
    notes = (["seeds split"] if outcome == "split" else []) + (["grid edge"] if sel.at_edge else [])
    return f"{sel.lr:g}" + (f" ({', '.join(notes)})" if notes else "")


def selection_sentences(study: ReportData) -> list[str]:
    """The rule, which rates were chosen, where no rate learned, which choices were extended beyond the grid and
    which still sit at an edge, and how the fair numbers differ from the exercise's."""
    sel = study.selection
    screened = sel[sel["screen_seeds"] > 0]
    if screened.empty:
        return ["No configuration was screened (one rate per optimiser): every run uses its configured rate."]
    screen = study.config.get("selection", {})
    extend = screen.get("extend", {})
    chosen = screened[screened.get("outcome", "learned") != "none"]
    moved = chosen[[lr != rate for lr, rate in zip(chosen["lr"], course_rates(study, chosen), strict=True)]]
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
            where = (
                "at the rate of their best mean screen score (`selection.fallback: best_score`)"
                if fallback(study) == "best_score"
                else "at the course's rate"
            )
            out.append(
                f"No rate of the grid learns (no screening seed reached {LEARNED:.0%} at any rate): "
                f"{', '.join(names)}. They are trained {where} with the full budget, to show what it does there."
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


def robustness_sentences(study: ReportData, table: pd.DataFrame) -> list[str]:
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


def check_table(study: ReportData) -> pd.DataFrame:
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
                    "screen score": pct(short.get(lr, math.nan)),
                    "full-budget score": pct(long.get(lr, math.nan)),
                    "screen's choice": lr == short.fillna(-1).idxmax() if len(short) else False,
                    "full budget's choice": lr == long.fillna(-1).idxmax(),
                }
            )
    return pd.DataFrame(rows)


def check_sentences(study: ReportData) -> list[str]:
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


def robustness_display(table: pd.DataFrame) -> pd.DataFrame:
    """``protocol.robustness_table`` as the report shows it: rates as written in the config, spans in decades, the
    best score as a percentage, '–' where no rate qualified."""

    def rate(value: float) -> str:
        return "–" if math.isnan(value) else f"{value:g}"

    return pd.DataFrame(
        {
            "configuration": table["configuration"],
            "rates screened": table["rates screened"],
            "robust rates": table["robust rates"],
            "from": [rate(v) for v in table["from"]],
            "to": [rate(v) for v in table["to"]],
            "span (decades)": ["–" if math.isnan(v) else f"{v:.1f}" for v in table["decades"]],
            "no failing rate between": ["yes" if c else "no" for c in table["contiguous"]],
            "best score": [pct(v) for v in table["best score"]],
            "final seeds SD (points)": ["–" if math.isnan(v) else f"{v:.2f}" for v in table["final seeds SD (points)"]],
        }
    )
