"""The README is a way in: short, its links into docs/ lead somewhere, and its everyday commands work as written.

The commands are the lines of the one ```sh block under the README's heading "Everyday commands". Each `snakemake`
line runs as a dry run (`-n` added, nothing else changed) on a fresh copy of the project. Each `make` line runs as
`make -n` (a dry run of make: its targets set up, download and train); the cheap ones, which only read, also run as
written. A `python -m` line runs with this virtualenv's Python.
"""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from workflow_helpers import copy_project, snakemake

README = ROOT / "README.md"
MAX_LINES = 220
CHEAP_MAKE_TARGETS = {"status"}  # they read the progress files and start nothing
DRY_RUN = {"-n", "--dry-run", "--dryrun"}


def everyday_commands() -> list[list[str]]:
    """The words of each command of the README's "Everyday commands" block, comments left out."""
    text = README.read_text()
    if "\n## Everyday commands\n" not in text:
        return []
    section = text.split("\n## Everyday commands\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```sh\n(.*?)^```", section, flags=re.M | re.S)
    if not block:
        return []
    commands = (shlex.split(line, comments=True) for line in block.group(1).splitlines())
    return [words for words in commands if words]


COMMANDS = everyday_commands()
SNAKEMAKE_LINES = [words for words in COMMANDS if words[0] == "snakemake"]
MAKE_LINES = [words for words in COMMANDS if words[0] == "make"]
PYTHON_LINES = [words for words in COMMANDS if words[:2] == ["python", "-m"]]


def _failed(words: list[str], how: str, out: subprocess.CompletedProcess) -> str:
    return f"{shlex.join(words)} ({how}) exited {out.returncode}:\n{out.stdout}\n{out.stderr}"


def test_the_readme_is_a_way_in_of_at_most_220_lines():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines; the reference belongs in docs/"


def test_the_everyday_commands_are_one_block_of_commands_this_test_can_run():
    assert SNAKEMAKE_LINES and MAKE_LINES, "no ```sh block of commands under the README's 'Everyday commands'"
    unknown = [shlex.join(w) for w in COMMANDS if w not in SNAKEMAKE_LINES + MAKE_LINES + PYTHON_LINES]
    assert not unknown, f"commands this test does not know how to check: {unknown}"


@pytest.mark.e2e
@pytest.mark.parametrize("words", SNAKEMAKE_LINES, ids=" ".join)
def test_a_snakemake_command_of_the_readme_plans_as_written(words, tmp_path):
    args = words[1:] if DRY_RUN & set(words) else ["-n", *words[1:]]
    out = snakemake(copy_project(tmp_path), *args, check=False, timeout=600)
    assert out.returncode == 0, _failed(words, "with -n", out)
    assert "Traceback" not in out.stdout + out.stderr, _failed(words, "with -n", out)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
@pytest.mark.parametrize("words", MAKE_LINES, ids=" ".join)
def test_a_make_command_of_the_readme_is_a_target_of_the_makefile(words):
    out = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, _failed(words, "make -n", out)
    if set(words[1:]) <= CHEAP_MAKE_TARGETS:
        # As written, with the virtualenv this suite runs in (the Makefile's VENV is .venv unless given).
        out = subprocess.run([*words, f"VENV={sys.prefix}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, _failed(words, "as written", out)
        assert "Traceback" not in out.stdout + out.stderr, _failed(words, "as written", out)


@pytest.mark.parametrize("words", PYTHON_LINES, ids=" ".join)
def test_a_python_command_of_the_readme_runs_as_written(words, tmp_path):
    project = copy_project(tmp_path)
    out = subprocess.run([sys.executable, *words[1:]], cwd=project, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, _failed(words, "as written", out)
    assert "Traceback" not in out.stdout + out.stderr, _failed(words, "as written", out)


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings (outside code blocks): lower case, punctuation dropped."""
    anchors, fenced = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#{1,6} (.*)", line)):
            anchors.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def _broken_links(page: Path) -> list[str]:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target} (no such heading)")
    return broken


def test_every_docs_link_of_the_readme_exists():
    links = re.findall(r"\]\(((?:docs|config)/[^)\s]*)\)", README.read_text())
    assert len(links) >= 10, "the README links each page of docs/"
    assert not _broken_links(README)
    linked = {link.partition("#")[0] for link in links}
    unlinked = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if f"docs/{p.name}" not in linked]
    assert not unlinked, f"pages of docs/ the README does not link: {unlinked}"


PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "config/README.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_link_of_a_docs_page_exists(page):
    assert not _broken_links(page), page
