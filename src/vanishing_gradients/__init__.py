"""Vanishing gradients in deep MLPs: the library behind the Snakemake study.

Modules: ``data`` (fetch, verify and cache Fashion-MNIST), ``models`` (one MLP builder composed from
options), ``gradstats`` (per-layer gradient statistics recorded while training), ``training`` (the one
training loop, with stage schedules and checkpoints), ``study`` (config -> run specifications),
``results`` (run outputs and aggregation) and ``report`` (tables and figures for the report notebook).
"""

__version__ = "0.1.0"
