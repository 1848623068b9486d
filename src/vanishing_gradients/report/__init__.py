"""The report: tables, figures and sentences computed from a study's aggregate tables, in layers (torch-free).

- ``stats``: intervals over seeds (t, geometric), outcome classes and groups; no plotting.
- ``model``: the ``ReportData`` (the loaded aggregate tables, labels, palette, cached summaries) and ``load``.
- ``text``: the sections, number formats and sentences; ``tables``: the tables as DataFrames.
- ``figures``: one function per figure, ``f(study, ..., ax=None) -> Plot``.
- ``notebook``: displays them in the notebook and renders it (the only module that imports IPython, papermill).

The notebook (reports/report.ipynb) only calls these, so every number it shows comes from the run and the
logic is unit-tested without Jupyter. A sentence says "X beat Y" only when the 95% intervals separate.
"""

from .model import ReportData, load

__all__ = ["ReportData", "load"]
