"""Content hashes of a rule's code: which files each rule's hash covers (found from the imports), and that only
their content counts, never their time."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from vanishing_gradients import codehash

SCRIPTS = ROOT / "scripts"
NOTEBOOK = ROOT / "reports/report.ipynb"


def covered(*paths) -> set[str]:
    """The files of the project a hash covers, by their path in it."""
    return {p.relative_to(ROOT).as_posix() for p in codehash.closure(*paths) if p.is_relative_to(ROOT)}


def lib(*names) -> set[str]:
    return {f"src/vanishing_gradients/{name}.py" for name in names}


def test_training_covers_the_trainer_and_what_it_imports_lazily_but_no_report_or_download_code():
    files = covered(SCRIPTS / "train.py")
    # job.run imports checkpoints, data, training, outputs and tboard inside the function.
    assert lib("job", "training", "models", "gradstats", "checkpoints", "data", "outputs", "tboard", "specs") <= files
    assert "scripts/train.py" in files and "src/vanishing_gradients/__init__.py" in files
    assert not any("/report/" in f for f in files)
    assert not lib("fetch", "study", "api", "aggregate", "selection") & files


def test_each_rule_covers_its_own_code():
    assert covered(SCRIPTS / "prepare.py") == {"scripts/prepare.py"} | lib(
        "__init__", "data", "datasets", "logs", "storage"
    )
    # selection checks each summary against the run identity of its path (layout, and what layout imports)
    assert covered(SCRIPTS / "select.py") == {"scripts/select.py"} | lib(
        "__init__", "selection", "logs", "storage", "layout", "datasets", "registry", "safe_read"
    )
    assert lib("aggregate") <= covered(SCRIPTS / "aggregate.py")
    report = covered(SCRIPTS / "render_report.py", NOTEBOOK)
    package = ROOT / "src/vanishing_gradients/report"
    assert {
        p.relative_to(ROOT).as_posix() for p in package.rglob("*.py")
    } <= report and "reports/report.ipynb" in report
    assert not lib("training", "models", "fetch") & report


def test_the_packages_lazy_attributes_count_only_where_they_are_taken(tmp_path):
    """``vanishing_gradients.__init__`` imports ``api`` (and with it the trainer) only in its ``__getattr__``."""
    assert "src/vanishing_gradients/api.py" not in covered(SCRIPTS / "prepare.py")
    script = tmp_path / "uses_the_api.py"
    script.write_text("from vanishing_gradients import load_run\n")
    assert lib("api", "models") <= covered(script)
    script.write_text("import vanishing_gradients as vg\n")
    assert lib("api") <= covered(script)


def test_relative_imports_resolve_in_modules_and_packages():
    assert codehash.module_name(ROOT / "src/vanishing_gradients/report/__init__.py") == "vanishing_gradients.report"
    model = ROOT / "src/vanishing_gradients/report/model.py"
    # `from ..storage import read_table`, `from . import stats`, `from ..selection import run_score`
    assert lib("storage", "report/stats", "selection") <= covered(model)
    # `from .evidence import ...`, `from .model import ...`, `from .stats import ...`: and what they import
    assert lib("report/evidence", "report/model", "report/stats", "storage") <= covered(model.with_name("fair.py"))


@pytest.fixture
def project(tmp_path):
    """A copy of the library and the scripts, to hash and edit."""
    shutil.copytree(ROOT / "src/vanishing_gradients", tmp_path / "src/vanishing_gradients")
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    shutil.copytree(ROOT / "reports", tmp_path / "reports")
    return tmp_path


def hashes(project) -> dict[str, str]:
    """Every rule's hash, computed by that copy's own codehash in a fresh interpreter."""
    code = (
        "import json; from pathlib import Path; from vanishing_gradients import codehash as c; s = Path('scripts');"
        "print(json.dumps({n: c.code_hash(s / f'{n}.py', *(['reports/report.ipynb'] if n == 'render_report' else []))"
        " for n in ('train', 'prepare', 'init_flow', 'select', 'aggregate', 'render_report')}))"
    )
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    out = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_a_touch_changes_no_hash_and_an_edit_changes_exactly_the_hashes_of_the_rules_that_run_it(project):
    before = hashes(project)
    assert len(set(before.values())) == len(before)
    for path in [*project.rglob("*.py"), project / "reports/report.ipynb"]:
        os.utime(path, (1, 1))  # 1970
    assert hashes(project) == before
    with open(project / "src/vanishing_gradients/models.py", "a") as f:
        f.write("\n# an edit\n")
    after = hashes(project)
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {"train", "init_flow"}
    with open(project / "src/vanishing_gradients/report/formats.py", "a") as f:
        f.write("\n# an edit\n")
    assert {name for name in before if hashes(project)[name] != after[name]} == {"render_report"}


ANOTHER = """

# A second dataset, as docs/architecture.md ("a new dataset") shows it.
MNIST = register(
    Dataset(
        name="mnist",
        title="MNIST",
        files={"a.gz": RawFile("00", (1, 28, 28)), "b.gz": RawFile("11", (1,))},
        train=("a.gz", "b.gz"),
        test=("a.gz", "b.gz"),
        class_names=tuple("0123456789"),
        mirrors=(),
    )
)
"""


@pytest.mark.parametrize("where", ["end", "after the default's record", "before the default's record"])
def test_registering_another_dataset_leaves_the_hash_of_a_study_of_another_dataset_as_it_was(where):
    """Issue 28, item 12: a second `register(...)` in datasets.py replanned every study (66 min for the default)."""
    source = (ROOT / "src/vanishing_gradients/datasets.py").read_text()
    anchor = {"end": None, "after the default's record": "DEFAULT = ", "before the default's record": "\n\nFASHION"}
    if anchor[where] is None:
        edited = source + ANOTHER.lstrip("\n").join(["\n\n", ""])
    else:
        at = source.index(anchor[where])
        edited = source[:at] + ANOTHER.rstrip("\n") + "\n" + source[at:]
    compile(edited, "datasets.py", "exec")  # still a module
    assert codehash.without_other_datasets(edited, "fashion_mnist") == source
    assert codehash.without_other_datasets(edited, "mnist") != source  # a study of mnist: fashion_mnist's left out
    changed = edited.replace('title="Fashion-MNIST"', 'title="Fashion MNIST"')
    assert codehash.without_other_datasets(changed, "fashion_mnist") != source  # the study's own record counts


def test_the_hash_given_the_dataset_is_the_hash_of_the_files_while_one_dataset_is_registered():
    """Passing the study's dataset changes no hash of this version: no study reruns for it."""
    for script in ("train", "prepare", "render_report"):
        path = SCRIPTS / f"{script}.py"
        assert codehash.code_hash(path, dataset="fashion_mnist") == codehash.code_hash(path)


def test_no_hash_covers_an_installed_package():
    """Issue 28, item 14: another torch, pandas or Python in the environment reruns nothing (docs/reruns.md):
    every hash covers files of this project only, and no rule's param holds a package's version."""
    for script in SCRIPTS.glob("*.py"):
        assert all(p.is_relative_to(ROOT) for p in codehash.closure(script, NOTEBOOK)), script
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    assert "__version__" not in rules and "version(" not in rules
