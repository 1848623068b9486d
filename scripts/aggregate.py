"""Snakemake script: concatenate every run's outputs into the tidy tables the report reads."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))
from vanishing_gradients import aggregate
from vanishing_gradients.logs import rule_log

with rule_log(snakemake.log[0]) as log:
    aggregate.aggregate(list(snakemake.input.summaries), dict(snakemake.output), list(snakemake.input.benchmarks))
    log(f"aggregated {len(snakemake.input.summaries)} runs")
