"""Snakemake script: execute the report notebook with papermill, keep it as a log, render it to HTML."""

import json
import sys
from pathlib import Path

import _vg_src  # first: this project's src/ on sys.path

from vanishing_gradients import registry
from vanishing_gradients.logs import rule_log
from vanishing_gradients.report.notebook import render

# The project's own notebook (its template beside it), found from this script: no rule input, so that the report
# does not rerun when the project folder moves (its content is in the rule's `code` param).
NOTEBOOK = Path(_vg_src.__file__).resolve().parents[1] / "reports" / "report.ipynb"

with rule_log(snakemake.log.log) as log:
    given = dict(snakemake.input.items())  # by name: `name in snakemake.input` would look among the paths
    # every table of registry.report(), and those of registry.OPTIONAL that the study has (the rule's inputs)
    names = registry.names(registry.report()) + [t.name for t in registry.OPTIONAL if t.name in given]
    tables = {k: str(Path(given[k]).resolve()) for k in names}
    render(
        str(NOTEBOOK),
        snakemake.log.notebook,
        snakemake.output.html,
        tables,
        config=json.loads(snakemake.params.config),
        show_code=snakemake.params.show_code,
        figures={k: str(Path(snakemake.output[k]).resolve()) for k in ("gradient_profile", "comparison")},
        kernel_log=sys.stderr,  # the log (rule_log): the kernel's own warnings go there, not to the terminal
    )
    log(f"wrote {snakemake.output.html}")
