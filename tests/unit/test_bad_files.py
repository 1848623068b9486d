"""Every file a tool reads back is opened only if it is a regular file of bounded size, parsed with errors that
name it, and one bad file never hides the others (issue 28, items 7 to 9): here for compare and load_run, on
each kind of bad file (status: tests/unit/test_status.py; load_run: tests/unit/test_api.py)."""

import contextlib
import json
import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from vanishing_gradients import compare, registry
from vanishing_gradients.storage import write_table


@contextlib.contextmanager
def within(seconds: int):
    """Fail instead of hanging (a FIFO read waits for a writer forever)."""

    def expired(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def damage(path: Path, kind: str) -> None:
    """Replace ``path`` by a bad file of ``kind``."""
    content = path.read_bytes() if path.is_file() else b""
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00\x81" * 64)
    elif kind == "truncated":
        path.write_bytes(content[: len(content) // 2])
    elif kind != "missing":
        raise ValueError(kind)


KINDS = ["fifo", "dev-zero", "folder", "empty", "binary", "truncated", "missing"]
RUN_FILES = [t.file for t in registry.RUN if t.tabular or t is registry.SUMMARY]


def tree(root: Path) -> Path:
    """Two runs, each with a summary and every run table."""
    for seed in (1, 2):
        run = root / "fashion_mnist" / "baseline" / "sigmoid" / "lr0.1" / "depth3" / f"seed{seed}"
        run.mkdir(parents=True)
        (run / registry.SUMMARY.file).write_text(json.dumps({"best_test_acc": 0.5, "seed": seed, "seconds": seed}))
        for table in (t for t in registry.RUN if t.tabular):
            write_table(run / table.file, pd.DataFrame({"epoch": [1, 2], "value": [0.25 * seed, 0.5]}))
    return root


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("file", RUN_FILES)
def test_compare_names_a_bad_file_and_compares_every_other_run(tmp_path, file, kind, capsys):
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    bad = b / "fashion_mnist/baseline/sigmoid/lr0.1/depth3/seed1" / file
    damage(bad, kind)
    (b / "fashion_mnist/baseline/sigmoid/lr0.1/depth3/seed2/metrics.csv").write_text("epoch,value\n1,9\n2,0.5\n")
    with within(30):
        assert compare.main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "depth3/seed2:\n  metrics:" in out  # the other run is still compared
    if file == registry.SUMMARY.file and kind in ("folder", "missing"):
        assert "depth3/seed1:\n  only in" in out  # a folder named summary.json is no run
    elif kind == "truncated" and file.endswith(".csv"):
        assert "depth3/seed1:\n  metrics: ['DataFrame are different'" in out  # half a CSV is a shorter table
    else:
        assert f"depth3/seed1:\n  {bad}: " in out, out


def test_a_folder_named_summary_json_is_no_run(tmp_path, capsys):
    (tmp_path / "a" / "run" / registry.SUMMARY.file).mkdir(parents=True)
    with pytest.raises(SystemExit):
        compare.main([str(tmp_path / "a"), str(tree(tmp_path / "b"))])
    assert "no run (no summary.json)" in capsys.readouterr().err
