"""Snakemake script: choose each configuration's learning rate from its screening runs (validation only)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))
from vanishing_gradients import selection
from vanishing_gradients.logs import rule_log

with rule_log(snakemake.log[0]) as log:
    chosen = selection.select(list(snakemake.input.summaries), snakemake.output[0], json.loads(snakemake.params.fixed))
    for row in chosen.itertuples():
        edge = " (at the edge of the grid)" if row.at_edge else ""
        log(f"{row.group}/{row.variant} depth {row.depth}: lr {row.lr:g}, val acc {row.screen_val_acc:.4f}{edge}")
