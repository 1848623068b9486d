"""The report's phase diagram on a synthetic table whose answers are known: each cell's rate chosen on its own, the
cells on each side of the bound 6 xi_c counted, the sentences, the table, the figure and the section's presence."""

import math

import pandas as pd
import pytest
from test_report import CONFIG, synthetic_aggregate

from vanishing_gradients import phase as phase_diagram
from vanishing_gradients import theory
from vanishing_gradients.layout import RecordError
from vanishing_gradients.report import model, outline
from vanishing_gradients.report import phase as report_phase
from vanishing_gradients.report.figures import phase_diagram as figure
from vanishing_gradients.report.sections import phase as section
from vanishing_gradients.storage import write_table

# (centred, sigma_w^2, depth) -> the train accuracy at lr 0.1 and at lr 1.0 (seeds 0 and 1 around it: +-0.01).
# 6 xi_c: plain sigmoid sigma_w^2 1: 2.1, 64: 26, 256: 21; centred 4: none (q* = 0), 64: 48.
CELLS = {
    (False, 1.0, 10): (0.10, 0.10),  # deeper, fails
    (False, 1.0, 30): (0.10, 0.10),  # deeper, fails
    (False, 64.0, 10): (0.80, 0.80),  # shallower, trains (a tie: the smaller rate)
    (False, 64.0, 30): (0.10, 0.70),  # deeper, trains at lr 1 only: the one violation
    (False, 256.0, 10): (0.20, 0.30),  # shallower, fails
    (False, 256.0, 30): (0.10, 0.10),  # deeper, fails
    (True, 4.0, 10): (0.60, 0.40),  # no bound, trains
    (True, 4.0, 30): (0.10, 0.10),  # no bound, fails
    (True, 64.0, 10): (0.85, 0.90),  # shallower, trains
    (True, 64.0, 30): (0.10, 0.45),  # shallower, fails (below 50%)
}


# What every run of the synthetic diagram had.
BUDGET = {"init": "orthogonal", "width": 128, "batch_size": 512, "epochs": 2, "train_images": 54000,
          "sample_images": 5000, "steps": 212, "diverged": False, "seconds": 1.0}  # fmt: skip


def phase_table() -> pd.DataFrame:
    rows = []
    for (centred, sigma_w2, depth), accuracies in CELLS.items():
        for lr, accuracy in zip((0.1, 1.0), accuracies, strict=True):
            for seed, shift in ((0, -0.01), (1, 0.01)):
                cell = {"centred": centred, "sigma_w2": sigma_w2, "depth": depth, "lr": lr, "seed": seed}
                rows.append({**cell, **BUDGET, "train_acc": accuracy + shift, "val_acc": accuracy - 0.05})
    return pd.DataFrame(rows, columns=phase_diagram.COLUMNS)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A study's results folder: the synthetic aggregate and, in phase/, the phase table."""
    out = tmp_path_factory.mktemp("study")
    synthetic_aggregate(out)
    write_table(out / phase_diagram.TABLE.file, phase_table())
    return out


@pytest.fixture(scope="module")
def study(folder):
    return model.load(str(folder), CONFIG)


def test_each_cell_is_scored_at_its_own_best_rate_and_placed_against_the_bound(study):
    cells = report_phase.cells(study).set_index(["centred", "sigma_w2", "depth"])
    assert len(cells) == len(CELLS) and set(cells["seeds"]) == {2}
    assert cells.loc[(False, 64.0, 30), "lr"] == 1.0 and cells.loc[(False, 64.0, 30), "score"] == pytest.approx(0.7)
    assert cells.loc[(False, 64.0, 10), "lr"] == 0.1  # a tie goes to the smaller rate
    assert cells.loc[(True, 4.0, 10), "lr"] == 0.1 and cells.loc[(True, 4.0, 10), "val_acc"] == pytest.approx(0.55)
    assert cells["trains"].sum() == 4  # at 50% (comparison.learned's default): 0.45 does not train
    assert cells.loc[(False, 64.0, 30), "bound"] == pytest.approx(6 * theory.predict("sigmoid", 64.0).depth_scale)
    assert cells.loc[(False, 256.0, 10), "bound"] == pytest.approx(6 * theory.correlation_depth_scale("sigmoid", 256.0))
    assert math.isinf(cells.loc[(True, 4.0, 10), "bound"])
    sides = cells["side"].value_counts().to_dict()
    assert sides == {report_phase.DEEPER: 4, report_phase.SHALLOWER: 4, report_phase.UNBOUNDED: 2}
    plain, centred = (report_phase.panel(cells.reset_index().query(f"centred == {c}")) for c in (False, True))
    assert (plain["cells"], plain["train"], plain["deeper"], plain["violations"]) == (6, 2, 4, 1)
    assert (plain["shallower"], plain["shallow_failed"]) == (2, 1)
    assert (centred["deeper"], centred["shallower"], centred["shallow_failed"]) == (0, 2, 1)
    assert (centred["no bound"], centred["unbounded_trained"]) == (2, 1)


