# Vanishing gradients in deep MLPs on Fashion-MNIST. The entry point only: rules live in workflow/rules.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


configfile: str(Path(workflow.basedir) / "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/init_flow.smk"
include: "workflow/rules/report.smk"


# Every run's outputs are targets too: a run deleted by hand is trained again by a plain `snakemake`.
rule all:
    default_target: True
    input:
        f"{LAYOUT.report_dir()}/report.html",
        runs=every_run_output,
