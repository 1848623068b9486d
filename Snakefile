# Vanishing gradients in deep MLPs on Fashion-MNIST. The entry point only: rules live in workflow/rules.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/fixes.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/report/report.html",
    default_target: True
