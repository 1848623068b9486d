"""Run Snakemake on a copy of the project in a temporary directory."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from vanishing_gradients import study

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
PROJECT_ITEMS = (
    "Snakefile",
    "config.yaml",
    "profiles",
    "studies",
    "workflow",
    "scripts",
    "src",
    "reports",
    "envs",
    "tests",
)
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for item in PROJECT_ITEMS:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=IGNORE)
        else:
            shutil.copy2(src, dest / item)
    return dest


def snakemake(cwd: Path, *args, check=True, timeout=1200, details=False) -> subprocess.CompletedProcess:
    """Run snakemake in ``cwd``. ``details``: each job's inputs, outputs, wildcards and priority printed instead of
    its one-line message (VG_JOB_DETAILS, common.smk's job_message), for a test that reads the plan."""
    env = {**os.environ, "VG_JOB_DETAILS": "1"} if details else None
    result = subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def planned_jobs(cwd: Path, *args) -> dict[str, int]:
    """Rule -> job count that `snakemake -n` plans ({} when there is nothing to do)."""
    out = snakemake(cwd, "-n", *args)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    stats = text.split("Job stats:")[1]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", stats, flags=re.M))
    counts.pop("total", None)
    return {rule: int(n) for rule, n in counts.items()}


def all_runs(config: dict, chosen: dict[tuple[str, str, int], float] | None = None) -> list:
    """Every run of a study: the screen, then the final runs at ``chosen`` (default ``study.provisional_choice``)."""
    chosen = study.provisional_choice(config) if chosen is None else chosen
    return study.screening_runs(config) + study.final_runs(config, chosen)
