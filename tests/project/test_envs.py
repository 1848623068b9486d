"""Environments: pyproject.toml names ranges, constraints.txt the exact versions tested within them; the conda
envs agree with both; every tested version has wheels for Python 3.11-3.13."""

import json
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PIP_NAMES = {
    "pytorch": "torch",
    "matplotlib-base": "matplotlib",
    "seaborn-base": "seaborn",
    "nbconvert-core": "nbconvert",
}
ENVS = sorted((ROOT / "envs").glob("*.yaml"))
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(extras=True) -> dict[str, Requirement]:
    """pyproject.toml's dependencies (and its extras' packages), by canonical name; the self-references of
    the test extra (vanishing-gradients[slurm,tensorboard]) left out."""
    deps = list(PROJECT["dependencies"])
    if extras:
        deps += [dep for group in PROJECT["optional-dependencies"].values() for dep in group]
    reqs = [Requirement(dep) for dep in deps]
    return {canonicalize_name(r.name): r for r in reqs if canonicalize_name(r.name) != "vanishing-gradients"}


def constraints() -> dict[str, str]:
    """constraints.txt: canonical name -> the exact version tested."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line).groups()
            pins[canonicalize_name(name)] = version
    return pins


def conda_specs(path):
    """name -> version spec, e.g. {'pytorch': '=2.14', 'python': '>=3.11,<3.14'}."""
    specs = {}
    for dep in yaml.safe_load(path.read_text())["dependencies"]:
        name, spec = re.match(r"^([A-Za-z0-9_.-]+)\s+(\S.*)$", dep).groups()
        specs[name] = spec.replace(" ", "")
    return specs


def test_dependencies_are_ranges_and_constraints_pin_each_within_its_range():
    reqs, pins = requirements(), constraints()
    assert set(reqs) == set(pins), set(reqs) ^ set(pins)
    for name, req in reqs.items():
        assert not any(spec.operator in ("==", "===") for spec in req.specifier), f"{req} pins one version"
        assert any(spec.operator == ">=" for spec in req.specifier), f"{req} has no lower bound"
        assert Version(pins[name]) in req.specifier, f"constraints.txt: {name}=={pins[name]} is outside {req}"
    assert "snakemake-executor-plugin-slurm" not in requirements(extras=False)  # an extra, not for laptops
    assert "tensorboard" not in requirements(extras=False)
    assert "vanishing-gradients[slurm,tensorboard]" in PROJECT["optional-dependencies"]["test"]


def test_make_setup_applies_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt -e '.[test]'" in makefile
    assert re.search(r"^\$\(VENV\)/\.installed: pyproject\.toml constraints\.txt$", makefile, re.M)


def test_conda_envs_ask_for_major_minor_and_their_pin_files_for_the_tested_versions():
    pins, reqs = constraints(), requirements()
    assert ENVS
    for env in ENVS:
        loose, exact = conda_specs(env), conda_specs(ROOT / "envs/pins" / env.name)
        assert set(loose) == set(exact), env.name
        assert loose.pop("python") == exact.pop("python") == ">=3.11,<3.14"
        for name, spec in loose.items():
            pip_name = PIP_NAMES.get(name, name)
            assert exact[name] == "==" + pins[pip_name], f"envs/pins/{env.name}: {name} {exact[name]}"
            major_minor = ".".join(pins[pip_name].split(".")[:2])
            assert spec == "=" + major_minor, f"{env.name}: {name} {spec}"  # conda's fuzzy `=`: that release
            assert Version(major_minor) in reqs[pip_name].specifier, f"{env.name}: {name} {spec}"


def test_conda_envs_use_the_lean_builds_and_the_report_env_has_no_torch():
    report = conda_specs(ROOT / "envs/report.yaml")
    assert {"matplotlib-base", "seaborn-base", "nbconvert-core"} <= set(report)
    assert not {"matplotlib", "seaborn", "nbconvert", "pytorch", "torchvision"} & set(report)
    assert "pytorch" in conda_specs(ROOT / "envs/train.yaml")


def test_every_rule_names_an_existing_conda_env():
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    blocks = re.split(r"^(?=[ \t]*(?:rule|checkpoint)[ \t]*\w*:)", rules, flags=re.M)[1:]
    # a `run:` rule runs inside Snakemake's own process, where no conda environment applies
    rule_count = len([b for b in blocks if not re.search(r"^\s+run:", b, flags=re.M)])
    envs = re.findall(r'conda:\s*\n\s*"\.\./\.\./(envs/[\w.]+)"', rules)
    assert len(envs) == rule_count
    assert all((ROOT / env).is_file() for env in envs)
    torch_free = re.findall(r"rule (aggregate|report):.*?conda:\s*\n\s*\"\.\./\.\./(envs/[\w.]+)\"", rules, re.S)
    assert {name for name, _ in torch_free} == {"aggregate", "report"}
    assert {env for _, env in torch_free} == {"envs/report.yaml"}


def pypi_reachable() -> bool:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("python", ["3.12", "3.13"])
def test_every_pin_has_a_wheel_for_python(python, tmp_path):
    """Without installing: pip resolves every tested version for that Python on Linux x86-64, wheels only.

    (This package index serves no separate metadata, so pip downloads each wheel to a temporary folder:
    about 600 MB per Python version, not cached.)"""
    if not pypi_reachable():
        pytest.skip("the package index (pypi.org) cannot be reached")
    pins = [f"{name}=={version}" for name, version in constraints().items()]
    platforms = [
        arg
        for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
        for arg in ("--platform", tag)
    ]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "--ignore-installed",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--python-version",
            python,
            *platforms,
            "--implementation",
            "cp",
            "--target",
            str(tmp_path / "target"),
            *pins,
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, f"a pin has no wheel for Python {python}:\n{result.stderr[-3000:]}"
    would_install = re.search(r"^Would install (.*)$", result.stdout, re.M).group(1).split()
    assert sorted(name.lower() for name in would_install) == sorted(pin.replace("==", "-").lower() for pin in pins), (
        would_install
    )


def _pip(python, *args, cwd=None):
    """pip (this venv's) acting on the environment of ``python``."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


@pytest.fixture
def env_with_older_seaborn(tmp_path):
    """A virtualenv that sees every package of this one (a .pth line) and holds its own, older seaborn
    (0.13.0: inside pyproject.toml's range, not the tested 0.13.2), as a user's environment would."""
    wheels = tmp_path / "wheels"
    got = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(wheels),
         "seaborn==0.13.0"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if got.returncode != 0:
        pytest.skip(f"seaborn 0.13.0 (a 0.3 MB wheel) could not be fetched from the package index:\n{got.stderr}")
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = env / "bin/python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    ours = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "project-venv.pth").write_text(ours + "\n")
    installed = _pip(python, "install", "--no-deps", "--no-index", *map(str, wheels.glob("*.whl")))
    assert installed.returncode == 0, installed.stderr
    return python


def _copy_package(dest: Path, pyproject: str) -> Path:
    for item in ("src", "README.md", "LICENSE"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy2)(ROOT / item, dest / item)
    (dest / "pyproject.toml").write_text(pyproject)
    return dest


def _would_install(python, package: Path, tmp_path) -> subprocess.CompletedProcess:
    """pip's resolver, offline: what `pip install <package>` would install into the environment of ``python``."""
    report = tmp_path / f"{package.name}.json"
    result = _pip(python, "install", "--dry-run", "--no-index", "--no-build-isolation", "--report", str(report),
                  "--quiet", str(package))  # fmt: skip
    result.installs = (
        sorted(item["metadata"]["name"] for item in json.loads(report.read_text())["install"])
        if result.returncode == 0
        else None
    )
    return result


def test_installing_the_package_keeps_the_versions_an_environment_has(env_with_older_seaborn, tmp_path):
    """`pip install .` into an environment with seaborn 0.13.0 (and torch 2.14.1, ...) installs only the
    package itself. With the exact pins of version 0.1.0 (seaborn==0.13.2) it would have to replace it."""
    python = env_with_older_seaborn
    version = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('seaborn'))"], capture_output=True, text=True
    )
    assert version.stdout.strip() == "0.13.0", version.stderr
    pyproject = (ROOT / "pyproject.toml").read_text()
    ranges = _would_install(python, _copy_package(tmp_path / "ranges", pyproject), tmp_path)
    assert ranges.returncode == 0, ranges.stderr
    assert ranges.installs == ["vanishing-gradients"], ranges.installs
    pinned = pyproject.replace('"seaborn>=0.13,<0.14"', '"seaborn==0.13.2"')
    assert pinned != pyproject
    old = _would_install(python, _copy_package(tmp_path / "pinned", pinned), tmp_path)
    # Offline, pip cannot fetch seaborn 0.13.2 to replace 0.13.0: it refuses (online it would replace it).
    assert old.returncode != 0 and "No matching distribution found for seaborn==0.13.2" in old.stderr, old.stderr
