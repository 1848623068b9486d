"""The study on a real SLURM: the smoke DAG through profiles/slurm plus the test overlay.

A single-node SLURM (tests/cluster/slurm.sh, see tests/cluster/README.md) is installed and started for the
module and stopped, by PID, afterwards. Needs root; skipped where SLURM cannot be installed (no apt-get).

    snakemake --configfile tests/smoke.yaml --profile profiles/slurm --profile tests/cluster/profile

Checks: every training run is its own sbatch job that SLURM ran to exit 0; the results equal those of a
local run (run at the same time, to use the CPU the cluster leaves idle between status checks); a second
`snakemake -n` plans nothing; a failed job is reported, its log shown, and retried with --retries.
"""

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from workflow_helpers import all_runs

from vanishing_gradients import compare, study, validation  # tests/conftest.py puts src/ on sys.path
from vanishing_gradients.layout import lr_name

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
HARNESS = ROOT / "tests/cluster/slurm.sh"
# The command a site runs, plus the single-node overlay; relative paths: run from a copy of the project.
SLURM_PROFILES = ("--profile", "profiles/slurm", "--profile", "tests/cluster/profile")
SMOKE = ("--configfile", "tests/smoke.yaml", "tests/cluster/smoke.yaml")
NOT_COPIED = {".venv", "results", "logs", "benchmarks", ".snakemake", ".git"}  # at the top of the project
NOT_COPIED_ANYWHERE = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info")
SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+) ", re.M)
RULE_BLOCK = re.compile(r"^(local)?(?:rule|checkpoint) (\S+):\n((?:    .*\n)+)", re.M)
SMOKE_TIMEOUT_S = 900


# --- helpers -------------------------------------------------------------------------------------------


@dataclass
class Result:
    returncode: int
    output: str
    seconds: float


