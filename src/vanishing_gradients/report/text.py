"""The report's words: section titles, number formats and every sentence, computed from a Study (no IPython)."""

from __future__ import annotations

import math

import pandas as pd

from ..measures import SATURATION_DEFINITIONS
from ..study import BASELINE
from .fair import comparison_sentence, comparisons
from .model import Study
from .paired import clopper_pearson
from .stats import (
    EXPLODING_RATIO,
    HEALTHY_RATIO,
    LEARNED,
    NO_SATURATION,
    RISE,
    SATURATED,
    groups_of_fixes,
    overfitting,
)

# The report's sections, anchor -> title, in order: the table of contents and the notebook's headings. A study
# that trains a fix at three depths or more (studies/depth.yaml) leads with "depth"; the others skip it.
SECTIONS = {
    "depth": "How deep each configuration trains",
    "setup": "Setup",
    "problem": "The problem: deep sigmoid networks stop learning",
    "rates": "Learning rates, chosen on validation",
    "init-flow": "Gradient flow at initialisation",
    "fixes": "The fixes",
    "comparison": "Comparison",
    "cost": "Cost",
    "conclusions": "Conclusions",
}
TITLES = {
    "baseline": "Baseline (sigmoid, SGD)",
    "weight_increasing": "Fix 1: weight increasing (larger init std)",
    "better_activation": "Fix 2: better activation (ReLU, Tanh)",
    "better_optimizer": "Fix 3: better optimizer (Adam)",
    "normalization": "Fix 4: normalisation inside the network",
    "skip_connection": "Fix 5: skip connections",
    "train_some_layers": "Fix 6: train some layers (grow the network stage by stage)",
    "gradient_normalization": "Fix 7: gradient normalisation",
    "combined": "Reference: the helpful fixes combined",
}
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


def title(group: str) -> str:
    return TITLES.get(group, group)


def fix_anchor(group: str) -> str:
    return f"fix-{group}"


def sections(study: Study) -> dict[str, str]:
    """The sections this study's report has, anchor -> numbered title ('1. Setup')."""
    present = [a for a in SECTIONS if a != "depth" or study.depth_sweep]
    return {anchor: f"{i}. {SECTIONS[anchor]}" for i, anchor in enumerate(present, start=1)}


def contents(study: Study) -> list[tuple[str, str, int]]:
    """(anchor, title, level) of every section, with a subsection per fix under 'The fixes'."""
    toc = []
    for anchor, name in sections(study).items():
        toc.append((anchor, name, 2))
        if anchor == "fixes":
            toc += [(fix_anchor(g), title(g), 3) for g in study.fix_groups]
    return toc


# ------------------------------------------------------------------------------------------ formats
def pct(value: float, half: float = math.nan, digits: int = 1) -> str:
    """A fraction in [0, 1] (an accuracy, a share of units): '87.9%', '87.9 ± 0.4%', or where the interval would
    leave [0, 1], the interval clipped to it: '10.4% [0.0, 24.4]'."""
    if not math.isfinite(value):
        return "n/a"
    if math.isfinite(half):
        if value - half < 0 or value + half > 1:
            low, high = max(value - half, 0.0), min(value + half, 1.0)
            return f"{100 * value:.{digits}f}% [{100 * low:.{digits}f}, {100 * high:.{digits}f}]"
        return f"{100 * value:.{digits}f} ± {100 * half:.{digits}f}%"
    return f"{100 * value:.{digits}f}%"


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


def outcome(row) -> str:
    """'test accuracy 87.9 ± 0.4%, 3 of 3 seeds above 50%'; where seeds split, no mean of a two-valued outcome:
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


def _saturated(row, sep: str) -> str:
    """'; 98.0 ± 0.0% saturated' where the saturation is known."""
    return f"{sep} {pct(row.saturation, row.saturation_ci)} saturated" if math.isfinite(row.saturation) else ""


def _loss(mean_half: tuple[float, float]) -> str:
    mean, half = mean_half
    return f"{mean:.3f} ± {half:.3f}" if math.isfinite(half) else f"{mean:.3f}"


# ----------------------------------------------------------------------------------------- setup
def seeds_note(study: Study) -> str:
    seeds = study.seeds
    if len(seeds) == 1:
        return (
            f"One seed ({seeds[0]}): every number is a single run, there are no intervals, and no two runs "
            "can be told apart (single runs of these networks move by a point or more between seeds)."
        )
    return (
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))}): lines, bars and table entries are means over "
        "seeds; bands, error bars and ± are 95% t-intervals of the mean (geometric mean and interval on the "
        "log scale for gradient norms and ratios). Configurations are compared in a family declared in the "
        "config before any run, with verdicts better, worse, equivalent (within the declared margin) or "
        "inconclusive, each corrected for the whole family (section Comparison)."
    )


def report_title(study: Study) -> str:
    """The report's title, a Markdown heading: the problem and the study's dataset."""
    return f"# Vanishing gradients in deep MLPs on {study.dataset.title}"


def setup_text(study: Study) -> str:
    runs = study.runs
    env = runs.iloc[0]
    return (
        f"Study **{env['study']}**: {len(runs)} runs ({runs['label'].nunique()} configurations). Device: "
        f"**{', '.join(runs['device'].unique())}**, torch threads per job: "
        f"**{', '.join(map(str, runs['threads'].unique()))}**, torch **{env['torch']}**, Python "
        f"**{env['python']}**. Data: {study.dataset.title}, pixels scaled to [0, 1]."
    )


# ---------------------------------------------------------------------------------------- the problem
def _depths_outcomes(rows: pd.DataFrame) -> tuple[str, list[str]]:
    """'5 and 7', ['5 layers: 10.0 ± 0.0%', ...] of a summary's rows."""
    outcomes = zip(rows["depth"], rows["best_test_acc"], rows["best_test_acc_ci"], strict=True)
    return join([str(d) for d in rows["depth"]]), [f"{d} layers: {pct(a, c)}" for d, a, c in outcomes]


