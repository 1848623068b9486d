"""Snakemake script: parse and validate the IDX files into one cached train/validation/test split."""

from pathlib import Path

import _vg_src  # noqa: F401 - first: this project's src/ on sys.path

from vanishing_gradients import data, datasets
from vanishing_gradients.logs import rule_log

with rule_log(snakemake.log[0]) as log:
    sizes = data.prepare_dataset(
        Path(snakemake.input.raw[0]).parent,
        snakemake.output[0],
        validation_size=snakemake.params.validation_size,
        split_seed=snakemake.params.split_seed,
        subset=snakemake.params.subset,
        log=log,
        dataset=datasets.of(snakemake.config),
    )
    log(f"{snakemake.output[0]}: {sizes}")
