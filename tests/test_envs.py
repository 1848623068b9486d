"""The conda environments (envs/*.yaml) pin the same versions as pyproject.toml, and every rule has one."""

import re
import tomllib

import yaml
from conftest import ROOT

CONDA_NAMES = {"torch": "pytorch"}  # pip name -> conda-forge name where they differ


def pip_pins():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        name, op, version = re.match(r"^([A-Za-z0-9_.-]+)\s*(==|>=)\s*(\S+)$", dep).groups()
        pins[CONDA_NAMES.get(name.lower(), name.lower())] = (op, version)
    return pins


def conda_pins(path):
    pins = {}
    for dep in yaml.safe_load(path.read_text())["dependencies"]:
        name, op, version = re.match(r"^([A-Za-z0-9_.-]+)\s*(=|>=)\s*(\S+)$", dep).groups()
        pins[name.lower()] = ("==" if op == "=" else op, version)
    return pins


def test_conda_envs_pin_what_pyproject_pins():
    pip = pip_pins()
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        for name, pin in conda_pins(env).items():
            if name == "python":
                assert pin == ("==", "3.11"), env
                continue
            assert name in pip, f"{env.name}: {name} is not in pyproject.toml"
            assert pin == pip[name], f"{env.name}: {name} {pin} but pyproject.toml has {pip[name]}"


def test_every_rule_names_an_existing_conda_env():
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    rule_count = len(re.findall(r"^\s*rule\s*\w*:", rules, flags=re.M))
    envs = re.findall(r'conda:\s*\n\s*"\.\./\.\./(envs/[\w.]+)"', rules)
    assert len(envs) == rule_count
    assert all((ROOT / env).is_file() for env in envs)
