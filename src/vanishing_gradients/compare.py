"""Compare the runs of two result trees value by value, timings aside (torch-free).

    python -m vanishing_gradients.compare results/default/runs other/results/default/runs

Prints each run that differs and the first differing values; exits 1 if any run differs or is missing.
Used to check that a refactoring, another machine or a cluster gives bit-for-bit the same numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from . import registry
from .safe_read import UnreadableFile, read_json, read_table

# Fields that measure the machine or the job, not the model, and the run's identity (its study may differ).
NOT_COMPARED = {"seconds", "train_seconds", "device", "threads", "torch", "python", "run", "matmul_gflops"}


def run_dirs(root: str | Path) -> dict[str, Path]:
    """Run key (the folder below ``root``) -> run folder, for every folder holding a summary.json (a file, or
    anything but a folder: a summary that cannot be read is a difference, not a run that is missing)."""
    root = Path(root)
    found = sorted(p for p in root.rglob(registry.SUMMARY.file) if not p.is_dir())
    return {str(p.parent.relative_to(root)): p.parent for p in found}


def _missing(err: OSError) -> str:
    return "missing" if isinstance(err, FileNotFoundError) else f"cannot be read ({err.strerror})"


def _read(path: Path, problems: list[str], read):
    """``read(path)``, or None with the reason it failed (naming the file) added to ``problems``."""
    try:
        return read(path)
    except (OSError, UnreadableFile) as err:  # a missing, unreadable or damaged file: one difference, not the end
        problems.append(str(err) if isinstance(err, UnreadableFile) else f"{path}: {_missing(err)}")
        return None


def _summary(path: Path):
    summary = read_json(path)
    if not isinstance(summary, dict):
        raise UnreadableFile(path, f"is a JSON {type(summary).__name__}, not a run's summary (an object)")
    return summary


def compare_run(a: Path, b: Path) -> list[str]:
    """Differences between two run folders: every table value (``registry.RUN``'s tables) and every summary
    value but timings, exactly; the weights (model.pt) are not compared. A file that cannot be read on either
    side is a difference naming it."""
    problems: list[str] = []
    for table in (t for t in registry.RUN if t.tabular):
        left, right = (_read(d / table.file, problems, read_table) for d in (a, b))
        if left is None or right is None:
            continue
        left, right = (t.drop(columns=[c for c in t if c in NOT_COMPARED]) for t in (left, right))
        try:
            pd.testing.assert_frame_equal(left, right, check_exact=True)
        except AssertionError as err:
            problems.append(f"{table.name}: {str(err).splitlines()[0:4]}")
    summaries = [_read(d / registry.SUMMARY.file, problems, _summary) for d in (a, b)]
    if None in summaries:
        return problems
    left, right = ({k: v for k, v in s.items() if k not in NOT_COMPARED} for s in summaries)
    for key in sorted(set(left) | set(right)):
        if json.dumps(left.get(key), sort_keys=True) != json.dumps(right.get(key), sort_keys=True):
            problems.append(f"summary {key}: {left.get(key)!r} != {right.get(key)!r}")
    return problems


def compare_trees(a: str | Path, b: str | Path) -> dict[str, list[str]]:
    """Run key -> differences, for every run in either tree (a run missing on one side is a difference)."""
    left, right = run_dirs(a), run_dirs(b)
    out = {}
    for key in sorted(set(left) | set(right)):
        if key not in left or key not in right:
            out[key] = [f"only in {a if key in left else b}"]
        elif problems := compare_run(left[key], right[key]):
            out[key] = problems
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vanishing_gradients.compare",
        description="Compare the runs of two result trees value by value, timings aside; exit 1 if any differs.",
    )
    parser.add_argument("a", help="a folder of runs, e.g. results/default/runs")
    parser.add_argument("b", help="the folder to compare it with")
    args = parser.parse_args(argv)
    a, b = args.a, args.b
    found = {root: set(run_dirs(root)) for root in (a, b)}
    for root, keys in found.items():
        if not keys:
            parser.error(
                f"no run (no {registry.SUMMARY.file}) under {root!r}: give a study's runs folder, "
                "e.g. results/default/runs"
            )
    differences = compare_trees(a, b)
    for key, problems in differences.items():
        print(f"{key}:\n  " + "\n  ".join(problems))
    common = found[a] & found[b]
    differing = sum(key in common for key in differences)
    print(
        f"{len(common) - differing} of {len(common)} runs in both trees identical (timings aside); "
        f"{len(differences) - differing} in one tree only"
    )
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
