"""Processes on this machine: is a pid alive, and is it still the process it was (torch-free)."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


HAVE_PROC = Path("/proc/self/stat").exists()


def process_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22): with the pid, it names one
    process, since a pid is reused only by a process started later. None if it is gone, a zombie (killed, not
    yet reaped) or there is no /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def process_started_at(start: str) -> float:
    """A start time from ``process_start`` as seconds since the epoch (to about a second: boot time's precision)."""
    boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    return int(boot.split()[1]) + int(start) / os.sysconf("SC_CLK_TCK")
