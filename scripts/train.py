"""Snakemake script: train one run (a baseline or a fix variant) and write its outputs."""

import sys

import _vg_src  # noqa: F401 - first: this project's src/ on sys.path

from vanishing_gradients import job, specs
from vanishing_gradients.layout import RunId
from vanishing_gradients.logs import rule_log

with rule_log(snakemake.log[0]) as log:
    run, outputs = RunId.from_json(snakemake.params.run), dict(snakemake.output)
    summary = job.run(
        run,
        specs.from_param(snakemake.params.spec),
        snakemake.input.data,
        outputs,
        snakemake.params.device,
        snakemake.threads,
        log,
        tensorboard="tensorboard" in outputs,
        code=snakemake.params.code,
    )
    result = f"test acc {summary['test_acc']:.4f}, grad ratio hidden1/output {summary['grad_ratio_first_last']:.3g}"
    log(result)
    # The result on Snakemake's terminal too, beside the job's own lines (rule_log holds sys.stderr: the log).
    print(f"{run.key}: {result}, {summary['train_seconds']:.1f} s", file=sys.__stderr__, flush=True)
