"""Progress of the training jobs running now: epochs done, latest validation accuracy, time left (torch-free).

    python -m vanishing_gradients.status [--study NAME] [--watch SECONDS]     (or: make status)

Run it in the folder where Snakemake runs. Every training job writes results/<study>/checkpoints/<run>/
progress.json after each epoch; this lists those whose process is alive on this machine (a job on another
node of a cluster is listed as running elsewhere) and those left by a job that died.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path

from .layout import RESULTS
from .procs import HAVE_PROC, pid_alive, process_start, process_started_at

# The fields the table shows, with their types (job.ProgressFile writes them); anything else is a damaged file.
REQUIRED = {"run": str, "study": str, "pid": int, "epochs_done": int, "epochs_total": int}
NUMBERS = ["val_acc", "seconds_per_epoch", "seconds_left", "updated"]  # each a number or null when present


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _damage(entry) -> str | None:
    """What is wrong with a progress file's content, or None."""
    if not isinstance(entry, dict):
        return f"a JSON {type(entry).__name__}, not an object"
    for key, kind in REQUIRED.items():
        if key not in entry:
            return f"no {key!r}"
        if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
            return f"{key!r} is {json.dumps(entry[key])[:40]}, not {'an integer' if kind is int else 'a string'}"
    for key in NUMBERS:
        value = entry.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            return f"{key!r} is {json.dumps(value)[:40]}, not a number"
    if not isinstance(entry.get("host", ""), str):
        return "'host' is not a string"
    return None


def _state(entry: dict) -> str:
    """running (the process that wrote the file is alive), stopped, or elsewhere (another machine's job)."""
    if entry.get("host", socket.gethostname()) != socket.gethostname():
        return "elsewhere"
    pid = entry["pid"]
    if pid <= 0 or not pid_alive(pid):
        return "stopped"
    if not HAVE_PROC:
        return "running"  # cannot tell a reused pid from the writer
    started = process_start(pid)
    if started is None:
        return "stopped"  # a zombie
    if entry.get("pid_start") is not None:
        return "running" if str(entry["pid_start"]) == started else "stopped"
    # A file written before pid_start was recorded (or where its writer could not read it): its writer was alive
    # when it wrote it, so a process that
    # started later (a second of slack: boot time's precision) is another one that got the pid.
    updated = entry.get("updated")
    return "running" if updated is None or process_started_at(started) <= updated + 1 else "stopped"


def progress(root: str | Path = ".", study: str | None = None) -> list[dict]:
    """Every progress file under ``root``/results, with ``state``: running, elsewhere, stopped or damaged (then
    with ``path`` and ``reason``)."""
    out = []
    pattern = f"{study or '*'}/checkpoints/**/progress.json"
    for path in sorted(Path(root, RESULTS).glob(pattern)):
        try:
            entry = json.loads(path.read_bytes())
        except FileNotFoundError:
            continue  # the run ended since the glob (files are replaced atomically: never half-written)
        except (OSError, ValueError) as err:
            out.append({"state": "damaged", "path": str(path), "reason": f"not JSON: {err}"})
            continue
        reason = _damage(entry)
        if reason:
            out.append({"state": "damaged", "path": str(path), "reason": reason})
            continue
        entry["state"] = _state(entry)
        out.append(entry)
    return out


def table(entries: list[dict]) -> str:
    if not entries:
        return "No training job is running (no progress files under results/*/checkpoints/)."
    lines = [f"{'study':<10} {'run':<58} {'epoch':>9} {'val acc':>8} {'s/epoch':>8} {'left':>8}  state"]
    for e in entries:
        if e["state"] == "damaged":
            lines.append(f"{e['path']}: damaged progress file ({e['reason']}); its job is not shown")
            continue
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
