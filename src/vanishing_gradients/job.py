"""A training job as Snakemake runs it: one run, locked against a second trainer, stopped when the Snakemake
that started it dies, resumable from its checkpoint, with its progress on disk for ``vanishing_gradients.status``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import threading
import time
from pathlib import Path

from . import progress
from .callbacks import Callback
from .layout import RunId
from .procs import command_line, parent, process_start
from .specs import TrainSpec, total_epochs

CHECKPOINT, LOCK = "checkpoint.pt", "lock"  # in the run's state folder, beside its progress file (progress.path)


class RunLockedError(RuntimeError):
    """Another process is training this run."""


class SnakemakeGone(BaseException):
    """Raised in the main thread when the Snakemake that started this job is gone (not an Exception: nothing
    may catch it on the way out)."""


# ------------------------------------------------------------------------------------------- lock
@contextlib.contextmanager
def run_lock(path: Path, wait_s: float = 30.0):
    """Hold an exclusive lock on ``path`` (flock: released by the kernel however the holder dies).

    Waits up to ``wait_s`` for a holder that is ending (an orphaned trainer stops within seconds of its
    Snakemake's death), then raises RunLockedError naming the holder. The lock file is removed on release.
    Not the filelock package: the error must name the holder (its pid and host, written in the lock file), so that
    a user can act on it, and filelock keeps no holder's name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() > deadline:
                raise RunLockedError(
                    f"{path.parent} is being trained by another process ({holder or 'pid unknown'}). Wait for it "
                    "to finish, or stop it (kill <pid>) and run snakemake again."
                ) from None
            time.sleep(0.5)
            continue
        if _same_file(fd, path):  # not a lock file that its last holder removed while we waited
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
        yield
    finally:
        Path(path).unlink(missing_ok=True)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


# ------------------------------------------------------------------------------- parent watchdog
def snakemake_ancestors(pid: int | None = None) -> list[tuple[int, str]]:
    """This process's ancestors up to the outermost ``snakemake`` process, as (pid, start time); [] when no
    Snakemake started it."""
    chain, outermost = [], None
    pid = os.getppid() if pid is None else pid
    while pid is not None and pid > 1:
        started = process_start(pid)
        if started is None:
            break
        chain.append((pid, started))
        if "snakemake" in command_line(pid):
            outermost = len(chain)
        pid = parent(pid)
    return chain[:outermost] if outermost else []


def stop_with_snakemake(log, interval_s: float = 1.0) -> threading.Thread | None:
    """Interrupt this process when the Snakemake that started it (or a process between them) dies.

    A local Snakemake killed with SIGKILL leaves its jobs running: without this, the trainer would go on as
    an orphan and a rerun would train the same run beside it. The main thread gets SnakemakeGone (through
    SIGUSR1: SIGINT may be ignored in a job started in the background), so files being written are cleaned
    up; the last checkpoint stays for the rerun. On SLURM the watched Snakemake is the one inside the job,
    which the scheduler ends with the job. Call from the main thread.
    """
    watched = snakemake_ancestors()
    if not watched:
        return None

    def stop(_signum, _frame):
        raise SnakemakeGone("the Snakemake that started this job is gone")

    signal.signal(signal.SIGUSR1, stop)

    def watch():
        while True:
            time.sleep(interval_s)
            for pid, started in watched:
                if process_start(pid) != started:
                    log(f"process {pid} that started this job is gone (Snakemake killed?): stopping")
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
                    time.sleep(30)
                    os._exit(1)  # the main thread did not stop (blocked in native code)

    thread = threading.Thread(target=watch, name="stop-with-snakemake", daemon=True)
    thread.start()
    return thread


# ------------------------------------------------------------------------------------- progress
class ProgressFile(Callback):
    """Writes the run's progress file (``progress``) after every epoch: epochs done, latest validation accuracy,
    time left."""

    def __init__(self, run: RunId, spec: TrainSpec):
        self.path, self.run, self.total = progress.path(run), run, total_epochs(spec)
        self.epoch_seconds: list[float] = []
        progress.write(self.path, run, self.total, {"epochs_done": 0, "val_acc": None})

    def start_epoch(self, model) -> None:
        self._started = time.monotonic()

    def end_epoch(self, model, row: dict) -> None:
        self.epoch_seconds = [*self.epoch_seconds, time.monotonic() - self._started][-10:]
        per_epoch = sum(self.epoch_seconds) / len(self.epoch_seconds)
        fields = {
            "epochs_done": row["epoch"],
            "val_acc": row["val_acc"],
            "seconds_per_epoch": per_epoch,
            "seconds_left": per_epoch * (self.total - row["epoch"]),
        }
        progress.write(self.path, self.run, self.total, fields)


# ------------------------------------------------------------------------------------------ job
def torch_settings(threads: int) -> None:
    """The process-wide torch settings of a training job (the trainer changes none of them)."""
    import torch

    torch.set_num_threads(threads)  # Snakemake sets OMP_NUM_THREADS to the rule's threads; torch gets the same
    # Saturated sigmoids (weights N(0, 10), gradient normalisation) make subnormal floats (< 1.2e-38) in the
    # backward pass, and x86 CPUs compute with them far slower (before this flush the full study's N(0, 10) runs
    # took 4.1 s per epoch against ~0.9 s for the other 7-layer runs). Flushing them to zero changes no number of
    # the other runs (tested bitwise).
    torch.set_flush_denormal(True)


def run(
    run_id: RunId,
    spec: TrainSpec,
    dataset: str,
    outputs: dict,
    device: str,
    threads: int,
    log,
    tensorboard: bool = False,
    code: str | None = None,
    callbacks: list[Callback] = (),
) -> dict:
    """Train one run and write its outputs; return its summary. The state folder is removed at the end.

    ``code``: the hash of the training code (the rule's ``code`` param), part of the checkpoint's fingerprint;
    by default the hash of this module and every module it imports. ``callbacks``: more of them for the trainer
    (a new statistic: its rows land in the run's grad_epochs table).
    """
    from . import checkpoints, codehash, data, machine, training
    from . import outputs as run_outputs

    code = codehash.code_hash(__file__) if code is None else code

    torch_settings(threads)
    state = Path(run_id.checkpoint_dir)
    with run_lock(state / LOCK):
        stop_with_snakemake(log)
        device = training.resolve_device(device)
        log(f"{run_id.key} of study {run_id.study} on {device}, {threads} thread(s): {spec}")
        callbacks = [ProgressFile(run_id, spec), *callbacks]
        if tensorboard:
            from .tboard import TensorBoardLogger

            callbacks.append(TensorBoardLogger(outputs["tensorboard"]))
        model, run_log = training.train(
            spec, data.load_dataset(dataset), device, state / CHECKPOINT, log, callbacks, code=code
        )
        rate = {"matmul_gflops": machine.matmul_gflops(device)}  # after training: the cores are as it left them
        summary = run_outputs.save_run(run_log, model, spec, run_id, outputs, str(device), threads, rate)
        checkpoints.remove(state / CHECKPOINT)
        progress.path(run_id).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # left as it is if not empty (a file someone put there)
        state.rmdir()  # only the run's own folder: another job may be creating its siblings right now
    return summary
