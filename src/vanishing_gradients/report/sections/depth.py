"""Section "How deep each configuration trains" (a depth sweep only): test accuracy against depth, and whether the
gradient flow at initialisation or the theory's depth scale tells how deep each configuration trains."""

from __future__ import annotations

import math

import pandas as pd

from ...study import BASELINE
from ..depth import deepest, sweep
from ..formats import join, pct, ratio_text
from ..model import ReportData
from ..stats import EXPLODING_RATIO, HEALTHY_RATIO
from ..theory import beside

DEPTH_CAPTION = (
    "Test accuracy at the best validation epoch per depth (each depth at its own rate chosen on validation; mean "
    "and 95% t-interval over seeds, clipped to [0, 100]), the deepest depth whose whole interval is above 50%, "
    "layer 1's gradient ratio at initialisation at that depth's deepest sweep point, and mean-field theory's depth "
    "scale ξ = 1/|ln χ₁| where it applies"
)


def depth_table(study: ReportData) -> pd.DataFrame:
    frame = sweep(study)
    theory = beside(study).set_index("label") if len(study.init_flow) else pd.DataFrame()
    deepest_depth = frame["depth"].max()
    rows = []
    for name, rows_of in frame.groupby("configuration", sort=False):
        row = {"configuration": name}
        for r in rows_of.itertuples():
            row[f"depth {r.depth}"] = pct(r.best_test_acc, r.best_test_acc_ci)
        found = deepest(rows_of)
        row["trains up to depth"] = str(found) if found else "none"
        at = rows_of[rows_of["depth"] == deepest_depth]
        row[f"init ratio at depth {deepest_depth}"] = (
            ("0" if at.iloc[0]["zero"] else ratio_text(at.iloc[0]["init_ratio"]))
            if len(at) and not pd.isna(at.iloc[0]["init_ratio"])
            else "n/a"
        )
        xi = theory["depth_scale"].get(name, math.nan) if len(theory) else math.nan
        row["depth scale ξ"] = "∞" if math.isinf(xi) else f"{xi:.2g}" if math.isfinite(xi) else "n/a"  # as the text
        rows.append(row)
    return pd.DataFrame(rows).fillna("not trained")


def reach_sentence(name: str, rows_of: pd.DataFrame) -> str:
    """How deep one configuration trains (its rows of ``depth.sweep``): its deepest depth whose whole interval is
    above 50%, the accuracy one depth further, and any shallower depth where it does not train (an interval
    reaching 50%, or a seed below it)."""
    found = deepest(rows_of)
    at = rows_of.set_index("depth").sort_index()
    if found is None:  # its own depths: a variant may have depths of its own (variant_depths)
        return f"{name} trains at none of its depths, {join([str(d) for d in at.index])}."

    def accuracy(d: int) -> str:
        return pct(at.loc[d, "best_test_acc"], at.loc[d, "best_test_acc_ci"])

    deeper = [d for d in at.index if d > found]
    gaps = [d for d in at.index if d < found and not at.loc[d, "trains"]]
    if gaps:  # not "every depth": a shallower one's interval reaches 50% or its seeds split
        missed = join([f"{d} ({accuracy(d)})" for d in gaps])
        text = f"{name} trains at {found} layers ({accuracy(found)}), its deepest, and not at {missed}, shallower"
    else:
        reach = f"up to {found} layers" if deeper else f"at every depth up to {found}"
        text = f"{name} trains {reach} ({accuracy(found)} at {found})"
    if deeper:
        text += f"; at {deeper[0]}: {accuracy(deeper[0])}"
    return text + "."


def depth_sentences(study: ReportData) -> list[str]:
    """How deep each configuration trains, and whether its gradient flow at initialisation predicted it."""
    frame = sweep(study)
    if frame.empty:
        return []
    out = [reach_sentence(name, rows_of) for name, rows_of in frame.groupby("configuration", sort=False)]
    out += control_sentences(study)
    out += theory_depth_sentences(study, frame)
    known = frame.dropna(subset=["flows"])
    if len(known):
        agree = known[known["flows"].astype(bool) == known["trains"]]
        missed = known[known["flows"].astype(bool) != known["trains"]]
        text = (
            f"Gradient flow at initialisation (layer 1 receiving {HEALTHY_RATIO:g} to {EXPLODING_RATIO:g} times the "
            f"output layer's gradient) matches whether the network trains in {len(agree)} of {len(known)} "
            f"configurations and depths, against {int(known['trains'].sum())} of {len(known)} for the guess "
            f'"it trains" everywhere and {int((~known["trains"]).sum())} for "it does not"'
        )
        if len(missed):
            flowed = missed[missed["flows"].astype(bool)]
            starved = missed[~missed["flows"].astype(bool)]
            parts = []
            if len(starved):
                parts.append(
                    "trains although its initial gradient vanishes or explodes: "
                    + join(
                        [
                            f"{r.configuration} at {r.depth} (ratio {ratio_text(r.init_ratio)})"
                            for r in starved.itertuples()
                        ]
                    )
                )
            if len(flowed):
                parts.append(
                    "does not train although its initial gradient flows: "
                    + join([f"{r.configuration} at {r.depth}" for r in flowed.itertuples()])
                )
            text += "; it " + "; it ".join(parts)
        out.append(text + ".")
    return out


