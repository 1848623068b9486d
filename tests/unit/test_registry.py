"""One registry of result tables: every consumer lists what it lists, and a table added to it is written by the
aggregate, found by the report's loader and compared by the tree diff, with no change anywhere else."""

import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from conftest import ROOT

from vanishing_gradients import aggregate, compare, gradstats, registry
from vanishing_gradients.layout import StudyLayout, report_tables
from vanishing_gradients.report import model
from vanishing_gradients.storage import read_table, write_table
from vanishing_gradients.study import FINAL, SCREEN


def test_every_consumer_lists_the_registry():
    where = StudyLayout("s")
    run = where.run(FINAL, "baseline", "sigmoid", 0.1, 3, 42)
    assert list(run.outputs()) == registry.names(registry.RUN)
    assert list(where.aggregate()) == registry.names(registry.aggregate()) == ["runs", "metrics", "grad_steps",
                                                                               "grad_epochs"]  # fmt: skip
    assert list(where.report_tables()) == registry.names(registry.report())
    assert registry.names(registry.run_tables(screen=True)) == ["metrics"]
    # outputs.save_run writes each run table but the metrics from the run's records of that name
    assert {"metrics", *gradstats.FRAMES} == {t.name for t in registry.RUN if t.tabular}
    for table in registry.aggregate():  # `snakemake --report` captions each aggregate table
        assert (ROOT / f"reports/captions/aggregate_{table.name}.rst").is_file()
    page = (ROOT / "docs/outputs.md").read_text()
    outputs = page[page.index("# Outputs") : page.index("## Snakemake's report bundle")]
    for table in [*registry.RUN, *registry.aggregate(), *registry.STUDY, *registry.OPTIONAL]:
        assert Path(table.file).name in outputs, f"docs/outputs.md does not name {table.file}"
    cells = json.loads((ROOT / "reports/report.ipynb").read_text())["cells"]
    parameters = next("".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", []))
    assert not re.search(r"\.(csv|parquet)", parameters), "the notebook lists table files of its own"


def fake_run(where: StudyLayout, phase: str, lr: float, seed: int, tables: list) -> str:
    """A finished run's files as training writes them: a summary, and every run table given (one row each)."""
    run = where.run(phase, "baseline", "sigmoid", lr, 3, seed)
    spec = {"model": {"activation": "sigmoid", "init": "default"}, "optimizer": "sgd", "epochs": 1}
    outputs = run.outputs()
    Path(outputs["summary"]).parent.mkdir(parents=True)
    Path(outputs["summary"]).write_text(json.dumps({"run": asdict(run), "spec": spec, "best_test_acc": 0.5}))
    for table in tables:
        write_table(outputs[table.name], pd.DataFrame({"stage": [0], "epoch": [1], "value": [lr * seed]}))
    return outputs["summary"]


def test_a_table_added_to_the_registry_is_aggregated_loaded_and_compared(tmp_path, monkeypatch):
    extra = registry.Table("extra", "extra.parquet", "a test", aggregated=True)
    monkeypatch.setattr(registry, "RUN", (*registry.RUN, extra))  # the one change
    monkeypatch.chdir(tmp_path)
    where = StudyLayout("s")
    tabular = [t for t in registry.RUN if t.tabular]
    final = [fake_run(where, FINAL, 0.1, seed, tabular) for seed in (42, 43)]
    screen = [fake_run(where, SCREEN, lr, 0, [t for t in tabular if t.screen]) for lr in (0.1, 1.0)]
    aggregate.aggregate(final, screen, where.aggregate())
    concatenated = read_table(where.aggregate()["extra"])
    assert concatenated["seed"].tolist() == [42, 43] and concatenated["value"].tolist() == [4.2, 4.3]
    write_table(where.init_flow(), pd.DataFrame({"group": ["baseline"], "variant": ["sigmoid"], "grad_norm": [1.0]}))
    write_table(where.study_tables()["init_spectra"], pd.DataFrame({"group": ["baseline"], "sv_log_std": [0.5]}))
    write_table(where.selection(), pd.DataFrame({"group": ["baseline"], "variant": ["sigmoid"], "depth": [3],
                                                 "lr": [0.1]}))  # fmt: skip
    assert set(report_tables("results/s")) == set(where.report_tables())
    study = model.load("results/s", {"seeds": [42, 43]})
    assert study.tables["extra"].equals(concatenated) and len(study.fair_runs) == 2

    other = tmp_path / "other"
    shutil.copytree("results/s/runs", other)
    changed = other / Path(final[0]).parent.relative_to("results/s/runs") / "extra.parquet"
    write_table(changed, pd.DataFrame({"stage": [0], "epoch": [1], "value": [0.0]}))
    differences = compare.compare_trees("results/s/runs", other)
    assert list(differences) == [str(Path(final[0]).parent.relative_to("results/s/runs"))]
    assert differences[next(iter(differences))][0].startswith("extra:")
