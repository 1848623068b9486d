"""Environments: conda envs agree with pyproject.toml's pins, and every pin has wheels for Python 3.11-3.13."""

import re
import subprocess
import sys
import tomllib
import urllib.request

import pytest
import yaml
from conftest import ROOT

PIP_NAMES = {
    "pytorch": "torch",
    "matplotlib-base": "matplotlib",
    "seaborn-base": "seaborn",
    "nbconvert-core": "nbconvert",
}
ENVS = sorted((ROOT / "envs").glob("*.yaml"))


def pip_pins():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(re.match(r"^([A-Za-z0-9_.-]+)\s*((?:==|>=)\S+)$", dep).groups() for dep in deps)


def conda_specs(path):
    """name -> version spec, e.g. {'pytorch': '=2.14', 'pyyaml': '>=6'}."""
    specs = {}
    for dep in yaml.safe_load(path.read_text())["dependencies"]:
        name, spec = re.match(r"^([A-Za-z0-9_.-]+)\s+(\S.*)$", dep).groups()
        specs[name] = spec.replace(" ", "")
    return specs


def test_conda_envs_ask_for_major_minor_and_their_pin_files_for_pyprojects_exact_pins():
    pins = pip_pins()
    assert ENVS
    for env in ENVS:
        loose, exact = conda_specs(env), conda_specs(ROOT / "envs/pins" / env.name)
        assert set(loose) == set(exact), env.name
        assert loose.pop("python") == exact.pop("python") == ">=3.11,<3.14"
        for name, spec in loose.items():
            pin = pins[PIP_NAMES.get(name, name)]
            assert exact[name] == pin, f"envs/pins/{env.name}: {name} {exact[name]} but pyproject.toml has {pin}"
            if pin.startswith("=="):  # major.minor of the exact pin, in conda's fuzzy `=` form
                assert spec == "=" + ".".join(pin[2:].split(".")[:2]), f"{env.name}: {name} {spec}"
            else:
                assert spec == pin, f"{env.name}: {name} {spec}"


def test_conda_envs_use_the_lean_builds_and_the_report_env_has_no_torch():
    report = conda_specs(ROOT / "envs/report.yaml")
    assert {"matplotlib-base", "seaborn-base", "nbconvert-core"} <= set(report)
    assert not {"matplotlib", "seaborn", "nbconvert", "pytorch", "torchvision"} & set(report)
    assert "pytorch" in conda_specs(ROOT / "envs/train.yaml")


def test_every_rule_names_an_existing_conda_env():
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    rule_count = len(re.findall(r"^\s*(?:rule|checkpoint)\s*\w*:", rules, flags=re.M))
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
    """Without installing: pip resolves every pinned package for that Python on Linux x86-64, wheels only.

    (This package index serves no separate metadata, so pip downloads each wheel to a temporary folder:
    about 600 MB per Python version, not cached.)"""
    if not pypi_reachable():
        pytest.skip("the package index (pypi.org) cannot be reached")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = [f"{name}{pin}" for name, pin in pip_pins().items() if pin.startswith("==")]
    pins += sorted({dep for deps in extras.values() for dep in deps})
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
