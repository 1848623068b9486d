"""What the gradient recorder costs at 200 hidden layers (the deep preset, studies/deep.yaml), per cadence.

    python benchmarks/recorder.py [--depth 200] [--repeats 3] [--threads 1]

One epoch of the deep preset's centred orthogonal sigmoid (20,000 training images, batch 128: 157 steps, plus the
validation pass) with the project's trainer, at each recording cadence: per-layer gradient norms every k steps
(``step_every``) and the costlier statistics every 10 k (``stats_every``), and with no recorder at all (the
saturation monitor and the best epoch kept). The cadences alternate, one epoch each per repeat, so that a slow
spell of the machine hits each. Prints medians and one line: RESULT recorder_cost_at_k=...
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vanishing_gradients import data, fetch, job, specs, training  # noqa: E402
from vanishing_gradients.callbacks import BestEpoch  # noqa: E402
from vanishing_gradients.datasets import FASHION_MNIST  # noqa: E402
from vanishing_gradients.gradstats import SaturationMonitor  # noqa: E402

CADENCES = (1, 4, 16, 64)  # step_every; stats_every is 10 x that


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the rules' default is 1)")
    args = parser.parse_args()
    job.torch_settings(args.threads)
    raw = Path(tempfile.mkdtemp(prefix="vg-raw-"))
    fetch.fetch_files(FASHION_MNIST.mirrors, raw, FASHION_MNIST.files, hint=FASHION_MNIST.offline_hint)
    data.prepare_dataset(raw, raw / "fm.pt", validation_size=6000, split_seed=42, dataset=FASHION_MNIST)
    splits = data.load_dataset(raw / "fm.pt")
    train = splits["train"]
    splits["train"] = data.Split(train.images[:20_000], train.labels[:20_000])
    settings = {"init": "orthogonal", "init_gain": 4.0, "center": True, "batch_size": 128, "epochs": 1, "lr": 0.1}

    def epoch(step_every: int | None) -> float:
        k = step_every or 1
        spec = specs.from_settings({**settings, "step_every": k, "stats_every": 10 * k}, depth=args.depth, seed=42)
        # None: no recorder, only what every run needs besides it
        callbacks = None if step_every else [BestEpoch(spec.patience_after / 10, spec.patience), SaturationMonitor()]
        trainer = training.Trainer(spec, splits, "cpu", log=lambda m: None, callbacks=callbacks)
        return trainer.fit()[1].metrics[0]["seconds"]

    print(f"depth {args.depth}, width 128, batch 128, 157 steps + validation, {args.threads} thread(s)")
    epoch(None)  # warm-up, not timed
    times = {k: [] for k in (None, *CADENCES)}
    for _ in range(args.repeats):
        for k in times:
            times[k].append(epoch(k))
    bare = statistics.median(times[None])
    print(f"no recorder:                 median {bare:.2f} s/epoch  {[round(t, 2) for t in times[None]]}")
    costs = {}
    for k in CADENCES:
        median = statistics.median(times[k])
        costs[k] = median / bare - 1
        print(f"step_every {k:>2}, stats_every {10 * k:>3}: median {median:.2f} s/epoch (+{100 * costs[k]:.0f}%)  "
              f"{[round(t, 2) for t in times[k]]}")  # fmt: skip
    print("RESULT " + " ".join(f"recorder_cost_at_{k}={100 * c:.0f}%" for k, c in costs.items()))


if __name__ == "__main__":
    main()
