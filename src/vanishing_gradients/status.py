"""Progress of the training jobs running now: epochs done, latest validation accuracy, time left (torch-free).

    python -m vanishing_gradients.status [--study NAME] [--watch SECONDS]     (or: make status)

Run it in the folder where Snakemake runs. Every training job writes results/<study>/checkpoints/<run>/
progress.json after each epoch; this lists those whose process is alive on this machine (a job on another
node of a cluster is listed as running elsewhere) and those left by a job that died.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

from .layout import RESULTS


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress(root: str | Path = ".", study: str | None = None) -> list[dict]:
    """Every progress file under ``root``/results, with ``state``: running, elsewhere or stopped."""
    out = []
    pattern = f"{study or '*'}/checkpoints/**/progress.json"
    for path in sorted(Path(root, RESULTS).glob(pattern)):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being replaced right now, or gone
        here = entry.get("host", socket.gethostname()) == socket.gethostname()
        entry["state"] = ("running" if _alive(entry["pid"]) else "stopped") if here else "elsewhere"
        out.append(entry)
    return out


def table(entries: list[dict]) -> str:
    if not entries:
        return "No training job is running (no progress files under results/*/checkpoints/)."
    lines = [f"{'study':<10} {'run':<58} {'epoch':>9} {'val acc':>8} {'s/epoch':>8} {'left':>8}  state"]
    for e in entries:
        acc = f"{100 * e['val_acc']:.1f}%" if e.get("val_acc") is not None else "-"
        per_epoch = f"{e['seconds_per_epoch']:.2f}" if e.get("seconds_per_epoch") else "-"
        left = _duration(e.get("seconds_left")) if e["state"] != "stopped" else "-"
        lines.append(
            f"{e['study']:<10} {e['run']:<58} {e['epochs_done']:>4}/{e['epochs_total']:<4} {acc:>8} "
            f"{per_epoch:>8} {left:>8}  {e['state']}"
        )
    running = [e for e in entries if e["state"] == "running"]
    if running:
        lines.append(
            f"{len(running)} running; the last to finish ends in about "
            f"{_duration(max(e.get('seconds_left') or 0 for e in running))} (if no other job waits for a core)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", help="only this study (default: all)")
    parser.add_argument("--watch", type=float, metavar="SECONDS", help="refresh every SECONDS until interrupted")
    parser.add_argument("--root", default=".", help="the folder Snakemake runs in (default: here)")
    args = parser.parse_args(argv)
    while True:
        print(table(progress(args.root, args.study)), flush=True)
        if not args.watch:
            return 0
        time.sleep(args.watch)
        print()


if __name__ == "__main__":
    sys.exit(main())