def theory_depth_sentences(study: ReportData, frame: pd.DataFrame) -> list[str]:
    """The theory's depth scale beside the deepest depth trained (SGD configurations it covers), and what the
    weight-gradient ratio cannot show where the forward signal itself vanishes (q* = 0)."""
    rows = beside(study)
    rows = rows[rows["covered"] & (rows["optimizer"] == "sgd")].set_index("label")
    deepest_of = {name: deepest(r) or 0 for name, r in frame.groupby("configuration", sort=False)}
    pairs = [(name, rows.loc[name, "depth_scale"], deepest_of[name]) for name in rows.index if name in deepest_of]
    out = []
    if len(pairs) >= 3:
        pairs.sort(key=lambda p: p[1])
        listed = "; ".join(
            f"{name}: ξ = {'∞' if math.isinf(xi) else f'{xi:.2g}'}, trains up to {d or 'no depth'}"
            for name, xi, d in pairs
        )
        out.append(
            f"Mean-field depth scale against the deepest depth trained, for the SGD configurations the theory covers "
            f"(smallest ξ first): {listed}. Listed, not scored: {len(pairs)} configurations, with the depth trained "
            f"censored at the deepest one tested ({study.fair_runs['depth'].max()}), carry no test of the theory's "
            "bound."
        )
    vanishing = [  # q* = 0 in the ordered phase: at the edge of chaos (chi_1 = 1) the signal keeps its size
        name
        for name in rows.index
        if rows.loc[name, "q_star"] == 0 and rows.loc[name, "chi_1"] < 0.99 and name in deepest_of
    ]
    hidden = [
        name
        for name in vanishing
        if len(frame[(frame["configuration"] == name) & (frame["flows"] == 1) & ~frame["trains"]])
    ]
    if hidden:
        shrink = [
            f"{name}: √χ₁ = {math.sqrt(rows.loc[name, 'chi_1']):.2f} per layer, "
            f"{math.sqrt(rows.loc[name, 'chi_1']) ** (frame['depth'].max() - 1):.1e} over {frame['depth'].max()} layers"
            for name in hidden
        ]
        out.append(
            f"{join(hidden)} keep layer 1's weight gradient near the output layer's at every depth and still stop "
            "training deeper: with small weights and no biases their forward signal itself vanishes (q* = 0), each "
            f"layer's output smaller than its input ({'; '.join(shrink)}), which a ratio of weight gradients does "
            "not show."
        )
    return out


def _activation(study: ReportData, group: str, variant: str) -> str | None:
    fixes = study.config.get("fixes", {})
    variant_settings = fixes.get(group, {}).get("variants", {}).get(variant, {})
    return {**study.config.get("training", {}), **variant_settings}.get("activation")


def _listed(rows: pd.DataFrame) -> str:
    return join([f"{r.configuration} at {pct(r.best_test_acc, r.best_test_acc_ci)}" for r in rows.itertuples()])


def control_sentences(study: ReportData) -> list[str]:
    """The controls: variants of one fix with the same activation, trained at the same depth, that differ in their
    initialisation (e.g. ReLU at N(0, 0.05) and ReLU with Kaiming init). Where one trains and another does not,
    the initialisation, not the activation, decides it there (each at its rate chosen on validation, one budget)."""
    frame = sweep(study)
    if frame.empty:
        return []
    activation = [_activation(study, g, v) for g, v in zip(frame["group"], frame["variant"], strict=True)]
    frame = frame.assign(activation=activation)
    fixes = frame[(frame["group"] != BASELINE) & frame["activation"].notna()]
    out = []
    for (_, act, d), at in fixes.groupby(["group", "activation", "depth"], sort=False):
        if at["variant"].nunique() < 2 or at["trains"].all() or not at["trains"].any():
            continue
        trains, fails = at[at["trains"]], at[~at["trains"]]
        out.append(
            f"At {d} layers, all with {act}: {_listed(trains)} {'trains' if len(trains) == 1 else 'train'}, "
            f"{_listed(fails)} {'does' if len(fails) == 1 else 'do'} not. With the same activation and the same "
            "budget, each at its own rate, the initialisation decides it."
        )
    return out
