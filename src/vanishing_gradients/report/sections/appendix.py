"""Section "Appendix": where and with what the study ran, and every value of its configuration."""

from __future__ import annotations

import json

import pandas as pd

from ..model import ReportData


def setup_text(study: ReportData) -> str:
    runs = study.fair_runs
    env = runs.iloc[0]
    return (
        f"Study **{env['study']}**: {len(runs)} runs ({runs['label'].nunique()} configurations). Device: "
        f"**{', '.join(runs['device'].unique())}**, torch threads per job: "
        f"**{', '.join(map(str, runs['threads'].unique()))}**, torch **{env['torch']}**, Python "
        f"**{env['python']}**. Data: {study.dataset.title}, pixels scaled to [0, 1]."
    )


def config_table(config: dict) -> pd.DataFrame:
    """Every value of the effective config that defines the study (mirrors aside: they do not change the data)."""
    rows = [(f"data.{k}", v) for k, v in config.get("data", {}).items() if k != "mirrors"]
    rows += [(k, config[k]) for k in ("study", "seeds", "device", "threads") if k in config]
    rows += [(f"training.{k}", v) for k, v in config.get("training", {}).items()]
    rows += [(f"baseline.{k}", v) for k, v in config.get("baseline", {}).items()]
    rows += [(f"selection.{k}", v) for k, v in config.get("selection", {}).items()]
    rows += [(f"comparison.{k}", v) for k, v in (config.get("comparison") or {}).items()]
    for g, entry in config.get("fixes", {}).items():
        rows += [(f"fixes.{g}.depths", entry.get("depths"))]
        rows += [(f"fixes.{g}.{v}", overrides) for v, overrides in entry["variants"].items()]
        rows += [(f"fixes.{g}.variant_depths.{v}", d) for v, d in (entry.get("variant_depths") or {}).items()]
    rows += [(f"init_flow.{k}", v) for k, v in config.get("init_flow", {}).items()]
    rows += [(f"phase.{k}", v) for k, v in (config.get("phase") or {}).items()]
    return pd.DataFrame(
        [(key, json.dumps(value, sort_keys=True)) for key, value in rows], columns=["config key", "value"]
    )