def learning_rate_sentences(study: Study) -> list[str]:
    """At which depths the sigmoid/SGD baseline learns at some rate of the grid (the screen's validation
    accuracy), and whether, at its chosen rate with the full budget, it still learns."""
    screen = study.screen[study.screen["group"] == BASELINE]
    if screen.empty:
        return []
    best = screen.groupby(["depth", "lr"])["score"].mean().unstack("lr")
    lrs = ", ".join(f"{lr:g}" for lr in best.columns)
    sel = study.config.get("selection", {})
    out = [
        f"Learning rates screened: {lrs} ({sel.get('epochs', '?')} epochs each, screening seeds "
        f"{join([str(s) for s in sel.get('seeds', [])])}; score: mean validation accuracy of the last "
        f"{sel.get('score_epochs', '?')} epochs, mean over the seeds)."
    ]
    for depth, row in best.iterrows():
        learned = [f"{lr:g}" for lr, v in row.items() if v >= LEARNED]
        top = row.idxmax()
        text = f"{depth} hidden layers: best score {pct(row.max())} at rate {top:g}"
        text += f"; above {LEARNED:.0%} at {join(learned)}" if learned else f"; at no rate above {LEARNED:.0%}"
        out.append(text + ".")
    full = study.baseline_summary.sort_values("depth")
    for row in full.itertuples():
        out.append(f"At its chosen rate {row.lr:g} with the full budget, depth {row.depth}: {outcome(row)}.")
    never = [int(d) for d, row in best.iterrows() if (row < LEARNED).all()]
    failed = set(full.loc[full["accuracy_class"] == "not learned", "depth"])
    if never and len(never) == len(best):
        out.append(
            "No depth learns at any rate, not even the shallowest: this budget is too small to tell depth from "
            "the learning rate (a preset this small cannot answer the question)."
        )
    elif never and set(never) <= failed and min(never) > min(best.index):
        out.append(
            f"With {join([str(d) for d in never])} hidden layers no rate of the grid ({lrs}) learns in the screen, "
            "nor with the full budget at the course's rate, while shallower ones learn: within this grid, one "
            "global SGD rate and this budget, depth stops the sigmoid network. That does not rule out a rate for "
            "each layer (Adam's per-parameter rates are one: see its section), nor a later escape beyond the budget."
        )
    return out


def problem_sentences(study: Study) -> list[str]:
    """What the course's baselines show, in words, from the numbers."""
    out = []
    for row in study.baseline_summary.sort_values("depth").itertuples():
        verdict = {"learned": "learned", "not learned": "did not learn"}.get(row.accuracy_class)
        if verdict is None:  # mixed: the interval straddles 50%
            verdict = (
                f"learned in {row.seeds_learned} of {row.seeds} seeds, with an interval too wide to place above 50%"
                if row.seeds_learned == row.seeds
                else f"learned in {row.seeds_learned} of {row.seeds} seeds only"
            )
        out.append(
            f"With {row.depth} hidden layers (SGD at its chosen rate {row.lr:g}) the sigmoid MLP {verdict}: "
            f"{outcome(row)} (chance: {study.chance:.0%}); layer 1's gradient norm was "
            f"{ratio_text(row.ratio, row.ratio_low, row.ratio_high)} times the output layer's."
        )
    return out


def saturation_notes(study: Study, labels: list[str]) -> list[str]:
    """A sentence for each configuration whose saturation panel would be empty or all zeros (it gets no panel)."""
    out = []
    for label in labels:
        values = study.epoch_stat("saturation", [label])["value"]
        if values.empty:
            out.append(f"{label}: no saturation recorded.")
        elif values.max() < NO_SATURATION:
            out.append(
                f"{label}: no saturated units in any layer or epoch (at most "
                f"{pct(values.max(), digits=2)}; {SATURATION_DEFINITIONS[study.activation(label)]})."
            )
    return out


