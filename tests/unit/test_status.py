"""The status view: one damaged progress file is one line of its own, and a pid reused by another process is
not shown as running."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from test_bad_files import KINDS, damage

from vanishing_gradients import progress, status
from vanishing_gradients.layout import RunId
from vanishing_gradients.procs import process_start

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")


def progress_file(root, run, content):
    path = root / "results" / "s" / "checkpoints" / "fashion_mnist" / run / "progress.json"
    path.parent.mkdir(parents=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def entry(run, **fields):
    return {
        "run": f"fashion_mnist/{run}",
        "study": "s",
        "pid": os.getpid(),
        "pid_start": process_start(os.getpid()),
        "host": socket.gethostname(),
        "epochs_total": 10,
        "epochs_done": 4,
        "val_acc": 0.5,
        "seconds_per_epoch": 1.0,
        "seconds_left": 6.0,
        "updated": time.time(),
        **fields,
    }


@pytest.mark.parametrize(
    "content, reason",
    [
        ({}, "no 'run'"),
        ([1, 2], "a JSON list, not an object"),
        ("{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ({"pid": "abc"}, "'pid' is \"abc\", not an integer"),
        ("pid-as-text", "'pid' is \"123\", not an integer"),
        ("acc-as-text", "'val_acc' is \"high\", not a number"),
    ],
)
def test_a_damaged_progress_file_is_one_line_and_the_other_jobs_are_shown(tmp_path, capsys, content, reason):
    if content == "pid-as-text":
        content = entry("x", pid="123")
    elif content == "acc-as-text":
        content = entry("x", val_acc="high")
    elif isinstance(content, dict) and content:
        content = {**entry("x"), **content}
    if isinstance(content, bytes):
        path = progress_file(tmp_path, "bad", "")
        path.write_bytes(content)
    else:
        path = progress_file(tmp_path, "bad", content)
    progress_file(tmp_path, "good", entry("good"))
    assert status.main(["--root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    damaged = [line for line in lines if str(path) in line]
    assert len(damaged) == 1 and "damaged progress file" in damaged[0] and reason in damaged[0], lines
    good = next(line for line in lines if "fashion_mnist/good" in line)
    assert good.endswith("running") and "4/10" in good


def test_a_pid_reused_by_another_process_is_not_running(tmp_path):
    progress_file(tmp_path, "writer", entry("writer"))  # this process wrote it: running
    progress_file(tmp_path, "reused", entry("reused", pid_start="1"))  # same pid, another start: another process
    # written before progress files recorded pid_start: the writer was alive when it wrote; this process is not
    # the writer of a file written before it started
    old = entry("old", updated=time.time() - 10 * 24 * 3600)
    del old["pid_start"]
    progress_file(tmp_path, "old", old)
    recent = entry("recent")
    del recent["pid_start"]
    progress_file(tmp_path, "recent", recent)
    unread = entry("unread", pid_start=None)  # its writer could not read its start time: judged by the time
    progress_file(tmp_path, "unread", unread)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    progress_file(tmp_path, "gone", entry("gone", pid=int(gone.stdout), pid_start="1"))
    states = {e["run"].split("/")[1]: e["state"] for e in status.progress(tmp_path)}
    assert states == {
        "writer": "running",
        "reused": "stopped",
        "old": "stopped",
        "recent": "running",
        "unread": "running",
        "gone": "stopped",
    }


def test_the_status_command_survives_a_damaged_file(tmp_path):
    progress_file(tmp_path, "bad", "[]")
    progress_file(tmp_path, "good", entry("good", pid=1, pid_start="1"))  # pid 1 did not write it
    result = subprocess.run(
        [sys.executable, "-m", "vanishing_gradients.status", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        timeout=60,
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert "damaged progress file (a JSON list, not an object)" in result.stdout
    assert next(line for line in result.stdout.splitlines() if "fashion_mnist/good" in line).endswith("stopped")


def test_the_status_reads_what_a_job_writes_where_it_writes_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # paths are relative to where Snakemake runs
    run = RunId("s", "fashion_mnist", "runs", "baseline", "sigmoid", 0.1, 7, 42)
    progress.write(progress.path(run), run, 10, {"epochs_done": 3, "val_acc": 0.5})
    (found,) = status.progress(tmp_path, "s")
    assert found["run"] == run.key and found["epochs_done"] == 3 and found["state"] == "running"
    assert status.progress(tmp_path, "other") == []


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("fifo", "a named pipe, not a regular file"),
        ("dev-zero", "a character device, not a regular file"),
        ("folder", "a folder, not a regular file"),
        ("empty", "not JSON"),
        ("huge", "bytes, more than the"),
        ("nested", "not JSON (RecursionError"),
        ("huge-pid", "'pid' is 99999999999999999999, not a process id"),
        ("nan", "'seconds_left' is nan, not a finite number"),
        ("huge-acc", "'val_acc' is 1000000000000000000000000000000"),
    ],
)
def test_a_progress_file_that_is_no_file_or_holds_impossible_values_is_one_line(tmp_path, capsys, kind, reason):
    """Issue 28, item 7: a FIFO hung the status, /dev/zero grew its memory without end, and these values ended it
    with a traceback listing no job at all."""
    path = progress_file(tmp_path, "bad", "")
    if kind in KINDS:
        damage(path, kind)
    elif kind == "huge":
        path.write_text(" " * (progress.LIMIT + 1))
    elif kind == "nested":
        path.write_text("[" * 60_000)  # within the size limit
    elif kind == "huge-pid":
        path.write_text(json.dumps(entry("bad")).replace(str(os.getpid()), "99999999999999999999"))
    elif kind == "nan":
        path.write_text(json.dumps(entry("bad", seconds_left=float("nan"))))
    elif kind == "huge-acc":
        path.write_text(json.dumps(entry("bad", val_acc=10**400)))
    progress_file(tmp_path, "good", entry("good"))
    assert status.main(["--root", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    damaged = [line for line in lines if str(path) in line]
    assert len(damaged) == 1 and "damaged progress file" in damaged[0] and reason in damaged[0], lines
    assert next(line for line in lines if "fashion_mnist/good" in line).endswith("running")


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "1e-9", "ten"])
def test_watch_takes_only_a_sensible_interval(value, capsys):
    """Issue 28, item 7: a negative or NaN interval ended in a traceback, 1e-9 was a busy loop."""
    with pytest.raises(SystemExit) as exit_:
        status.main(["--watch", value])
    assert exit_.value.code == 2
    assert f"argument --watch: {value!r} is not a number of seconds of at least" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../../x", "..", "a/b", "/etc", "*"])
def test_study_is_a_name_below_results_never_a_path_out_of_it(tmp_path, name, capsys):
    """Issue 28, item 7: --study ../../x read progress files outside results/."""
    outside = tmp_path / "x" / "checkpoints" / "fashion_mnist" / "run" / "progress.json"
    outside.parent.mkdir(parents=True)
    outside.write_text(json.dumps(entry("run")))
    with pytest.raises(SystemExit) as exit_:
        status.main(["--root", str(tmp_path / "a" / "b"), "--study", name])
    assert exit_.value.code == 2 and "is not a study name" in capsys.readouterr().err


def test_the_whole_study_time_left_comes_from_snakemakes_newest_log(tmp_path):
    """Jobs done of planned and the pace since Snakemake started: 10 of 40 jobs in 10 minutes leave 30 minutes."""
    from datetime import datetime

    from vanishing_gradients.status import study_pace

    assert study_pace(tmp_path) is None  # no Snakemake has run here
    logs = tmp_path / ".snakemake" / "log"
    logs.mkdir(parents=True)
    (logs / "2026-01-01T000000.000000.snakemake.log").write_text("Date: 2026-01-01 00:00:00\n1 of 5 steps (20%) done\n")
    newest = logs / "2026-01-01T120000.000000.snakemake.log"
    newest.write_text("Building DAG of jobs...\n  Date: 2026-01-01 12:00:00\nrule train_baseline:\n")
    assert study_pace(tmp_path) is None  # no job has finished yet
    start = datetime(2026, 1, 1, 12, 0, 0).timestamp()
    newest.write_text(newest.read_text() + "9 of 40 steps (22%) done\n10 of 40 steps (25%) done\n")
    os.utime(newest, (start + 600, start + 600))
    said = study_pace(tmp_path, now=start + 600)
    assert "10 of 40 jobs done, 10m00s since it started" in said and "about 30m00s left" in said
    assert "was last written 20m00s ago" in study_pace(tmp_path, now=start + 1800)  # a Snakemake that died
    newest.write_text(newest.read_text() + "40 of 40 steps (100%) done\n")
    assert "every planned job is done" in study_pace(tmp_path)
