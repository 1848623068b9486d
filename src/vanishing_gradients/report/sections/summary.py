"""Section "The answer": the study's answer in a few sentences, computed from the same tables as the sections
that show it, with what the seeds and intervals mean. It comes first; the evidence follows."""

from __future__ import annotations

from ...study import BASELINE
from ..depth import deepest, sweep
from ..fair import comparisons
from ..formats import join, outcome, pct, ratio_text
from ..model import ReportData, flow_label
from ..outline import sections


def summary_sentences(study: ReportData) -> list[str]:
    """The problem at the baseline's depths, how many fix configurations learned at their depth, and the
    comparisons' verdicts: each sentence points to the section that shows its evidence."""
    out = _depths(study) + _problem(study) + _fixes(study) + _verdicts(study)
    return out or ["The study trained no configuration this summary can describe."]


def _depths(study: ReportData) -> list[str]:
    """A depth sweep's answer first: the deepest depth each configuration trains at (its whole interval above 50%),
    grouped by that depth, deepest first."""
    if not study.depth_sweep:
        return []
    reach: dict[int, list[str]] = {}
    for name, rows in sweep(study).groupby("configuration", sort=False):
        found = deepest(rows)
        if found:
            at = rows[rows["depth"] == found].iloc[0]
            reach.setdefault(found, []).append(f"{name} at {pct(at['best_test_acc'], at['best_test_acc_ci'])}")
        else:
            reach.setdefault(0, []).append(name)
    parts = [f"up to {d} layers: {join(names)}" for d, names in sorted(reach.items(), reverse=True) if d]
    if 0 in reach:
        parts.append(f"at none of its depths: {join(reach[0])}")
    return [
        f"**How deep each configuration trains** within this budget, at the deepest depth whose whole interval is "
        f"above 50% (section {_number(study, 'depth')}): " + "; ".join(parts) + "."
    ]


def _problem(study: ReportData) -> list[str]:
    base = study.baseline_summary.sort_values("depth")
    if base.empty:
        return []
    learned = base[base["accuracy_class"] == "learned"]
    failed = base[base["accuracy_class"] == "not learned"]
    out = []
    if len(learned) and len(failed) and failed["depth"].min() > learned["depth"].max():
        ok, bad = learned.iloc[-1], failed.iloc[-1]  # the deepest that learned, the deepest that did not
        out.append(
            f"**The problem.** The sigmoid/SGD baseline learns with {ok['depth']} hidden layers "
            f"({pct(ok['best_test_acc'], ok['best_test_acc_ci'])}) and not with "
            f"{join([str(d) for d in failed['depth']])}. With {bad['depth']}: {outcome(bad)}, and layer 1 receives "
            f"{ratio_text(bad['ratio'], bad['ratio_low'], bad['ratio_high'])} of the output layer's gradient "
            f"(section {_number(study, 'problem')})."
        )
    else:
        parts = [f"{r.depth} layers: {outcome(r)}" for r in base.itertuples()]
        out.append(f"**The baseline** (sigmoid, SGD; section {_number(study, 'problem')}): {'; '.join(parts)}.")
    return out


def _fixes(study: ReportData) -> list[str]:
    fixes = study.summary[study.summary["group"] != BASELINE]
    out = []
    for depth, rows in fixes.groupby("depth"):
        rows = rows.sort_values("best_test_acc", ascending=False)
        by_class = {c: rows[rows["accuracy_class"] == c] for c in ("learned", "not learned", "mixed")}
        parts = []
        if len(by_class["learned"]):
            parts.append(
                f"{len(by_class['learned'])} learned ("
                + ", ".join(
                    f"{flow_label(r.group, r.variant)} {pct(r.best_test_acc)}" for r in by_class["learned"].itertuples()
                )
                + ")"
            )
        if len(by_class["not learned"]):
            parts.append(
                f"{len(by_class['not learned'])} did not ("
                + ", ".join(flow_label(r.group, r.variant) for r in by_class["not learned"].itertuples())
                + ")"
            )
        if len(by_class["mixed"]):
            parts.append(
                f"{len(by_class['mixed'])} {'is' if len(by_class['mixed']) == 1 else 'are'} mixed: seeds split or an "
                "interval across 50% ("
                + ", ".join(flow_label(r.group, r.variant) for r in by_class["mixed"].itertuples())
                + ")"
            )
        out.append(
            f"**The fixes at {depth} hidden layers**, each at its own rate: of {len(rows)} configurations, "
            + "; ".join(parts)
            + f" (sections {_number(study, 'fixes')} and {_number(study, 'conclusions')})."
        )
    return out


def _verdicts(study: ReportData) -> list[str]:
    table = comparisons(study)
    if table.empty:
        return []
    out = []
    for against, rows in table.groupby("against", sort=False):
        counts = rows["verdict"].value_counts()
        listed = ", ".join(f"{counts[v]} {v}" for v in ("better", "worse", "equivalent", "inconclusive") if v in counts)
        equivalent = rows[rows["verdict"] == "equivalent"]["a"].tolist()
        text = f"**Compared {against}** ({len(rows)} comparisons of the declared family): {listed}"
        if equivalent and against == "against the reference":
            text += f"; equivalent to it within the declared margin: {join(equivalent)}"
        out.append(text + f" (section {_number(study, 'comparison')}).")
    return out


def _number(study: ReportData, anchor: str) -> str:
    """A section's number in this report ('3'), for the summary's pointers."""
    return sections(study)[anchor].split(".")[0]


def seeds_note(study: ReportData) -> str:
    seeds = study.seeds
    if len(seeds) == 1:
        return (
            f"One seed ({seeds[0]}): every number is a single run, there are no intervals, and no two runs "
            "can be told apart (single runs of these networks move by a point or more between seeds)."
        )
    return (
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))}): lines, bars and table entries are means over seeds, "
        "and [brackets] and bands are 95% t-intervals of the mean (geometric mean and interval on the log scale for "
        "gradient norms and ratios); with fewer than 4 seeds the validation curves draw each seed instead of a band. "
        "Configurations are compared in a family declared in the config before any run, with verdicts better, worse, "
        "equivalent (within the declared margin) or inconclusive, each corrected for the whole family (section "
        "Comparison)."
    )
