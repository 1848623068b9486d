"""Progress of the training jobs running now: epochs done, latest validation accuracy, time left (torch-free).

    python -m vanishing_gradients.status [--study NAME] [--watch SECONDS]     (or: make status)

Run it in the folder where Snakemake runs. Every training job writes results/<study>/checkpoints/<run>/
progress.json after each epoch; this lists those whose process is alive on this machine (a job on another
node of a cluster is listed as running elsewhere) and those left by a job that died, then the whole study's
jobs done and time left from Snakemake's newest log. With --watch in a terminal it redraws in place.
"""

from __future__ import annotations

import argparse
import math
import re
import socket
import sys
import time
from datetime import datetime
from pathlib import Path

from . import progress as progress_file
from .procs import pid_alive, process_start, process_started_at
from .study import NAME

MIN_WATCH = 0.5  # seconds: a job writes its progress once an epoch; refreshing faster only spins a core
STEPS = re.compile(r"^(\d+) of (\d+) steps \(\d+%\) done$", re.MULTILINE)
STARTED = re.compile(r"^\s*Date: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$", re.MULTILINE)
LOG_LIMIT = 64 * 2**20  # bytes of a Snakemake log read at most (a study's is well under a megabyte)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _state(entry: dict) -> str:
    """running (the process that wrote the file is alive), stopped, or elsewhere (another machine's job)."""
    if entry.get("host", socket.gethostname()) != socket.gethostname():
        return "elsewhere"
    pid = entry["pid"]
    if pid <= 0 or not pid_alive(pid):
        return "stopped"
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
    for path in progress_file.find(root, study):
        try:
            entry = progress_file.read(path)
            entry["state"] = _state(entry)
        except FileNotFoundError:
            continue  # the run ended since it was found (files are replaced atomically: never half-written)
        except Exception as err:  # one bad file is one line of its own; it never hides the other jobs
            reason = str(err) if isinstance(err, progress_file.DamagedProgress) else f"{type(err).__name__}: {err}"
            out.append({"state": "damaged", "path": str(path), "reason": reason})
            continue
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


def study_pace(root: str | Path = ".", now: float | None = None) -> str | None:
    """The whole study's progress from the newest Snakemake log in ``root``/.snakemake/log: jobs done of those
    planned, the time since Snakemake started, and at that pace the time left for the jobs planned so far; None
    where there is no log (or it counts no job yet)."""
    logs = sorted(Path(root, ".snakemake", "log").glob("*.snakemake.log"))
    if not logs or not logs[-1].is_file() or logs[-1].stat().st_size > LOG_LIMIT:
        return None
    text = logs[-1].read_text(errors="replace")
    started, counts = STARTED.search(text), STEPS.findall(text)
    if not started or not counts:
        return None
    done, planned = map(int, counts[-1])
    now = time.time() if now is None else now
    elapsed = now - datetime.strptime(started.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
    line = f"Snakemake ({logs[-1].name}): {done} of {planned} jobs done, {_duration(elapsed)} since it started"
    if done >= planned:
        return line + "; every planned job is done"
    quiet = now - logs[-1].stat().st_mtime
    if quiet > 600:
        return line + f"; its log was last written {_duration(quiet)} ago (is it still running?)"
    left = elapsed / done * (planned - done) if done else None
    return (
        line + f"; at this pace about {_duration(left)} left for the jobs planned so far (a study that screens its "
        "rates plans its final runs once they are chosen: the count grows then)"
    )


def _study(text: str) -> str:
    """A study's name as the config allows it: one folder below results/, never a path out of it."""
    if not NAME.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a study name (letters, digits, '_', '.', '-', starting with a letter or digit): "
            "give the name of a folder below results/, e.g. default"
        )
    return text


def _interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= MIN_WATCH):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds of at least {MIN_WATCH}, e.g. 10")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", type=_study, help="only this study (default: all)")
    parser.add_argument(
        "--watch", type=_interval, metavar="SECONDS", help=f"refresh every SECONDS (at least {MIN_WATCH})"
    )
    parser.add_argument("--root", default=".", help="the folder Snakemake runs in (default: here)")
    args = parser.parse_args(argv)
    redraw = bool(args.watch) and sys.stdout.isatty()  # in a terminal, --watch redraws in place
    while True:
        pace = study_pace(args.root)
        view = table(progress(args.root, args.study)) + (f"\n{pace}" if pace else "")
        print(("\x1b[H\x1b[2J" if redraw else "") + view, flush=True)
        if not args.watch:
            return 0
        time.sleep(args.watch)
        if not redraw:
            print()


if __name__ == "__main__":
    sys.exit(main())
