"""A training job's progress file: where it lives, what it holds, how it is written and read (torch-free).

Every training job writes ``progress.json`` in its run's checkpoint folder after each epoch (``job.ProgressFile``);
``vanishing_gradients.status`` finds and reads them. Written atomically: a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path

from .layout import RunId, checkpoints_dir
from .procs import process_start
from .safe_read import UnreadableFile, read_json
from .storage import atomic_path

FILE = "progress.json"
# The fields a reader needs, with their types; anything else is a damaged file.
REQUIRED = {"run": str, "study": str, "pid": int, "epochs_done": int, "epochs_total": int}
NUMBERS = ["val_acc", "seconds_per_epoch", "seconds_left", "updated"]  # each a finite number or null when present
LIMIT = 64 * 1024  # bytes: a progress file holds about 400
PID_MAX = 2**31 - 1  # a pid is a C int: a larger one makes os.kill raise OverflowError


def path(run: RunId) -> Path:
    """The run's progress file, in its checkpoint folder (removed with it when the run ends)."""
    return Path(run.checkpoint_dir) / FILE


def find(root: str | Path = ".", study: str | None = None) -> list[Path]:
    """Every progress file under ``root`` (where Snakemake runs), of one study or of all."""
    return sorted(Path(root).glob(f"{checkpoints_dir(study or '*')}/**/{FILE}"))


def write(file: Path, run: RunId, epochs_total: int, fields: dict) -> None:
    """Write the progress of ``run`` (``fields``: epochs_done, val_acc, and the time per epoch and left)."""
    progress = {
        "run": run.key,
        "study": run.study,
        "pid": os.getpid(),
        "pid_start": process_start(os.getpid()),  # the pid with its start time: a reused pid is told apart
        "host": socket.gethostname(),
        "epochs_total": epochs_total,
        "updated": time.time(),
        **fields,
    }
    with atomic_path(file) as tmp:
        tmp.write_text(json.dumps(progress))


class DamagedProgress(ValueError):
    """A progress file that is not one: not JSON, or a field missing or of the wrong type."""


def read(file: Path) -> dict:
    """A progress file's content. DamagedProgress (its reason) where it is not one; FileNotFoundError where it is
    gone (its run ended since it was found)."""
    try:
        entry = read_json(file, LIMIT)  # a regular file of bounded size: never a FIFO or /dev/zero
    except FileNotFoundError:
        raise  # gone, not damaged
    except UnreadableFile as err:
        raise DamagedProgress(err.reason) from None
    reason = damage(entry)
    if reason:
        raise DamagedProgress(reason)
    return entry


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def damage(entry) -> str | None:
    """What is wrong with a progress file's content, or None."""
    if not isinstance(entry, dict):
        return f"a JSON {type(entry).__name__}, not an object"
    for key, kind in REQUIRED.items():
        if key not in entry:
            return f"no {key!r}"
        if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
            return f"{key!r} is {json.dumps(entry[key])[:40]}, not {'an integer' if kind is int else 'a string'}"
    if not 0 < entry["pid"] <= PID_MAX:
        return f"'pid' is {str(entry['pid'])[:40]}, not a process id (1 to {PID_MAX})"
    for key in NUMBERS:
        value = entry.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            return f"{key!r} is {json.dumps(value)[:40]}, not a number"
        if value is not None and not _finite(value):
            return f"{key!r} is {str(value)[:40]}, not a finite number"
    if not isinstance(entry.get("host", ""), str):
        return "'host' is not a string"
    return None
