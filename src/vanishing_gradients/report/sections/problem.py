"""Section "The problem": whether the sigmoid/SGD baseline learns at each depth, at any rate of the grid, and what
its gradients and units do."""

from __future__ import annotations

from ...measures import SATURATION_DEFINITIONS
from ...study import BASELINE
from ..figures.teaching import signals_data
from ..formats import join, outcome, pct, ratio_text
from ..model import ReportData, flow_label
from ..stats import LEARNED, NO_SATURATION


def rate_text(
    study: ReportData, lr: float, group: str = BASELINE, variant: str = "sigmoid", depth: int | None = None
) -> str:
    """'its chosen rate 0.3' where the screen chose it; 'rate 0.01 (no rate of the grid learned in the screen)' where
    it chose none (the course's rate is trained then); 'rate 0.3' where every rate was fixed (nothing was chosen)."""
    if not len(study.screen):
        return f"rate {lr:g}"
    sel = study.selection
    if depth is not None and "outcome" in sel:
        rows = sel[(sel["group"] == group) & (sel["variant"] == variant) & (sel["depth"] == depth)]
        if len(rows) and rows["outcome"].iloc[0] == "none":
            return f"rate {lr:g} (no rate of the grid learned in the screen)"
    return f"its chosen rate {lr:g}"


def baselines_title(study: ReportData) -> str:
    """The baselines' subsection: their rates were chosen on validation only where there was a screen."""
    return "The baselines at their chosen rates" if len(study.screen) else "The baselines at the study's rate"


def baselines_intro(study: ReportData) -> str:
    screened = len(study.screen) > 0
    rates = "its own learning rate, chosen on validation" if screened else "the rate the study sets (no screen)"
    return f"Each depth at {rates}: what the network learns, and how large a gradient each layer receives."


def learning_rate_sentences(study: ReportData) -> list[str]:
    """At which depths the sigmoid/SGD baseline learns at some rate of the grid (the screen's validation
    accuracy), and whether, at its chosen rate with the full budget, it still learns."""
    screen = study.screen[study.screen["group"] == BASELINE]
    if screen.empty:
        return layer_rate_sentences(study)
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
        out.append(
            f"At {rate_text(study, row.lr, depth=row.depth)} with the full budget, depth {row.depth}: {outcome(row)}."
        )
    never = [int(d) for d, row in best.iterrows() if (row < LEARNED).all()]
    failed = set(full.loc[full["accuracy_class"] == "not learned", "depth"])
    if never and len(best) == 1:  # one depth (the deep preset): nothing shallower learns to set it against
        out.append(
            f"{never[0]} hidden layers is the only depth the baseline is screened at, and no rate of the grid learns "
            "there: with no shallower depth that learns beside it, the screen cannot tell depth from the learning "
            "rate" + (" (the control below tests a rate per layer)." if layer_rate_controls(study) else ".")
        )
    elif never and len(never) == len(best):
        out.append(
            "No depth learns at any rate, not even the shallowest: this budget is too small to tell depth from "
            "the learning rate (a preset this small cannot answer the question)."
        )
    elif never and set(never) <= failed and min(never) > min(best.index):
        text = (
            f"With {join([str(d) for d in never])} hidden layers no rate of the grid ({lrs}) learns in the screen, "
            "nor with the full budget at the course's rate, while shallower ones learn: within this grid, one "
            "global SGD rate and this budget, depth stops the sigmoid network."
        )
        if not layer_rate_controls(study):
            text += (
                " That does not rule out a rate for each layer (Adam's per-parameter rates are one: see its section), "
                "nor a later escape beyond the budget."
            )
        out.append(text)
    return out + layer_rate_sentences(study)


def layer_rate_controls(study: ReportData) -> list:
    """The summary rows of the configurations trained with a rate per layer (``layer_lr``) that are the course's
    sigmoid otherwise, at depths where the baseline is trained too: the control of "depth, not the learning rate"."""
    fixes, training = study.config.get("fixes", {}), study.config.get("training", {})
    baseline = {k: v for k, v in training.items() if k not in ("layer_lr", "layer_lr_cap", "lr")}
    rows = []
    depths = set(study.baseline_summary["depth"])
    for row in study.summary.itertuples():
        settings = fixes.get(row.group, {}).get("variants", {}).get(row.variant)
        if not settings or settings.get("layer_lr", "none") == "none" or row.depth not in depths:
            continue
        merged = {**training, **settings}
        if all(merged.get(k) == v for k, v in baseline.items()):
            rows.append(row)
    return rows


def layer_rate_sentences(study: ReportData) -> list[str]:
    """The control's result beside the baseline at the same depth, each at its rate chosen on validation."""
    base = study.baseline_summary.set_index("depth")
    out = []
    for row in layer_rate_controls(study):
        ref = base.loc[row.depth]
        cap = {**study.config.get("training", {}), **study.config["fixes"][row.group]["variants"][row.variant]}
        text = (
            f"The control, a rate per layer: the same {row.depth}-layer sigmoid network with each layer's SGD rate "
            "scaled by the output layer's gradient over its own at initialisation (capped at "
            f"×{float(cap.get('layer_lr_cap', 1000)):g}; {flow_label(row.group, row.variant)}, "
            f"{rate_text(study, row.lr, row.group, row.variant, row.depth)} for the output layer): {outcome(row)}, "
            f"against the baseline's {outcome(ref)}"
        )
        if row.accuracy_class == "learned" and ref.accuracy_class == "not learned":
            text += (
                ". Within this budget it is the distribution of one global rate over the layers, not depth itself, "
                "that stops the sigmoid network at this depth"
            )
        elif row.accuracy_class == "not learned" and ref.accuracy_class == "not learned":
            text += (
                ". Rates scaled per layer do not make it learn either: within this grid and budget, the network's "
                "depth stops it, not only the rate's distribution over its layers"
            )
        out.append(text + ".")
    return out


def problem_sentences(study: ReportData) -> list[str]:
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
            f"With {row.depth} hidden layers (SGD at {rate_text(study, row.lr, depth=row.depth)}) the sigmoid MLP "
            f"{verdict} (chance: {study.chance:.0%}): "
            f"{outcome(row)}; layer 1's gradient norm was "
            f"{ratio_text(row.ratio, row.ratio_low, row.ratio_high)} times the output layer's."
        )
    return out


def saturation_notes(study: ReportData, labels: list[str]) -> list[str]:
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


def saturation_sentence(study: ReportData, labels: list[str]) -> str:
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


def mechanism_sentences(study: ReportData, depth: int) -> list[str]:
    """What the mechanism figure measured for the baseline at ``depth``: where its pre-activations lie, the slope
    there, and how much of the backward signal reaches layer 1 at initialisation."""
    data = signals_data(study, depth)
    data = data[data["label"] == flow_label(BASELINE, "")]
    if data.empty:
        return []
    first, last = data.iloc[0], data.iloc[-1]
    return [
        f"At initialisation, {depth} hidden layers: every layer's pre-activations lie between "
        f"{data['pre_q05'].min():.2g} and {data['pre_q95'].max():.2g} (5% to 95%), in the sigmoid's steep middle, "
        f"where its mean slope is {data['slope'].min():.3f} to {data['slope'].max():.3f}: the units are not "
        "saturated, and still each layer passes the backward signal on multiplied by at most 1/4 and by its weights.",
        f"The backward signal (RMS of the gradient reaching a layer's output) is {first['backward_rms']:.2g} at layer "
        f"1 against {last['backward_rms']:.2g} at layer {depth}: {first['backward_rms'] / last['backward_rms']:.2g} "
        "times as large.",
    ]
