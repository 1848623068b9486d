"""Section "Conclusions": what each fix did, grouped from the numbers; whether a gradient ratio near 1 was enough;
and overfitting where the runs show it."""

from __future__ import annotations

from ..formats import join, loss_text, outcome, saturated_text
from ..model import ReportData
from ..stats import (
    EXPLODING_RATIO,
    HEALTHY_RATIO,
    LEARNED,
    RISE,
    SATURATED,
    groups_of_fixes,
    overfitting,
)

BAND = f"{HEALTHY_RATIO:g} ≤ ratio ≤ {EXPLODING_RATIO:g}"


GROUP_TITLES = {
    "learned": f"Flow restored and the network learns ({BAND}, test accuracy interval above {LEARNED:.0%})",
    "exploding": f"The gradient grows towards the input instead (ratio > {EXPLODING_RATIO:g})",
    "saturated": f"The units saturate and the network does not learn (≥ {SATURATED:.0%} of the units saturated or "
    f"dead, accuracy interval below {LEARNED:.0%}, whatever the ratio)",
    "vanishing": f"The gradient still vanishes and the network does not learn (ratio < {HEALTHY_RATIO:g})",
    "unlearned": f"Flow restored, units not saturated, and still the network does not learn in this budget ({BAND})",
    "mixed": "Mixed or partial (seeds split, the accuracy interval straddles 50%, or a network that learns with a "
    "ratio outside the band)",
}


def group_sentences(study: ReportData) -> list[str]:
    out = []
    for name, frame in groups_of_fixes(study.summary).items():
        if len(frame):
            rows = frame.sort_values("best_test_acc", ascending=False).itertuples()
            details = [f"{r.label} ({outcome(r)}; ratio {r.ratio:.2g}{saturated_text(r, ';')})" for r in rows]
            out.append(f"**{GROUP_TITLES[name]}**: " + join(details) + ".")
    return out


def necessary_not_sufficient(study: ReportData) -> list[str]:
    """What the data says about a gradient ratio near 1 at each depth: whether the configurations that learned
    all had one, and which had one and still did not learn."""
    out = []
    for depth, table in study.summary.groupby("depth"):
        table = table.dropna(subset=["ratio"])
        learned = table[table["accuracy_class"] == "learned"]
        if learned.empty or len(table) < 2:
            continue
        floor = learned.loc[learned["ratio"].idxmin()]
        below = table[table["ratio"] < floor["ratio"]]
        if len(below):
            out.append(
                f"At depth {depth}, every configuration that learned had a ratio of at least "
                f"{floor['ratio']:.2g} ({floor['label']}); none of the {len(below)} below it learned "
                f"({join([f'{r.label}: {r.ratio:.2g}, {r.accuracy_class}' for r in below.itertuples()])})."
            )
        in_band = (table["ratio"] >= HEALTHY_RATIO) & (table["ratio"] <= EXPLODING_RATIO)
        failed = table[(table["accuracy_class"] == "not learned") & in_band]
        if len(failed):
            details = [
                f"{r.label}: ratio {r.ratio:.2g}, {outcome(r)}{saturated_text(r, ',')}" for r in failed.itertuples()
            ]
            out.append(f"It was not sufficient: {join(details)}.")
    return out


def overfitting_sentences(study: ReportData) -> list[str]:
    flagged = overfitting(study.metrics)
    if flagged.empty:
        return [
            f"No configuration's validation loss ended {RISE:.0%} or more above its minimum while its training "
            "loss fell."
        ]
    return [
        f"{r.label}: validation loss lowest at epoch {join([str(e) for e in r.best_epochs])} (by seed; "
        f"{loss_text(r.best_val_loss)}), then rose to {loss_text(r.final_val_loss)} by epoch {r.final_epoch} while the "
        "training loss kept falling: it overfits (the best validation epoch would be the one to keep)."
        for r in flagged.itertuples()
    ]
