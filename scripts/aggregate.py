"""Snakemake script: concatenate every run's outputs into the tidy tables the report reads."""

import _vg_src  # noqa: F401 - first: this project's src/ on sys.path

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
