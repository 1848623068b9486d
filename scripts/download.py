"""Snakemake script: fetch and verify the study's dataset files (``data.name``) from the first mirror that works.

The mirror list is read from the config, not from params: which mirror served a file does not change it
(every file is checked by content), so editing the list must not rerun the study.
"""

from pathlib import Path

import _vg_src  # noqa: F401 - first: this project's src/ on sys.path

from vanishing_gradients import datasets, fetch
from vanishing_gradients.logs import rule_log

with rule_log(snakemake.log[0]) as log:
    out_dir = Path(snakemake.output[0]).parent
    dataset = datasets.of(snakemake.config)
    mirrors = list(snakemake.config["data"]["mirrors"])
    for name, source in fetch.fetch_files(mirrors, out_dir, dataset.files, log, hint=dataset.offline_hint).items():
        log(f"{name}: verified, from {source}")
