"""Reading back a file that anything could have put there: only a regular file of bounded size, parsed with
errors that name it (torch-free).

A results tree can hold a named pipe where a record should be (reading it waits forever), a link to /dev/zero
(reading it never ends), a folder, a huge or a truncated file. The tools that read records back (``status``,
``compare``, ``api.load_run``) open each file here: without blocking, checked to be a regular file no larger than
its limit, and read from that same open file (so it cannot be swapped in between). Every failure is an
``UnreadableFile`` whose message starts with the path, so a caller can report one bad file and go on.
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

MiB = 1024 * 1024
KINDS = [
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISREG, "a file"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
]


class UnreadableFile(ValueError):
    """A file that is not a regular file, is too large, or does not parse: ``path`` and ``reason``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


def kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words: a folder, a file, a named pipe, ..."""
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


def _read_up_to(handle, first: int, most: int) -> bytes:
    """At most ``most`` bytes: ``first`` at once (the size the file had; read(n) reserves n bytes), then in
    chunks, so a file that grows while it is read is still bounded."""
    parts, total, size = [], 0, first
    while total < most and (part := handle.read(min(size, most - total))):
        parts.append(part)
        total, size = total + len(part), MiB
    return b"".join(parts)


def read_bytes(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. FileNotFoundError where there is none (a caller
    may expect that: a run that ended), UnreadableFile for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))  # a FIFO opens at once
    except FileNotFoundError:
        raise
    except OSError as err:
        raise UnreadableFile(path, f"cannot be opened ({err.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(path, f"is {kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UnreadableFile(path, f"is {info.st_size:,} bytes, more than the {limit:,} such a file can be")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = _read_up_to(handle, info.st_size + 1, limit + 1)
    except OSError as err:
        raise UnreadableFile(path, f"cannot be read ({err.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnreadableFile(path, f"grew past the {limit:,} bytes such a file can be while it was read")
    return data


def read_json(path: str | os.PathLike, limit: int = 16 * MiB):
    """A JSON document (NaN and infinities allowed, as the summaries write them)."""
    data = read_bytes(path, limit)
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise UnreadableFile(path, f"is not JSON ({type(err).__name__}: {str(err)[:200]})") from None


def read_table(path: str | os.PathLike, limit: int = 4096 * MiB):
    """A pandas frame from a CSV or Parquet file, chosen by its suffix (as ``storage.read_table``)."""
    import pandas as pd

    data = read_bytes(path, limit)
    try:
        if Path(path).suffix == ".parquet":
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data))
    except Exception as err:  # pandas and pyarrow raise many kinds; each means the same: not a readable table
        raise UnreadableFile(path, f"is not a readable table ({type(err).__name__}: {str(err)[:200]})") from None
