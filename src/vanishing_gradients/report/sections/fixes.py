"""Section "The fixes": for each fix, how it acts on the gradient, each variant's outcome and its verdict against
the baseline at the same depth, and its initial weights where it changes them."""

from __future__ import annotations

import math

import pandas as pd

from ... import datasets, specs
from ...study import variant_settings
from ..fair import comparisons
from ..formats import outcome, ratio_text
from ..model import ReportData
from .comparison import comparison_sentence

INIT_CAPTION = "Standard deviation of the initial weights per layer (PyTorch's default is uniform on ±1/√fan_in)"


def fix_sentences(study: ReportData, group: str) -> list[str]:
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


def changes_init(config: dict, group: str) -> bool:
    """Whether a variant of ``group`` sets its own initial weights (then its section shows ``init_table``)."""
    variants = config.get("fixes", {}).get(group, {}).get("variants", {})
    return any(v.get("init", "default") != "default" for v in variants.values())


def init_table(config: dict, group: str) -> pd.DataFrame:
    """The std of the initial weights per layer for the baseline (PyTorch's default) and each variant of ``group``:
    how an init compares with Xavier's and Kaiming's."""
    width, data = config["training"]["width"], datasets.of(config).model_shape()
    shapes = {
        f"layer 1 ({data['in_features']} → width)": (data["in_features"], width),
        "hidden (width → width)": (width, width),
        f"output (width → {data['classes']})": (width, data["classes"]),
    }
    rows = []
    for name, settings in [
        ("baseline (PyTorch default)", config["training"]),
        *((v, variant_settings(config, group, v)) for v in config["fixes"][group]["variants"]),
    ]:
        spec = specs.from_settings(settings, depth=max(config["fixes"][group]["depths"]), seed=0, **data).model
        row = {"variant": name, "init": spec.init}
        for shape_name, (fan_in, fan_out) in shapes.items():
            std = specs.weight_std(spec, fan_in, fan_out)
            row[shape_name] = f"{std:.3g}" if std is not None else f"{1 / math.sqrt(3 * fan_in):.3g} (uniform)"
        rows.append(row)
    return pd.DataFrame(rows)
