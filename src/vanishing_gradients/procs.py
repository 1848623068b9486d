"""Processes on this machine: is a pid alive, and is it still the process it was (torch-free; psutil, so the same
on Linux and macOS)."""

from __future__ import annotations

import psutil


def pid_alive(pid: int) -> bool:
    return pid > 0 and psutil.pid_exists(pid)


def _process(pid: int) -> psutil.Process | None:
    """The live process of ``pid``; None if it is gone or a zombie (killed, not yet reaped by its parent)."""
    try:
        process = psutil.Process(pid)
        return None if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD) else process
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def process_start(pid: int) -> str | None:
    """The process's start time, as text (seconds since the epoch, to the system clock's tick): with the pid, it names
    one process, since a pid is reused only by a process started later. None if it is gone or a zombie."""
    process = _process(pid)
    try:
        return None if process is None else f"{process.create_time():.2f}"
    except psutil.Error:
        return None


def process_started_at(start: str) -> float:
    """A start time from ``process_start`` as seconds since the epoch."""
    return float(start)


def parent(pid: int) -> int | None:
    """The parent's pid of a live process, or None."""
    process = _process(pid)
    try:
        return None if process is None else process.ppid()
    except psutil.Error:
        return None


def command_line(pid: int) -> str:
    """The process's command line, its arguments joined by spaces ("" where it cannot be read)."""
    process = _process(pid)
    try:
        return "" if process is None else " ".join(process.cmdline())
    except psutil.Error:
        return ""
