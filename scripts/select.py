"""Snakemake script: one selection round, each configuration's learning rate from its screening runs (validation
only; the protocol: vanishing_gradients.selection)."""

import json

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
