"""Section "Trainability against weight scale and depth" (a study with ``phase:`` only): the phase diagram's cells
against the bound of 6 xi_c layers, counted per centring, with the budget every run had."""

from __future__ import annotations

import math

import pandas as pd

from ..formats import join, pct
from ..model import ReportData
from ..phase import DEEPER, SHALLOWER, TITLE, UNBOUNDED, budget, cells, critical, panel, signal_vanishes, threshold

LISTED = 6  # cells named per sentence; more are counted

INTRO = (
    "Sigmoid networks, plain (zero biases) and centred (each layer fed by a sigmoid gets the bias −W·1/2, so that it "
    "computes tanh(x/2)/2), initialised at each weight scale σw² (the hidden layers' weight variance × fan-in) and "
    'trained briefly with plain SGD at each depth. Schoenholz et al. (2017, "Deep Information Propagation") found '
    "random networks trainable up to about 6 ξc layers and not deeper, ξc the depth over which two inputs' "
    "correlation settles to its fixed point. Mean-field theory gives ξc for each σw²: finite on both sides of the "
    "critical σw² (the edge of chaos), where it grows without bound, and none where the signal itself shrinks to 0 "
    "(q* = 0: the centred sigmoid below its critical σw²). The red curve is 6 ξc, computed, not fitted; each square "
    "is a cell at its own best rate."
)
CAPTION = (
    "Each cell's score (accuracy on a fixed sample of training images at the end, mean over seeds) at the rate "
    "chosen for it, per centring, σw² and depth, beside 6 ξc of mean-field theory (∞: no finite ξc)"
)


def _verb(count: int, verb: str) -> str:
    """'1 trains', '2 train'."""
    return f"{count} {verb}s" if count == 1 else f"{count} {verb}"


def _cell(r) -> str:
    return f"σw² {r.sigma_w2:g} at {r.depth} layers ({pct(r.score)}, 6 ξc = {r.bound:.3g})"


def _listed(rows: pd.DataFrame) -> str:
    named = [_cell(r) for r in rows.head(LISTED).itertuples()]
    return join(named + ([f"{len(rows) - LISTED} more"] if len(rows) > LISTED else []))


def budget_sentence(study: ReportData) -> str:
    """What every run got, and how a cell is scored (from the table, not the config)."""
    b = budget(study)
    rates = join([f"{lr:g}" for lr in b["lr"]])
    plural = lambda values, word: word if values == [1] else word + "s"  # noqa: E731
    return (
        f"Every run: {join(map(str, b['epochs']))} {plural(b['epochs'], 'epoch')}, {join(map(str, b['steps']))} SGD "
        f"steps of batch {join(map(str, b['batch_size']))} on {join([f'{n:,}' for n in b['train_images']])} "
        f"training images, width {join(map(str, b['width']))}, init {join(b['init'])} without biases, at "
        f"{'each rate of ' + rates if len(b['lr']) > 1 else 'the rate ' + rates} with "
        f"{'seeds' if len(b['seed']) > 1 else 'seed'} {join(map(str, b['seed']))}. "
        "A cell's score is the mean accuracy over seeds on a fixed sample of "
        f"{join([f'{n:,}' for n in b['sample_images']])} training images at the end, at the rate that scores best "
        f"(the rate is chosen per cell, on that same score: a cell trains if any rate trains it); it trains at "
        f"{pct(threshold(study))} or more (chance: {pct(study.chance)}). A cell that fails within this short budget "
        "may train with more steps."
    )


def panel_sentence(study: ReportData, centred: bool) -> str:
    """One centring: how many cells train, how many deeper than 6 xi_c train (violations of the bound) and how many
    at or below it fail, and the cells without a finite xi_c."""
    frame = cells(study)
    rows = frame[frame["centred"] == centred].sort_values(["sigma_w2", "depth"])
    counts = panel(rows)
    text = (
        f"{TITLE[centred].capitalize()} (critical σw² ≈ {critical(centred):.3g}): {counts['train']} of "
        f"{counts['cells']} cells {'trains' if counts['train'] == 1 else 'train'}."
    )
    deeper, shallower = rows[rows["side"] == DEEPER], rows[rows["side"] == SHALLOWER]
    if len(deeper):
        against = deeper[deeper["trains"]]
        text += f" Of the {len(deeper)} deeper than 6 ξc, " + (
            f"{_verb(len(against), 'train')}, against the bound: {_listed(against)}."
            if len(against)
            else "none trains."
        )
    else:
        text += " No cell lies deeper than 6 ξc."
    if len(shallower):
        failed = shallower[~shallower["trains"]]
        text += f" Of the {len(shallower)} at or below it, " + (
            f"{_verb(len(failed), 'fail')}: {_listed(failed)}." if len(failed) else "every one trains."
        )
    unbounded = rows[rows["side"] == UNBOUNDED]
    if len(unbounded):
        sigmas = sorted(unbounded["sigma_w2"].unique())
        zero = [s for s in sigmas if signal_vanishes(centred, s)]
        why = (
            "q* = 0: the signal itself shrinks layer by layer, and the bound says nothing"
            if zero
            else "the edge of chaos"
        )
        text += (
            f" At σw² {join([f'{s:g}' for s in sigmas])} ξc is infinite ({why}): {counts['unbounded_trained']} of "
            f"those {len(unbounded)} cells {'trains' if counts['unbounded_trained'] == 1 else 'train'}."
        )
    return text


def phase_sentences(study: ReportData) -> list[str]:
    frame = cells(study)
    return [budget_sentence(study)] + [panel_sentence(study, bool(c)) for c in sorted(frame["centred"].unique())]


def phase_table(study: ReportData) -> pd.DataFrame:
    """One row per centring and σw²: 6 xi_c, then each depth's score with the rate chosen for it."""
    rows = []
    for (centred, sigma_w2), frame in cells(study).groupby(["centred", "sigma_w2"], sort=True):
        scale = frame["bound"].iloc[0]
        row = {"sigmoid": TITLE[bool(centred)], "σw²": f"{sigma_w2:g}",
               "6 ξc": "∞" if math.isinf(scale) else f"{scale:.3g}"}  # fmt: skip
        for r in frame.sort_values("depth").itertuples():
            row[f"depth {r.depth}"] = f"{pct(r.score)} at lr {r.lr:g}"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")
