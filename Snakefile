# Vanishing gradients in deep MLPs on Fashion-MNIST. The entry point only: rules live in workflow/rules.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from vanishing_gradients import study

try:  # one line for a config.yaml that is not UTF-8, not the decoder's traceback
    study.check_config_file(Path(workflow.basedir) / "config.yaml")
except study.ConfigError as err:
    raise WorkflowError(f"Invalid configuration: {err}") from None


configfile: str(Path(workflow.basedir) / "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/init_flow.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        f"{LAYOUT.report_dir()}/report.html",
