"""Snakemake script: one selection round, each configuration's learning rate from its screening runs (validation
only; the protocol: vanishing_gradients.selection)."""

import json
import sys

import _vg_src  # noqa: F401 - first: this project's src/ on sys.path

from vanishing_gradients import selection
from vanishing_gradients.logs import rule_log

with rule_log(snakemake.log[0]) as log:
    protocol = {**json.loads(snakemake.params.protocol), "round": int(snakemake.wildcards.round)}
    chosen = selection.select(
        list(snakemake.input.summaries),
        list(snakemake.input.metrics),
        snakemake.output[0],
        protocol,
        json.loads(snakemake.params.fixed),
    )
    for row in chosen.itertuples():
        log(selection.describe(row))
    # A summary on Snakemake's terminal (rule_log holds sys.stderr: the log), each choice's reason in the log.
    outcomes = ", ".join(f"{n} {outcome}" for outcome, n in chosen["outcome"].value_counts().sort_index().items())
    print(
        f"Round {protocol['round']}: a rate for each of {len(chosen)} configurations ({outcomes}), "
        f"{int(chosen['at_edge'].sum())} at the grid's edge; why each: {snakemake.log[0]}",
        file=sys.__stderr__,
        flush=True,
    )
