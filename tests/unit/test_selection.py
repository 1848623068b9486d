"""The rate choice (vanishing_gradients.selection): several screening seeds, a stable score, diverged and
chance-level runs scored as chance, the declared rule, edges extended, and every record read back checked."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from vanishing_gradients import selection
from vanishing_gradients.layout import StudyLayout
from vanishing_gradients.storage import write_json

CHANCE, LEARNED = 0.1, 0.5
PROTOCOL = {"score_epochs": 3, "learned": LEARNED, "chance": CHANCE, "factor": 3.0, "times": 2, "round": 0}
WHERE = StudyLayout("s", "fashion_mnist")


def screen_run(config, lr, seed, val_accs, diverged=False, optimizer="sgd"):
    """A screening run's summary and metrics, written where the run's identity puts them; returns both paths."""
    group, variant, depth = config
    run = WHERE.run("screen", group, variant, lr, depth, seed)
    out = run.outputs()
    metrics = pd.DataFrame({"epoch": range(1, len(val_accs) + 1), "val_acc": val_accs})
    Path(out["metrics"]).parent.mkdir(parents=True, exist_ok=True)
    metrics.to_csv(out["metrics"], index=False)
    write_json(
        out["summary"], {"run": json.loads(run.to_json()), "spec": {"optimizer": optimizer}, "diverged": diverged}
    )
    return out["summary"], out["metrics"]


def select(runs, tmp_path, course=None, **protocol):
    course = course or {}
    summaries, metrics = zip(*runs, strict=True)
    spec = {**PROTOCOL, **protocol, "course": [[*k, lr] for k, lr in course.items()]}
    return selection.select(list(summaries), list(metrics), str(tmp_path / "round.csv"), spec)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


A = ("fix", "a", 7)


def test_a_diverged_seed_and_a_seed_at_chance_score_chance_and_the_stable_rate_wins(tmp_path):
    runs = [
        # 0.3: the best mean if the diverged seed were skipped (NaN-skipping mean: 0.88); scored as chance it is not
        screen_run(A, 0.3, 0, [0.5, 0.87, 0.88, 0.89]),
        screen_run(A, 0.3, 1, [0.5, 0.86, 0.87, 0.88]),
        screen_run(A, 0.3, 2, [0.5, 0.86, float("nan"), float("nan")], diverged=True),
        # 0.1: every seed learns; one seed's luckiest epoch (0.95) must not matter, its last epochs do
        screen_run(A, 0.1, 0, [0.95, 0.85, 0.85, 0.85]),
        screen_run(A, 0.1, 1, [0.3, 0.84, 0.85, 0.86]),
        screen_run(A, 0.1, 2, [0.3, 0.85, 0.86, 0.85]),
        # 0.01: one seed stayed at chance
        screen_run(A, 0.01, 0, [0.1, 0.1, 0.1, 0.1]),
        screen_run(A, 0.01, 1, [0.2, 0.6, 0.7, 0.8]),
        screen_run(A, 0.01, 2, [0.2, 0.6, 0.7, 0.8]),
    ]
    row = select(runs, tmp_path).iloc[0]
    assert row["lr"] == 0.1 and row["outcome"] == "learned" and row["learned_seeds"] == 3
    assert row["screen_val_acc"] == pytest.approx((3 * 0.85 + 0.84 + 0.85 + 0.86 + 0.85 + 0.86 + 0.85) / 9)
    assert not row["at_edge"] and math.isnan(row["extend_to"])
    scores = selection.read_screen([r[0] for r in runs], [r[1] for r in runs], 3, CHANCE)
    assert scores.loc[(scores["lr"] == 0.3) & (scores["seed"] == 2), "score"].item() == CHANCE


def test_the_smallest_rate_within_one_standard_error_of_the_best_is_chosen(tmp_path):
    runs = [
        screen_run(A, lr, s, [0.8, v, v, v])
        for lr, vals in {0.1: [0.84, 0.85, 0.86], 0.3: [0.85, 0.86, 0.87]}.items()
        for s, v in enumerate(vals)
    ]
    row = select(runs, tmp_path).iloc[0]
    assert row["lr"] == 0.3  # 0.1's mean 0.85 lies below the best (0.86) minus its SE (0.0058)
    runs = [
        screen_run(A, lr, s, [0.8, v, v, v])
        for lr, vals in {0.1: [0.855, 0.86, 0.865], 0.3: [0.85, 0.86, 0.875]}.items()
        for s, v in enumerate(vals)
    ]
    assert select(runs, tmp_path).iloc[0]["lr"] == 0.1  # best mean 0.8617 (0.3), SE 0.0073: 0.86 is within it


def test_no_rate_that_learns_is_said_and_the_course_rate_is_trained(tmp_path):
    runs = [screen_run(A, lr, s, [0.1, 0.108, 0.1, 0.11]) for lr in (0.01, 0.1, 1.0) for s in range(3)]
    row = select(runs, tmp_path, course={A: 0.01}).iloc[0]
    assert row["outcome"] == "none" and row["lr"] == 0.01 and not row["at_edge"] and row["learned_seeds"] == 0
    assert "no rate of the grid learns" in selection.describe(row)


def test_where_no_rate_learns_best_score_trains_the_best_mean_screen_score(tmp_path):
    """``selection.fallback: best_score`` (the deep preset): the rate of the best mean score, never the course's, and
    the smallest of equal means; the outcome is still "none"."""
    climbs = {0.001: [0.2, 0.3, 0.35, 0.4], 0.01: [0.2, 0.25, 0.3, 0.3], 0.1: [0.1, 0.1, 0.1, 0.1]}
    runs = [screen_run(A, lr, s, curve) for lr, curve in climbs.items() for s in range(3)]
    row = select(runs, tmp_path, course={A: 0.01}, fallback="best_score").iloc[0]
    assert row["outcome"] == "none" and row["lr"] == 0.001 and row["learned_seeds"] == 0 and not row["at_edge"]
    assert row["screen_val_acc"] == pytest.approx((0.3 + 0.35 + 0.4) / 3)
    assert select(runs, tmp_path, course={A: 0.01}).iloc[0]["lr"] == 0.01  # the default: the course's rate
    flat = [screen_run(A, lr, s, [0.1, 0.1, 0.1, 0.1]) for lr in (0.01, 0.1, 1.0) for s in range(3)]
    assert select(flat, tmp_path, course={A: 0.1}, fallback="best_score").iloc[0]["lr"] == 0.01


def test_seeds_that_split_choose_the_rate_with_the_largest_share_that_learned(tmp_path):
    runs = [
        screen_run(A, 0.1, 0, [0.8] * 3), screen_run(A, 0.1, 1, [0.1] * 3), screen_run(A, 0.1, 2, [0.1] * 3),
        screen_run(A, 1.0, 0, [0.7] * 3), screen_run(A, 1.0, 1, [0.7] * 3), screen_run(A, 1.0, 2, [0.1] * 3),
        screen_run(A, 3.0, 0, [0.1] * 3), screen_run(A, 3.0, 1, [0.1] * 3), screen_run(A, 3.0, 2, [0.1] * 3),
    ]  # fmt: skip
    row = select(runs, tmp_path).iloc[0]
    assert row["outcome"] == "split" and row["lr"] == 1.0 and row["learned_seeds"] == 2


def test_a_choice_at_the_edge_is_extended_by_the_declared_step_and_flagged_when_no_round_is_left(tmp_path):
    runs = [screen_run(A, lr, s, [0.8, v, v, v]) for lr, v in {0.1: 0.6, 1.0: 0.7, 3.0: 0.85}.items() for s in range(3)]
    first = select(runs, tmp_path).iloc[0]
    assert first["at_edge"] and first["extend_to"] == 9.0 and 9.0 in selection.extensions([0.1, 1.0, 3.0], 3.0, 2)
    last = select(runs, tmp_path, round=2).iloc[0]
    assert last["at_edge"] and math.isnan(last["extend_to"])  # no round left: flagged, not extended
    assert selection.extensions([0.01, 0.03, 0.1, 0.3, 1.0, 3.0], 3.0, 2) == [0.00111, 0.00333, 9.0, 27.0]


def test_the_next_round_screens_the_extension(tmp_path):
    runs = [screen_run(A, lr, s, [0.8, v, v, v]) for lr, v in {0.1: 0.6, 1.0: 0.85}.items() for s in range(3)]
    select(runs, tmp_path)
    assert selection.screened(tmp_path / "round.csv") == {A: [0.1, 1.0, 3.0]}


def test_a_summary_copied_into_another_runs_folder_is_refused(tmp_path):
    summary, metrics = screen_run(A, 0.1, 0, [0.8] * 3)
    other_summary, other_metrics = screen_run(A, 1.0, 0, [0.2] * 3)
    Path(other_summary).write_text(Path(summary).read_text())  # lr 0.1's record in lr 1's folder
    with pytest.raises(selection.SelectionError, match="record of another run"):
        select([(summary, metrics), (other_summary, other_metrics)], tmp_path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(b"\x00\xff\xfe binary"),
        lambda p: p.write_text(""),
        lambda p: p.write_text(",".join(selection.COLUMNS) + "\n"),
        lambda p: p.write_text(p.read_text().replace("0.1,", "0.3,", 1)),  # a rate edited by hand
        lambda p: p.write_text(p.read_text() + p.read_text().splitlines()[1] + "\n"),  # a row twice
    ],
    ids=["binary", "empty", "header only", "edited rate", "duplicated row"],
)
def test_a_damaged_or_edited_rate_table_is_refused_naming_the_file_and_the_remedy(tmp_path, damage):
    runs = [screen_run(A, lr, s, [0.8] * 3) for lr in (0.1, 1.0) for s in range(2)]
    select(runs, tmp_path)
    table = tmp_path / "round.csv"
    expected = {A: [0.1, 0.3, 1.0]}
    assert selection.read(table, expected) == {A: 0.1}
    damage(table)
    with pytest.raises(selection.SelectionError) as err:
        selection.read(table, expected)
    assert str(table) in str(err.value) and ("delete it" in str(err.value) or "not one" in str(err.value))


def test_a_rate_outside_the_declared_ones_or_another_studys_table_is_refused(tmp_path):
    runs = [screen_run(A, lr, s, [0.8] * 3) for lr in (0.1, 1.0) for s in range(2)]
    select(runs, tmp_path)
    with pytest.raises(selection.SelectionError, match="not one the config declares"):
        selection.read(tmp_path / "round.csv", {A: [1.0, 3.0]})
    with pytest.raises(selection.SelectionError, match="not this study's"):
        selection.read(tmp_path / "round.csv", {("fix", "b", 7): [0.1]})


def test_a_summary_without_what_the_choice_reads_is_refused_naming_it(tmp_path):
    summary, metrics = screen_run(A, 0.1, 0, [0.8] * 3)
    record = json.loads(Path(summary).read_text())
    del record["diverged"]
    Path(summary).write_text(json.dumps(record))
    with pytest.raises(selection.SelectionError, match="lacks") as err:
        select([(summary, metrics)], tmp_path)
    assert summary in str(err.value) and "run snakemake again" in str(err.value)


def test_every_screening_record_damaged_or_diverged_is_said_as_no_rate_learns(tmp_path):
    runs = [screen_run(A, lr, s, [float("nan")] * 3, diverged=lr > 1) for lr in (0.1, 3.0) for s in range(2)]
    row = select(runs, tmp_path, course={A: 0.01}).iloc[0]
    assert row["outcome"] == "none" and row["screen_val_acc"] == CHANCE  # scored chance, never NaN


def test_the_aggregate_refuses_a_summary_copied_into_another_runs_folder(tmp_path):
    from vanishing_gradients import aggregate, registry

    good, _ = screen_run(A, 0.1, 0, [0.8] * 3)
    copied, _ = screen_run(A, 1.0, 0, [0.2] * 3)
    Path(copied).write_text(Path(good).read_text())
    outputs = {t.name: str(tmp_path / t.file) for t in registry.aggregate()}
    with pytest.raises(ValueError, match="record of another run"):
        aggregate.aggregate([copied], [good], outputs)
