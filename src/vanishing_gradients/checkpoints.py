"""Checkpoints of a run in training: the state after the last finished epoch, and its records.

A checkpoint is two files: <name> holds the state after the last finished epoch (model, optimiser, RNGs,
metrics), replaced atomically; <name>.records is an append-only log of each epoch's gradient records, so
saving costs the same at epoch 700 as at epoch 1. The state says how many records belong to it. A checkpoint
is resumed only by a run with the same fingerprint: every setting of its spec, the content of every split it
trains and evaluates on (so a changed validation size, subset or dataset never resumes an old state) and the hash
of the code that trains it (``codehash``: a state made by other code is never continued by this code).
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path

import torch

from .data import Split, splits_sha256
from .specs import TrainSpec
from .storage import atomic_path

# The layout of a checkpoint's state and records; raised when it changes, so that an older checkpoint is not
# resumed (2: every callback's statistics in one grad_epochs record of values and measured flags).
FORMAT = 2


def fingerprint(spec: TrainSpec, data: dict[str, Split], code: str = "") -> str:
    """What shaped a run's state: its settings, its data (the splits' bytes, shapes and types), ``code``, the
    hash of the code that trains it (the training rule's ``code`` param), and ``FORMAT``."""
    splits = {name: {"images": split.images, "labels": split.labels} for name, split in data.items()}
    return hashlib.sha256(f"{FORMAT}:{spec.fingerprint()}:{splits_sha256(splits)}:{code}".encode()).hexdigest()[:16]


def records_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".records")


def remove(checkpoint: str | Path) -> None:
    checkpoint = Path(checkpoint)
    checkpoint.unlink(missing_ok=True)
    records_path(checkpoint).unlink(missing_ok=True)


def _append_records(path: Path, records: dict) -> None:
    buffer = io.BytesIO()
    torch.save(records, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(struct.pack("<Q", buffer.tell()) + buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())


def _read_records(path: Path, count: int) -> list[dict] | None:
    """The first ``count`` records, dropping any written after them (a kill between the two writes)."""
    out = []
    with open(path, "r+b") as f:
        while len(out) < count:
            head = f.read(8)
            if len(head) < 8:
                return None
            blob = f.read(struct.unpack("<Q", head)[0])
            out.append(torch.load(io.BytesIO(blob), weights_only=True))
        f.truncate(f.tell())
    return out


def save(path: Path, identity: str, state: dict, records: dict) -> None:
    """``identity``: the run's ``fingerprint``."""
    _append_records(records_path(path), records)
    with atomic_path(path) as tmp:
        torch.save({"fingerprint": identity, **state}, tmp)


def load(path: Path | None, identity: str, log) -> dict | None:
    """The saved state with its records, or None (and a fresh records log) if there is nothing to resume."""
    if path is None:
        return None
    state = None
    if path.exists():
        try:
            state = torch.load(path, weights_only=True, map_location="cpu")
            if state.get("fingerprint") != identity:
                log(f"ignoring checkpoint {path}: it was written by a run with other settings, data or code")
                state = None
            else:
                state["records"] = _read_records(records_path(path), len(state["run"]["metrics"]))
                if state["records"] is None:
                    log(f"ignoring checkpoint {path}: its records are incomplete")
                    state = None
        except Exception as err:
            log(f"ignoring unreadable checkpoint {path}: {type(err).__name__}: {err or 'no detail'}")
            state = None
    if state is None:
        remove(path)
    return state
