"""The workflow profile is where Snakemake finds it by itself, and a plain `snakemake` in the project uses it."""

import yaml
from conftest import ROOT
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
