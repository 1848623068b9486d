"""The workflow profile is where Snakemake finds it by itself, and a plain `snakemake` in the project uses it."""

import re

import pytest
import yaml
from conftest import DEFAULT_FIXES, ROOT
from workflow_helpers import copy_project, snakemake

DEFAULT = ROOT / "profiles/default/profile.yaml"
SLURM = ROOT / "profiles/slurm/profile.yaml"
# Laid over every --profile by Snakemake, so it must not set what differs between executors.
EXECUTOR_SPECIFIC = {"cores", "jobs", "executor", "keep-going", "default-resources", "set-resources", "latency-wait"}
USED = "Using workflow specific profile profiles/default for setting default command line arguments."


def test_profiles_are_where_snakemake_looks_and_named_as_snakemake_9_reads_them():
    assert DEFAULT.is_file() and SLURM.is_file()
    assert not list(ROOT.glob("profiles/*/config.yaml")) and not (ROOT / "workflow/profiles").exists()
    assert (ROOT / "tests/cluster/profile/profile.yaml").is_file()


def test_default_profile_sets_only_what_agrees_with_every_executor():
    default, slurm = yaml.safe_load(DEFAULT.read_text()), yaml.safe_load(SLURM.read_text())
    assert default["rerun-incomplete"] is True and default["show-failed-logs"] is True
    assert not set(default) & EXECUTOR_SPECIFIC, set(default) & EXECUTOR_SPECIFIC
    for key, value in default.items():
        if key in slurm:
            assert slurm[key] == value, key


def test_plain_snakemake_in_the_project_uses_the_workflow_profile(tmp_path):
    """A dry run names the profile; a failing job then shows its log, which only the profile asks for."""
    project = copy_project(tmp_path / "project")
    assert USED in snakemake(project, "-n").stderr
    # A download with no usable mirror fails at once; show-failed-logs (the profile's) prints its log.
    (project / "offline.yaml").write_text("study: offline\ndata:\n  mirrors: [/nowhere]\n")
    target = (
        "--configfile",
        "offline.yaml",
        "--cores",
        "1",
        "results/downloads/fashion_mnist/t10k-labels-idx1-ubyte.gz",
    )
    shown = snakemake(project, *target, check=False)
    assert shown.returncode != 0 and USED in shown.stderr
    assert "Logfile logs/downloads/fashion_mnist.log:" in shown.stdout + shown.stderr
    hidden = snakemake(project, *target, "--workflow-profile", "none", check=False)
    assert hidden.returncode != 0 and USED not in hidden.stderr
    assert "Logfile logs/downloads/fashion_mnist.log:" not in hidden.stdout + hidden.stderr


def test_the_project_is_run_from_another_folder_with_its_profile(tmp_path):
    """`snakemake -s <project>/Snakefile -d <elsewhere>` finds the profile beside the Snakefile."""
    project, workdir = copy_project(tmp_path / "project"), tmp_path / "workdir"
    workdir.mkdir()
    out = snakemake(workdir, "-s", str(project / "Snakefile"), "-d", str(workdir), "-n")
    assert f"Using workflow specific profile {project}/profiles/default" in out.stderr


def test_every_rule_says_what_its_job_does_in_one_message_line():
    """One short line a job on the terminal (issue 26): a `message:` in every rule, checkpoint and `all`."""
    for path in (ROOT / "Snakefile", *ROOT.glob("workflow/rules/*.smk")):
        blocks = re.split(r"^\s*(?:rule|checkpoint)\b[^\n]*:\n", path.read_text(), flags=re.M)[1:]
        assert all("    message:\n" in block.split("\n\n\n")[0] for block in blocks), path


def test_a_dry_run_gives_each_jobs_details_when_asked(tmp_path):
    """One line a job by default (no reason: the selection's names hundreds of files); `--quiet progress` (replacing
    the profile's `quiet: [reason]`) adds each job's reason; VG_JOB_DETAILS=1 gives Snakemake's own job details."""
    project = copy_project(tmp_path)
    short = snakemake(project, "-n").stdout
    why = snakemake(project, "-n", "--quiet", "progress").stdout
    long = snakemake(project, "-n", details=True).stdout
    assert "Screening baseline sigmoid" in short and "output: " not in short and "Reason: " not in short
    assert re.search(r"^Job \d+: Screening baseline sigmoid.*\nReason: Missing output files: ", why, flags=re.M)
    assert "output: results/default/screen/" in long and "wildcards: " in long


@pytest.mark.e2e
def test_a_study_on_the_terminal_is_one_line_a_job_with_each_result_and_no_stray_lines(tmp_path):
    """No `Shell command: None` (no profile's printshellcmds), ipykernel's TCP warning in the report's log only;
    each training job's result and each selection round's summary on the terminal."""
    project = copy_project(tmp_path / "project")
    fixes = ", ".join(f"{fix}: null" for fix in DEFAULT_FIXES)
    (project / "tiny.yaml").write_text(
        "study: tiny\ndata: {subset: {train: 500, validation: 200, test: 200}}\nseeds: [42]\n"
        "baseline: {depths: [2]}\nselection: {learning_rates: {sgd: [0.1, 0.01]}, check: [], seeds: [0], epochs: 1,"
        " score_epochs: 1, extend: {times: 0}}\ntraining: {epochs: 1, width: 16}\n"
        "init_flow: {depths: [2], seeds: [0], batches: 1}\ncomparison: {reference: null}\n"
        f"fixes: {{{fixes}}}\n"
    )
    result = snakemake(project, "--cores", "2", "--configfile", "tiny.yaml")
    terminal = result.stdout + result.stderr
    assert "Shell command" not in terminal and "Kernel is running over TCP" not in terminal
    assert "Reason: " not in terminal
    assert "Job 0: Study 'tiny' done: its report is results/tiny/report/report.html" in terminal
    assert re.search(r"^Round 0: a rate for each of 1 configurations", terminal, flags=re.M), terminal
    trained = re.findall(r"^(screen|runs)/fashion_mnist/baseline/sigmoid/.*: test acc [0-9.]+, grad ratio", terminal,
                         flags=re.M)  # fmt: skip
    assert sorted(trained) == ["runs", "screen", "screen"], terminal
    assert "Kernel is running over TCP" in (project / "logs/tiny/report/report.log").read_text()