def test_the_sentences_count_what_the_cells_show_and_state_the_budget(study):
    budget, plain, centred = section.phase_sentences(study)
    assert "2 epochs, 212 SGD steps of batch 512 on 54,000 training images" in budget
    assert "at each rate of 0.1 and 1 with seeds 0 and 1" in budget and "5,000 training images" in budget
    assert "trains at 50.0% or more (chance: 10.0%)" in budget and "chosen per cell" in budget
    assert plain.startswith("Plain sigmoid (critical σw² ≈ 103): 2 of 6 cells train.")
    assert "Of the 4 deeper than 6 ξc, 1 trains, against the bound: σw² 64 at 30 layers (70.0%, 6 ξc = 26.1)." in plain
    assert "Of the 2 at or below it, 1 fails: σw² 256 at 10 layers (30.0%, 6 ξc = 20.8)." in plain
    assert centred.startswith("Centred sigmoid (critical σw² ≈ 16): 2 of 4 cells train. No cell lies deeper")
    assert "At σw² 4 ξc is infinite (q* = 0" in centred and "1 of those 2 cells trains" in centred


def test_the_table_has_a_row_per_centring_and_sigma_and_the_figure_a_panel_per_centring(study):
    table = section.phase_table(study)
    assert table[["sigmoid", "σw²", "6 ξc"]].values.tolist() == [
        ["plain sigmoid", "1", "2.08"], ["plain sigmoid", "64", "26.1"], ["plain sigmoid", "256", "20.8"],
        ["centred sigmoid", "4", "∞"], ["centred sigmoid", "64", "47.9"],
    ]  # fmt: skip
    assert table.loc[1, "depth 30"] == "70.0% at lr 1"
    plot = figure(study)
    panels = [ax for ax in plot.fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["plain sigmoid", "centred sigmoid"]
    for ax, edge in zip(panels, (theory.critical_gain("sigmoid") ** 2, 16.0), strict=True):
        curve = next(line for line in ax.get_lines() if line.get_label().startswith("6 ξc"))
        assert len(curve.get_xdata()) > 20 and max(curve.get_ydata()) > 100  # it rises towards the edge of chaos
        critical = next(line for line in ax.get_lines() if line.get_label().startswith("critical"))
        assert critical.get_xdata()[0] == pytest.approx(edge)
    assert "plain sigmoid: 2 of 6 cells train; deeper than 6 ξc, 1 of 4 train; at or below it, 1 of 2 fail" in plot.alt


def test_the_section_is_there_only_with_a_phase_table(study, folder):
    anchors = list(outline.sections(study))
    assert anchors.index("phase") == anchors.index("summary") + 1 and study.phase is not None
    assert outline.sections(study)["phase"] == "2. Trainability against weight scale and depth"
    without = model.load(model.report_tables(str(folder)), CONFIG)  # the required tables only
    assert without.phase is None and "phase" not in outline.sections(without)


def test_a_phase_table_that_is_not_one_is_refused_naming_the_file(folder, tmp_path):
    paths = {**model.report_tables(str(folder)), "phase": str(tmp_path / "cells.parquet")}
    write_table(paths["phase"], phase_table().drop(columns="train_acc"))
    with pytest.raises(RecordError, match=r"cells\.parquet: not a phase table"):
        model.load(paths, CONFIG)
