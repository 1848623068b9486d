"""Vanishing gradients in deep MLPs: the library behind the Snakemake study.

Modules: ``layout`` (the run identity and every path of a study), ``study`` (config -> validated runs),
``specs`` (the run settings), ``data`` (verify and cache Fashion-MNIST), ``fetch`` (download it), ``models``
(one MLP builder composed from options), ``training`` (the trainer in phases) with ``gradstats`` (its
statistics, as callbacks), ``job`` (a training job: lock, stop with Snakemake, progress), ``tboard`` (optional
TensorBoard output), ``outputs`` (a run's files), ``initflow`` (gradient flow at initialisation), and the
torch-free ``measures``, ``aggregate``, ``report``, ``compare``, ``status`` and ``procs`` (is a pid still its
process).
"""

__version__ = "0.1.0"
