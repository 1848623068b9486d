"""Snakemake script: per-layer gradient norms and Jacobian spectra of untrained networks, for every configuration and
depth."""

import _vg_src  # noqa: F401 - first: this project's src/ on sys.path
import torch

from vanishing_gradients import data, initflow
from vanishing_gradients.logs import rule_log
from vanishing_gradients.storage import write_table

with rule_log(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    flow, spectra = initflow.measure(snakemake.params.flow, data.load_dataset(snakemake.input.data)["train"], log)
    for table, path in ((flow, snakemake.output.flow), (spectra, snakemake.output.spectra)):
        write_table(path, table)
        log(f"wrote {len(table)} rows to {path}")
