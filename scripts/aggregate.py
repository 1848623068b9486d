"""Snakemake script: concatenate every run's outputs into the tidy tables the report reads."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))
from vanishing_gradients import aggregate
from vanishing_gradients.logs import rule_log

with rule_log(snakemake.log[0]) as log:
    final, screen = list(snakemake.input.final), list(snakemake.input.screen)
    summaries = final + screen
    benchmarks = dict(
        zip(summaries, [*snakemake.input.final_benchmarks, *snakemake.input.screen_benchmarks], strict=True)
    )
    aggregate.aggregate(final, screen, dict(snakemake.output), benchmarks)
    log(f"aggregated {len(final)} final and {len(screen)} screening runs")
