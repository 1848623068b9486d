"""Snakemake script: train one run (a baseline or a fix variant) and write its five outputs."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))
import torch  # noqa: E402

from vanishing_gradients import data, results, study, training  # noqa: E402
from vanishing_gradients.logs import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)  # Snakemake sets OMP_NUM_THREADS; torch gets the same
    spec = study.spec_from_param(snakemake.params.spec)
    device = training.resolve_device(snakemake.params.device)
    checkpoint = Path("results/checkpoints") / f"{snakemake.rule}-{'-'.join(snakemake.wildcards)}.pt"
    log(f"{snakemake.rule} {dict(snakemake.wildcards)} on {device}, {snakemake.threads} thread(s): {spec}")
    model, run = training.train(spec, data.load_dataset(snakemake.input.data), device, checkpoint, log)
    summary = results.save_run(run, model, spec, dict(snakemake.output), str(device), snakemake.threads)
    training.remove_checkpoint(checkpoint)
    log(f"test acc {summary['test_acc']:.4f}, grad ratio hidden1/output {summary['grad_ratio_first_last']:.3g}")
