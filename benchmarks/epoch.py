"""Time one epoch of the 7x128 sigmoid baseline four ways, and the workflow's own overheads.

    python benchmarks/epoch.py [--repeats 5] [--threads 1] [--smoke-dir DIR]

(a) notebook: torchvision FashionMNIST + DataLoader + ToTensor, as in the course notebooks;
(b) floor: a bare loop over preloaded tensors, no recording;
(c) trainer: the project's ``training.train`` for one epoch with the statistics as config.yaml's ``training``
    records them (its epoch time includes the validation pass, the best-epoch copy and the statistics);
    (b) and (c) alternate, one epoch each per repeat, so that a slow spell of the machine hits both;
(d) FLOP bound: 6 x parameters x samples / the measured matmul rate of this machine.
Then the no-op ``snakemake -n`` time on a finished smoke run and the peak RSS of its training jobs.
Prints medians and ends with one line: RESULT trainer_vs_floor=... notebook_vs_trainer=... trainer_vs_flop_bound=...
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vanishing_gradients import aggregate, data, fetch, job, machine, specs, training  # noqa: E402
from vanishing_gradients.datasets import FASHION_MNIST  # noqa: E402
from vanishing_gradients.layout import StudyLayout  # noqa: E402
from vanishing_gradients.models import MLP  # noqa: E402
from vanishing_gradients.specs import ModelSpec  # noqa: E402

MIRRORS = [FASHION_MNIST.mirrors[0], str(ROOT / StudyLayout("default", FASHION_MNIST.name).raw_dir())]


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def notebook_epoch(raw_dir: Path, batch_size=512):
    from torchvision import datasets, transforms

    root = Path(tempfile.mkdtemp())
    (root / "FashionMNIST/raw").mkdir(parents=True)
    for name in FASHION_MNIST.files:
        with gzip.open(raw_dir / name) as src, open(root / "FashionMNIST/raw" / name.removesuffix(".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    dataset = datasets.FashionMNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    subset = torch.utils.data.Subset(dataset, range(54000))
    loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=True)
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=7))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def epoch():
        for x, y in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x.view(len(x), -1)), y).backward()
            opt.step()

    return epoch


def floor_epoch(split, batch_size=512):
    x = split.images.float() / 255
    y = split.labels
    torch.manual_seed(0)
    model = MLP(ModelSpec(depth=7))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()

    return epoch


def snakemake_overheads(smoke_dir: Path | None):
    snakemake = str(Path(sys.executable).parent / "snakemake")
    if smoke_dir is None:
        smoke_dir = Path(tempfile.mkdtemp(prefix="vg-smoke-"))
        for item in ("Snakefile", "config.yaml", "studies", "workflow", "scripts", "src", "reports", "envs", "tests"):
            src = ROOT / item
            (shutil.copytree if src.is_dir() else shutil.copy)(src, smoke_dir / item)
        print(f"running the smoke DAG in {smoke_dir} (a few minutes)...", flush=True)
        subprocess.run(
            [snakemake, "--cores", "2", "--configfile", "tests/smoke.yaml"],
            cwd=smoke_dir,
            check=True,
            capture_output=True,
        )
    noop, _ = median_time(
        lambda: subprocess.run(
            [snakemake, "-n", "--configfile", "tests/smoke.yaml"], cwd=smoke_dir, check=True, capture_output=True
        ),
        3,
    )
    rss = [aggregate.read_benchmark(p)["max_rss_mb"] for p in (smoke_dir / "benchmarks/smoke/train").rglob("*.tsv")]
    return noop, max(rss) if rss else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the rules' default is 1)")
    parser.add_argument("--smoke-dir", type=Path, help="a finished smoke run to time `snakemake -n` in")
    parser.add_argument("--skip-snakemake", action="store_true")
    args = parser.parse_args()
    job.torch_settings(args.threads)  # as a training job sets them: threads, subnormals flushed

    raw = Path(tempfile.mkdtemp(prefix="vg-raw-"))
    fetch.fetch_files(MIRRORS, raw, FASHION_MNIST.files, hint=FASHION_MNIST.offline_hint)
    data.prepare_dataset(raw, raw / "fm.pt", validation_size=6000, split_seed=42, dataset=FASHION_MNIST)
    splits = data.load_dataset(raw / "fm.pt")
    samples = len(splits["train"])
    print(f"torch {torch.__version__}, {args.threads} thread(s), {samples} training samples, batch 512, 7x128 sigmoid")

    notebook, nb_all = median_time(notebook_epoch(raw), args.repeats)
    print(f"(a) notebook (DataLoader + ToTensor): median {notebook:.3f} s/epoch  {[round(t, 3) for t in nb_all]}")
    floor_once = floor_epoch(splits["train"])
    settings = {**yaml.safe_load((ROOT / "config.yaml").read_text())["training"], "epochs": 1}
    spec = specs.from_settings(settings, depth=7, seed=42)
    print(f"trainer settings (config.yaml): step_every {spec.step_every}, stats_every {spec.stats_every}")

    def trainer_once():  # a fresh one-epoch run each time: the same epoch, timed by the trainer itself
        return training.train(spec, splits, "cpu", log=lambda m: None)[1].metrics[0]["seconds"]

    floor_once(), trainer_once()  # warm-up, not timed
    fl_all, trainer_all = [], []
    for _ in range(args.repeats):
        fl_all.append(median_time(floor_once, 1)[0])
        trainer_all.append(trainer_once())
    floor, trainer = statistics.median(fl_all), statistics.median(trainer_all)
    print(f"(b) floor (bare loop, preloaded):     median {floor:.3f} s/epoch  {[round(t, 3) for t in fl_all]}")
    print(f"(c) trainer (all statistics, + val):  median {trainer:.3f} s/epoch  {[round(t, 3) for t in trainer_all]}")
    params = sum(p.numel() for p in MLP(ModelSpec(depth=7)).parameters())
    gflops = machine.matmul_gflops()
    bound = 6 * params * samples / (gflops * 1e9)
    print(f"(d) FLOP bound: 6 x {params} params x {samples} samples / {gflops:.1f} GFLOP/s = {bound:.3f} s/epoch")
    if not args.skip_snakemake:
        noop, rss = snakemake_overheads(args.smoke_dir)
        print(f"no-op `snakemake -n` on a finished smoke run: median {noop:.2f} s")
        print(f"peak RSS of a smoke training job (Snakemake benchmark): {rss:.0f} MB")
    print(
        f"RESULT trainer_vs_floor={trainer / floor:.2f} notebook_vs_trainer={notebook / trainer:.2f} "
        f"trainer_vs_flop_bound={trainer / bound:.2f}"
    )


if __name__ == "__main__":
    main()
