"""Snakemake script: one column of the phase diagram (a centring and a sigma_w^2): train its runs, write their rows."""

import _vg_src  # noqa: F401 - first: this project's src/ on sys.path

from vanishing_gradients import data, job, phase_training
from vanishing_gradients.logs import rule_log
from vanishing_gradients.storage import write_table

with rule_log(snakemake.log[0]) as log:
    job.torch_settings(snakemake.threads)
    splits = data.load_dataset(snakemake.input.data)
    table = phase_training.measure(snakemake.params.cells, splits, snakemake.params.device, log)
    write_table(snakemake.output[0], table)
    log(f"wrote {len(table)} runs to {snakemake.output[0]}")
