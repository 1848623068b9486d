"""The report's outline: its sections in order (anchors and titles), the fixes' titles and the one sentence per
fix that says how it acts on the gradient. The table of contents and the notebook's headings read it."""

from __future__ import annotations

from .model import ReportData

# anchor -> title, in the notebook's order. "depth" only where a study trains a fix at three depths or more
# (studies/depth.yaml), "phase" only where it trains the phase diagram (`phase:`); the others are in every report.
SECTIONS = {
    "summary": "The answer",
    "depth": "How deep each configuration trains",
    "phase": "Trainability against weight scale and depth",
    "problem": "The problem: deep sigmoid networks stop learning",
    "rates": "Learning rates, chosen on validation",
    "init-flow": "Gradient flow at initialisation",
    "fixes": "The fixes",
    "comparison": "Comparison",
    "cost": "Cost",
    "conclusions": "Conclusions",
    "appendix": "Appendix: the setup and the configuration",
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
# How each fix acts on the gradient, in one sentence: the mechanism the section's figures then show measured.
MECHANISMS = {
    "baseline": "Backpropagation multiplies the gradient, once per sigmoid layer, by the sigmoid's slope (at most "
    "1/4) and by that layer's weights: with small weights the product is well below 1, so the gradient shrinks "
    "geometrically on its way to the first layers.",
    "weight_increasing": "Larger weights make each layer's factor larger, so less of the gradient is lost per layer; "
    "too large, and the pre-activations leave the sigmoid's steep middle, where its slope falls towards 0 "
    "(saturation).",
    "better_activation": "ReLU's slope is 1 wherever a unit is active and tanh's reaches 1 at 0, against the "
    "sigmoid's 1/4, so the activation takes less from the gradient at each layer; the weights' factor remains.",
    "better_optimizer": "Adam divides each parameter's step by a running scale of that parameter's own gradient: "
    "the gradient still vanishes towards the input, but the first layers' steps no longer shrink with it.",
    "normalization": "Normalising each layer's pre-activations over the batch keeps them where the sigmoid is steep, "
    "whatever the weights, and the normalisation's backward pass rescales the gradient by the same factor.",
    "skip_connection": "An addition passes the gradient to the earlier layer unchanged, so part of it bypasses the "
    "sigmoid layers in between.",
    "train_some_layers": "Each stage trains a network at most one new block deeper under a fresh output layer, so "
    "the gradient that trains a new block crosses only a few sigmoid layers.",
    "gradient_normalization": "The backward pass standardises the gradient after every activation, so its size no "
    "longer depends on how many layers it has crossed (its direction still does).",
    "combined": "ReLU, BatchNorm, skip connections and Adam together: each of the mechanisms above at once.",
}


# A fix variant with a rate per layer (training.layer_lr), in whichever fix a study puts it (the deep preset: Fix 3)
LAYER_RATES = (
    "A rate per layer (`training.layer_lr`) scales each layer's SGD step by the output layer's gradient over its own "
    "at initialisation, so the first layers' steps start as large as the last's; the gradient itself still vanishes."
)


def _optimizers(study: ReportData | None, group: str) -> tuple[bool, bool]:
    """Whether ``study`` trains ``group`` with Adam, and with a rate per layer (its trained variants' settings);
    (True, False), the course's Fix 3, where no study is given."""
    if study is None:
        return True, False
    runs = study.fair_runs[study.fair_runs["group"] == group]
    variants = study.config.get("fixes", {}).get(group, {}).get("variants", {})
    per_layer = any(variants.get(v, {}).get("layer_lr", "none") != "none" for v in runs["variant"].unique())
    adam = "optimizer" in runs and bool((runs["optimizer"] == "adam").any())
    return adam, per_layer


def title(group: str, study: ReportData | None = None) -> str:
    """A fix's heading; Fix 3's names what ``study`` trains of it (Adam, a rate per layer)."""
    adam, per_layer = _optimizers(study, group)
    if group == "better_optimizer" and (per_layer or not adam):
        parts = ["Adam"] * adam + ["a rate per layer"] * per_layer
        return f"Fix 3: better optimizer ({' and '.join(parts) or 'SGD'})"
    return TITLES.get(group, group)


def mechanism(group: str, study: ReportData | None = None) -> str:
    """How the fix acts on the gradient, as ``study`` trains it (Adam's sentence only where it trains Adam, the rate
    per layer's where it trains one), or '' for a fix this outline does not describe (a user's own)."""
    adam, per_layer = _optimizers(study, group)
    text = "" if group == "better_optimizer" and not adam else MECHANISMS.get(group, "")
    return f"{text} {LAYER_RATES}".strip() if per_layer else text


def fix_anchor(group: str) -> str:
    return f"fix-{group}"


def report_title(study: ReportData) -> str:
    """The report's title, a Markdown heading: the problem and the study's dataset."""
    return f"# Vanishing gradients in deep MLPs on {study.dataset.title}"


def sections(study: ReportData) -> dict[str, str]:
    """The sections this study's report has, anchor -> numbered title ('1. Setup')."""
    shown = {"depth": study.depth_sweep, "phase": study.phase is not None}  # the sections some studies have
    present = [a for a in SECTIONS if shown.get(a, True)]
    return {anchor: f"{i}. {SECTIONS[anchor]}" for i, anchor in enumerate(present, start=1)}


def contents(study: ReportData) -> list[tuple[str, str, int]]:
    """(anchor, title, level) of every section, with a subsection per fix under 'The fixes'."""
    toc = []
    for anchor, name in sections(study).items():
        toc.append((anchor, name, 2))
        if anchor == "fixes":
            toc += [(fix_anchor(g), title(g, study), 3) for g in study.fix_groups]
    return toc