class Snakemake:
    """`snakemake ARGS` in `cwd`, started now; output (stdout and stderr) goes to `cwd`/snakemake-N.out."""

    count = itertools.count(1)

    def __init__(self, cwd: Path, *args: str):
        self.cwd, self.args = cwd, args
        self.out = cwd / f"snakemake-{next(self.count)}.out"
        env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
        env["VG_JOB_DETAILS"] = "1"  # each job's jobid and wildcards printed (common.smk), which submissions() reads
        with open(self.out, "w") as out:
            # Own process group: on a timeout it is interrupted as a whole, and nothing else is.
            self.proc = subprocess.Popen(
                [SNAKEMAKE, *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.started = time.time()

    def wait(self, timeout: float) -> Result:
        try:
            self.proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"snakemake {' '.join(self.args)} in {self.cwd} ran over {timeout:.0f} s:\n{self.tail()}")
        # The output file was last written as Snakemake ended: its run time even when waited for late.
        return Result(self.proc.returncode, self.out.read_text(), self.out.stat().st_mtime - self.started)

    def stop(self):
        """Ctrl-C (Snakemake then cancels its SLURM jobs), or SIGKILL a minute later; no-op once it ended."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self, lines=80) -> str:
        return "\n".join(self.out.read_text().splitlines()[-lines:])


def run(cwd: Path, *args: str, timeout: float = 300) -> Result:
    return Snakemake(cwd, *args).wait(timeout)


def copy_project(dest: Path) -> Path:
    """The project without venv, results, logs, benchmarks or Snakemake state."""

    def ignore(folder, names):
        top = NOT_COPIED.intersection(names) if Path(folder) == ROOT else set()
        return top | NOT_COPIED_ANYWHERE(folder, names)

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def smoke_runs(project: Path) -> list:
    """The runs of config.yaml with the SMOKE overlays merged on top, validated as the workflow does."""
    from snakemake.utils import update_config

    config = yaml.safe_load((project / "config.yaml").read_text())
    for overlay in SMOKE[1:]:
        update_config(config, yaml.safe_load((project / overlay).read_text()))
    validation.validate_config(config, str(project / "workflow/schemas/config.schema.yaml"))
    return all_runs(config)  # one rate per optimiser: no screen, the final runs are known


def submissions(output: str) -> dict[tuple, list[str]]:
    """(rule, wildcards) -> SLURM job ids, from the job descriptions and submission lines Snakemake prints."""
    jobs = {}
    for local, rule, body in RULE_BLOCK.findall(output):
        fields = dict(re.findall(r"^    (\w+): (.*)$", body, re.M))
        if not local and "jobid" in fields:
            wildcards = tuple(sorted(w.split("=", 1) for w in fields.get("wildcards", "").split(", ") if w))
            jobs.setdefault(fields["jobid"], (rule, tuple(map(tuple, wildcards))))
    found = {}
    for jobid, slurm_id in SUBMITTED.findall(output):
        found.setdefault(jobs[jobid], []).append(slurm_id)
    return found


def slurm_exits(state: Path) -> dict[str, int]:
    """SLURM job id -> exit status, as slurmctld logged them."""
    log = (state / "log/slurmctld.log").read_text()
    return {job: int(code) for job, code in re.findall(r"_job_complete: JobId=(\d+) WEXITSTATUS (\d+)", log)}


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running single-node SLURM; yields its state directory (logs under log/)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: tests/cluster/slurm.sh installs packages and starts munged, slurmctld, slurmd")
    install = subprocess.run(["bash", HARNESS, "install"], capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        if shutil.which("apt-get") is None:
            pytest.skip(f"SLURM is not installed and there is no apt-get to install it:\n{install.stderr}")
        pytest.fail(f"tests/cluster/slurm.sh install failed:\n{install.stdout}\n{install.stderr}")
    state = tmp_path_factory.mktemp("slurm-state")
    start = subprocess.run(["bash", HARNESS, "start", state], capture_output=True, text=True, timeout=120)
    try:
        assert start.returncode == 0, f"tests/cluster/slurm.sh start failed:\n{start.stdout}\n{start.stderr}"
        yield state
    finally:
        # Jobs left by an interrupted run would outlive slurmd; the cluster and its jobs are this module's.
        left = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
        if left:
            subprocess.run(["scancel", *left], capture_output=True)
        stop = subprocess.run(["bash", HARNESS, "stop", state], capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0, f"tests/cluster/slurm.sh stop failed:\n{stop.stdout}\n{stop.stderr}"


@pytest.fixture(scope="module")
def failing_started(slurm, tmp_path_factory):
    """Two one-rule workflows started through the SLURM profiles: one fails once, one always fails."""
    profiles = ("--profile", str(ROOT / "profiles/slurm"), "--profile", str(ROOT / "tests/cluster/profile"))
    flaky_dir, broken_dir = tmp_path_factory.mktemp("flaky"), tmp_path_factory.mktemp("broken")
    (flaky_dir / "Snakefile").write_text(
        "rule flaky:\n"
        '    output: "flaky.done"\n'
        '    log: "flaky.log"\n'
        "    resources: mem_mb=100, runtime=5\n"
        "    shell:\n"
        '        "echo $SLURM_JOB_ID >> attempts.txt; "\n'
        '        "if [ -e failed_once ]; then echo ok > {output}; "\n'
        """        "else touch failed_once; echo 'first attempt fails on purpose' > {log}; exit 3; fi"\n"""
    )
    (broken_dir / "Snakefile").write_text(
        "rule broken:\n"
        '    output: "broken.done"\n'
        '    log: "broken.log"\n'
        "    resources: mem_mb=100, runtime=5\n"
        "    shell:\n"
        """        "echo $SLURM_JOB_ID >> attempts.txt; echo 'broken on purpose' > {log}; exit 1"\n"""
    )
    started = {
        "flaky": (flaky_dir, Snakemake(flaky_dir, *profiles, "--retries", "1")),
        "broken": (broken_dir, Snakemake(broken_dir, *profiles, "--retries", "0")),
    }
    yield started
    for _, proc in started.values():
        proc.stop()  # still running only when a test stopped early


@pytest.fixture(scope="module")
def failing_jobs(slurm, failing_started):
    return {"state": slurm, **{name: (d, proc.wait(SMOKE_TIMEOUT_S)) for name, (d, proc) in failing_started.items()}}


@pytest.fixture(scope="module")
def smoke(slurm, failing_started, tmp_path_factory):
    """The smoke DAG through SLURM and, at the same time, locally up to the aggregate tables.

    Everything runs at once (the failing workflows too): the machine's cores stay busy while Snakemake
    waits for its next SLURM status check.
    """
    local_dir = copy_project(tmp_path_factory.mktemp("local") / "project")
    slurm_dir = copy_project(tmp_path_factory.mktemp("cluster") / "project")
    local = Snakemake(
        local_dir,
        *SMOKE,
        "--cores",
        "2",
        "results/smoke/aggregate/runs.csv",
    )
    cluster = Snakemake(slurm_dir, *SMOKE, *SLURM_PROFILES).wait(SMOKE_TIMEOUT_S)
    reference = local.wait(SMOKE_TIMEOUT_S - (time.time() - local.started))
    return {
        "slurm_dir": slurm_dir,
        "local_dir": local_dir,
        "cluster": cluster,
        "local": reference,
        "runs": smoke_runs(slurm_dir),
        "state": slurm,
    }


# --- the smoke DAG on SLURM ----------------------------------------------------------------------------


def test_smoke_dag_succeeds_on_slurm(smoke):
    cluster = smoke["cluster"]
    assert cluster.returncode == 0, f"SLURM run failed after {cluster.seconds:.0f} s:\n{cluster.output[-6000:]}"
    print(f"\nsmoke DAG on SLURM: {cluster.seconds:.0f} s; locally, at the same time: {smoke['local'].seconds:.0f} s")
    assert (smoke["slurm_dir"] / "results/smoke/report/report.html").stat().st_size > 0
    # profiles/default joins every run of the project, this one too: it sets nothing that caps the cluster
    # (no cores, jobs or resources; tests/workflow/test_profiles.py checks its entries).
    assert "workflow specific profile profiles/default" in cluster.output


def test_every_training_run_is_its_own_slurm_job(smoke):
    assert smoke["cluster"].returncode == 0
    found = submissions(smoke["cluster"].output)
    expected = {
        (
            study.rule_name(r.group, r.phase),
            (("depth", str(r.depth)), ("lr", lr_name(r.lr)), ("seed", str(r.seed)), ("variant", r.variant)),
        )
        for r in smoke["runs"]
    }
    assert expected and len(expected) == len(smoke["runs"])
    training = {key: ids for key, ids in found.items() if key[0] == "train_baseline" or key[0].startswith("fix_")}
    assert set(training) == expected
    assert all(len(ids) == 1 for ids in training.values()), training
    slurm_ids = [ids[0] for ids in training.values()]
    assert len(set(slurm_ids)) == len(slurm_ids)
    # SLURM's own record: each of these jobs ran and exited 0.
    exits = slurm_exits(smoke["state"])
    assert {job: exits.get(job) for job in slurm_ids} == {job: 0 for job in slurm_ids}
    # Nothing ran on the submitting machine but the download (a localrule: compute nodes often have no
    # internet), the copy of the last selection round's rate table (a `run:` rule, checked in Snakemake's own
    # process) and the target rule `all`, which has no command.
    local = {"all", "download_fashion_mnist", "learning_rates"}
    assert set(re.findall(r"^localrule (\S+):", smoke["cluster"].output, re.M)) <= local


def test_slurm_results_equal_a_local_run(smoke):
    assert smoke["cluster"].returncode == 0
    local = smoke["local"]
    assert local.returncode == 0, f"local run failed:\n{local.output[-6000:]}"
    runs = "results/smoke/runs"
    assert len(compare.run_dirs(smoke["slurm_dir"] / runs)) == len(smoke["runs"])
    assert compare.compare_trees(smoke["slurm_dir"] / runs, smoke["local_dir"] / runs) == {}


def test_nothing_to_do_after_the_slurm_run(smoke):
    assert smoke["cluster"].returncode == 0
    dry = run(smoke["slurm_dir"], *SMOKE, *SLURM_PROFILES, "-n", timeout=180)
    assert dry.returncode == 0, dry.output
    assert "Nothing to be done" in dry.output, dry.output


# --- failures on SLURM ---------------------------------------------------------------------------------


def test_a_failed_job_is_reported_and_retried(failing_jobs):
    workdir, result = failing_jobs["flaky"]
    assert result.returncode == 0, result.output
    assert (workdir / "flaky.done").read_text() == "ok\n"
    attempts = (workdir / "attempts.txt").read_text().split()
    submitted = [slurm_id for _, slurm_id in SUBMITTED.findall(result.output)]
    assert len(attempts) == 2 and attempts == submitted, (attempts, submitted)
    assert re.search(rf"SLURM-job '{attempts[0]}' failed, SLURM status is: 'FAILED'", result.output)
    assert "first attempt fails on purpose" in result.output  # show-failed-logs
    assert "Trying to restart job" in result.output
    assert slurm_exits(failing_jobs["state"])[attempts[1]] == 0


def test_a_job_that_always_fails_fails_the_run(failing_jobs):
    workdir, result = failing_jobs["broken"]
    assert result.returncode != 0, result.output
    assert not (workdir / "broken.done").exists()
    assert re.search(r"^Error in rule broken:", result.output, re.M), result.output
    assert "SLURM status is: 'FAILED'" in result.output
    assert "broken on purpose" in result.output  # show-failed-logs prints the rule's log
    attempts = (workdir / "attempts.txt").read_text().split()
    assert len(attempts) == 1 and slurm_exits(failing_jobs["state"])[attempts[0]] != 0
