"""Snakemake script: choose each configuration's learning rate from its screening runs (validation only)."""

import json

import _vg_src  # noqa: F401 - first: this project's src/ on sys.path

from vanishing_gradients import selection
from vanishing_gradients.logs import rule_log

with rule_log(snakemake.log[0]) as log:
    chosen = selection.select(list(snakemake.input.summaries), snakemake.output[0], json.loads(snakemake.params.fixed))
    for row in chosen.itertuples():
        edge = " (at the edge of the grid)" if row.at_edge else ""
        log(f"{row.group}/{row.variant} depth {row.depth}: lr {row.lr:g}, val acc {row.screen_val_acc:.4f}{edge}")
