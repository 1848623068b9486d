# Vanishing gradients in deep MLPs on Fashion-MNIST. The entry point only: rules live in workflow/rules.
# Also usable as a module of another workflow (docs/cluster.md, "As a module of another workflow"): every path of the
# project's own files is built from this file's folder, not from the importing workflow's.
import copy
import sys
from pathlib import Path

import yaml
from snakemake.utils import min_version, update_config

min_version("9.0")

VG_DIR = Path(str(workflow.current_basedir))  # this project's folder, also when imported with `module`
sys.path.insert(0, str(VG_DIR / "src"))
from vanishing_gradients import validation

try:  # one line for a config.yaml that is not UTF-8, not the decoder's traceback
    validation.check_config_file(VG_DIR / "config.yaml")
except validation.ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None


configfile: str(VG_DIR / "config.yaml")


# Imported with `module ...: config: ...`, Snakemake skips the configfile above: the given config is laid over
# config.yaml here, so the importing workflow names only what it changes. (Run directly, config holds
# config.yaml already and this changes nothing.) A copy: validation edits the config it is given.
_config = yaml.safe_load((VG_DIR / "config.yaml").read_text())
update_config(_config, copy.deepcopy(config))
config = _config


# The workflow's description in `snakemake --report`.
report: "reports/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/selection.smk"
include: "workflow/rules/init_flow.smk"
include: "workflow/rules/phase.smk"
include: "workflow/rules/report.smk"


# Every run's outputs are targets too: a run deleted by hand is trained again by a plain `snakemake`.
rule all:
    default_target: True
    input:
        f"{LAYOUT.report_dir()}/report.html",
        runs=every_run_output,
    message:
        job_message(f"Study {config['study']!r} done: its report is {LAYOUT.report_dir()}/report.html")
