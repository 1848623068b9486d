"""Vanishing gradients in deep MLPs: the library behind the Snakemake study.

Modules: ``layout`` (the run identity and every path of a study), ``registry`` (every result table, named once),
``study`` (config -> validated runs), ``specs`` (the run settings), ``datasets`` (each dataset as one record:
files, checksums, shapes, classes, mirrors), ``data`` (verify, parse and cache a dataset's files), ``fetch``
(download them), ``models`` (one MLP builder composed from options), ``training`` (the trainer: one fit loop) with
``callbacks`` (its hooks, the best epoch) and ``gradstats`` (its statistics, as callbacks), ``job`` (a training
job: lock, stop with Snakemake, progress), ``tboard`` (optional TensorBoard output), ``outputs`` (a run's files),
``checkpoints`` (a run's state while it trains), ``initflow`` (gradient flow at initialisation), and the
torch-free ``validation`` (config checks), ``resources``, ``selection`` (the learning rate chosen on validation),
``measures``, ``aggregate``, ``report``, ``compare``, ``status`` and ``procs`` (is a pid still its process).

The public API for reusing results (``api``): ``load_run(path)`` returns a finished run's trained model,
summary and tables; ``load_study(path)`` a study's aggregate tables. They are imported on first use, so that
importing the package stays cheap and torch-free.
"""

__version__ = "0.2.0"
__all__ = ["Run", "Study", "__version__", "load_run", "load_study"]
_API = ("Run", "Study", "load_run", "load_study")


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
