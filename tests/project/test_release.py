"""What a release carries: a valid CITATION.cff, a changelog entry and one version everywhere; the catalog file."""

import json
import re
import subprocess
import sys
import tomllib
import zipfile

import jsonschema
import pytest
import yaml
from conftest import ROOT

import vanishing_gradients

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
CFF_SCHEMA_WHEEL = "cffconvert==2.0.0"  # ships the Citation File Format's own schema, cffconvert/schemas/1.2.0/


def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


@pytest.fixture(scope="module")
def cff_schema(tmp_path_factory):
    """The CFF 1.2.0 JSON schema, from the cffconvert wheel (183 kB; not installed: it pins an old jsonschema)."""
    folder = tmp_path_factory.mktemp("cffconvert")
    got = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(folder),
         CFF_SCHEMA_WHEEL],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if got.returncode != 0:
        pytest.skip(f"{CFF_SCHEMA_WHEEL} could not be fetched from the package index:\n{got.stderr[-2000:]}")
    with zipfile.ZipFile(next(folder.glob("*.whl"))) as wheel:
        return json.loads(wheel.read("cffconvert/schemas/1.2.0/schema.json"))


def test_citation_is_valid_cff_1_2_0(cff_schema):
    assert cff_schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    validator = jsonschema.Draft7Validator(cff_schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(citation()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_citation_has_the_required_keys_and_the_release_version():
    cff = citation()
    assert {"cff-version", "message", "title", "authors"} <= set(cff)  # CFF 1.2.0's required keys
    assert cff["cff-version"] == "1.2.0" and cff["authors"]
    assert str(cff["version"]) == VERSION and cff["license"] == "MIT"


def test_one_version_in_pyproject_the_package_and_the_changelog():
    assert vanishing_gradients.__version__ == VERSION
    releases = re.findall(r"^## (\d+\.\d+\.\d+)\b", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)
    assert releases[0] == VERSION, releases  # the newest entry first
    assert releases == sorted(releases, key=lambda v: tuple(map(int, v.split("."))), reverse=True)
    assert VERSION != "0.1.0"


def test_workflow_catalog_file_says_how_the_workflow_is_used():
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())
    usage = catalog["usage"]
    assert {"desc", "flags"} <= set(usage["mandatory-flags"])
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda", "report"}
    assert deployment["conda"] is True and deployment["report"] is True
    assert (ROOT / "reports/workflow.rst").is_file()  # the --report description that `report: true` promises
    assert 'report: "reports/workflow.rst"' in (ROOT / "Snakefile").read_text()


def test_the_example_report_is_a_rendered_study_report_that_fetches_nothing():
    """docs/example-report.html (linked from the README): the default study's rendered report, kept small, whose
    page loads nothing from the network (no script, stylesheet or image by URL)."""
    page = ROOT / "docs/example-report.html"
    text = page.read_text()
    assert page.stat().st_size < 6_000_000
    assert 'id="summary"' in text and 'id="appendix"' in text and "Study <strong>default</strong>" in text
    assert not re.search(r'<(script|img|iframe)[^>]+src="(https?:)?//', text)
    assert not re.search(r'<link[^>]+href="(https?:)?//', text)
    assert "docs/example-report.html" in (ROOT / "README.md").read_text()