def saturation_sentence(study: Study, labels: list[str]) -> str:
    """Were the sigmoid units saturated? The answer decides what explains the vanishing gradient."""
    frame = study.epoch_stat("saturation", labels)
    if frame.empty:
        return "No saturation was recorded."
    worst = frame.loc[frame["value"].idxmax()]
    text = (
        f"Saturation ({SATURATION_DEFINITIONS['sigmoid']}) reached at most {pct(worst['value'])} "
        f"({worst['label']}, {worst['layer']}, epoch {worst['epoch']})."
    )
    if worst["value"] < 0.05:
        text += (
            " The units were not saturated: the gradient shrinks because every sigmoid layer multiplies it "
            "by σ′(x) ≤ 0.25 and by small weights, layer after layer."
        )
    return text


# ---------------------------------------------------------------------------------- gradient at init
def init_sentences(study: Study) -> list[str]:
    table = study.init_summary
    depths = sorted(table["depth"].unique())
    deepest = table[table["depth"] == depths[-1]].set_index("label")
    out = []
    keep = [lab for lab, r in deepest.iterrows() if not r["zero"] and HEALTHY_RATIO <= r["ratio"] <= EXPLODING_RATIO]
    lose = [lab for lab, r in deepest.iterrows() if r["zero"] or r["ratio"] < HEALTHY_RATIO]
    if keep:
        out.append(
            f"At {depths[-1]} hidden layers, layer 1 still receives between a tenth and ten times the output "
            f"layer's gradient with {join(keep)}."
        )
    if lose:
        zero = [lab for lab in lose if deepest.loc[lab, "zero"]]
        text = f"It receives less with {join(lose)}"
        if zero:
            text += f"; with {join(zero)} its gradient is exactly 0 for at least one seed"
        out.append(text + ".")
    exploding = [lab for lab, r in deepest.iterrows() if not r["zero"] and r["ratio"] > EXPLODING_RATIO]
    if exploding:
        out.append(f"With {join(exploding)} the ratio exceeds 10: the gradient grows towards the input instead.")
    out.append(
        "At initialisation an optimiser has not acted yet, so Adam's network there is that of sigmoid/SGD with "
        "the same init; Adam acts on each update, which it scales per parameter (its gradients while training "
        "are in the fixes' section). Train-some-layers is measured in its first stage: while the network grows, "
        "each new block is trained under a fresh head, through at most one block."
    )
    return out


# ------------------------------------------------------------------------------------------ the fixes
def fix_sentences(study: Study, group: str) -> list[str]:
    """Each variant of ``group`` against the baseline at the same depth: its verdict in the declared family."""
    table = study.summary
    margin = float((study.config.get("comparison") or {}).get("margin", 0.01))
    paired = comparisons(study).set_index("a")
    paired = paired[paired["against"] == "against the baseline"]
    base = study.baseline_summary.set_index("depth")
    out = []
    for row in table[table["group"] == group].itertuples():
        text = (
            f"{row.label} (rate {row.lr:g}): {outcome(row)}, gradient ratio "
            f"{ratio_text(row.ratio, row.ratio_low, row.ratio_high)}"
        )
        if row.diverged:
            text += f" ({row.diverged} of {row.seeds} runs diverged)"
        if row.label in paired.index:
            b = base.loc[row.depth]
            text += f" against the baseline's {ratio_text(b['ratio'], b['ratio_low'], b['ratio_high'])}. "
            text += comparison_sentence(next(paired.loc[[row.label]].reset_index().itertuples()), margin) + "."
        else:
            text += "; no baseline at this depth to compare with."
        out.append(text)
    return out


# ----------------------------------------------------------------------------------------- conclusions
def group_sentences(study: Study) -> list[str]:
    out = []
    for name, frame in groups_of_fixes(study.summary).items():
        if len(frame):
            rows = frame.sort_values("best_test_acc", ascending=False).itertuples()
            details = [f"{r.label} ({outcome(r)}; ratio {r.ratio:.2g}{_saturated(r, ';')})" for r in rows]
            out.append(f"**{GROUP_TITLES[name]}**: " + join(details) + ".")
    return out


def necessary_not_sufficient(study: Study) -> list[str]:
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
            details = [f"{r.label}: ratio {r.ratio:.2g}, {outcome(r)}{_saturated(r, ',')}" for r in failed.itertuples()]
            out.append(f"It was not sufficient: {join(details)}.")
    return out


def overfitting_sentences(study: Study) -> list[str]:
    flagged = overfitting(study.metrics)
    if flagged.empty:
        return [
            f"No configuration's validation loss ended {RISE:.0%} or more above its minimum while its training "
            "loss fell."
        ]
    return [
        f"{r.label}: validation loss lowest at epoch {join([str(e) for e in r.best_epochs])} (by seed; "
        f"{_loss(r.best_val_loss)}), then rose to {_loss(r.final_val_loss)} by epoch {r.final_epoch} while the "
        "training loss kept falling: it overfits (the best validation epoch would be the one to keep)."
        for r in flagged.itertuples()
    ]
