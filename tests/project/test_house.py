"""House rules that keep a change cheap: torch-free aggregation and report, short functions, short modules."""

import ast
import subprocess
import sys

import pytest
from conftest import ROOT

PACKAGE = ROOT / "src/vanishing_gradients"
# The modules that train or hold tensors; every other module of the package, found on disk, must import without torch
# (the aggregate and report rules run in envs/report.yaml, and status, compare and the API stay cheap): a new
# module is checked without being listed here.
NEEDS_TORCH = {"callbacks", "checkpoints", "data", "gradstats", "initflow", "job", "machine", "models", "outputs"}
NEEDS_TORCH |= {"layer_rates", "spectra", "tboard", "training"}
MODULES = sorted(
    ".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__") for p in PACKAGE.rglob("*.py")
)
TORCH_FREE = [module for module in MODULES if module not in NEEDS_TORCH]  # "__init__": the package itself
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_imports_with_torch_blocked(module):
    """The aggregate and report rules run in an environment without torch (envs/report.yaml).

    torch is blocked by an import hook, as if it were not installed: a ``sys.modules['torch'] = None`` entry would
    not do, since scipy looks a loaded torch up in sys.modules and fails on None."""
    code = (
        "import importlib.abc, sys\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'torchvision'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (blocked)')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        f"sys.path.insert(0, {str(ROOT / 'src')!r})\n"
        f"import vanishing_gradients{'' if module == '__init__' else '.' + module}\n"
        "assert not {m.split('.')[0] for m in sys.modules} & {'torch', 'torchvision'}\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_no_function_in_the_library_is_longer_than_60_lines():
    long = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_no_module_in_the_library_is_longer_than_400_lines():
    """A module that grows past this wants splitting by layer, as the report package is."""
    long = [
        f"{path.relative_to(ROOT)} ({lines} lines)"
        for path in sorted((ROOT / "src").rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, long


def test_only_the_notebook_module_of_the_report_imports_ipython_or_papermill():
    imports = {}
    for path in sorted((ROOT / "src/vanishing_gradients/report").rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        imports[path.name] = names & {"IPython", "papermill", "nbconvert", "nbformat"}
    assert {name for name, found in imports.items() if found} == {"notebook.py"}


def import_graph() -> dict:
    """Each module of the package -> the package modules it imports, deferred imports (inside functions)
    included; ``from package import name`` counts as the submodule where ``name`` is one."""
    from vanishing_gradients import codehash

    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        eager, _lazy = codehash.imports(path)  # the lazy __getattr__ of the package's __init__ imports on demand
        targets = set()
        for module, names in eager:
            subs = {codehash.module_file(f"{module}.{n}") for n in names or ()} - {None}
            targets |= subs or {codehash.module_file(module)}
        graph[path] = targets - {None, path}
    return graph


def test_no_import_circle_in_the_package_deferred_imports_included():
    """A circle hidden by an import inside a function still ties two layers together: each module may import
    only modules that do not import it back, however indirectly."""
    graph, state, circles = import_graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for target in graph.get(node, ()):
            if state.get(target) == "open":
                circles.append(" -> ".join(p.name for p in [*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert not circles, circles


def test_a_report_section_is_one_module_one_outline_entry_and_its_notebook_cells():
    """What docs/architecture.md says a new section touches, and nothing more: its module in report/sections/, its
    entry in outline.SECTIONS and its cells in the notebook (which open with its numbered heading)."""
    from vanishing_gradients.report import outline

    modules = {p.stem for p in (PACKAGE / "report/sections").glob("*.py") if p.stem != "__init__"}
    assert {anchor.replace("-", "_") for anchor in outline.SECTIONS} == modules
    notebook = (ROOT / "reports/report.ipynb").read_text()
    for anchor in outline.SECTIONS:
        assert notebook.count(f'section(\\"{anchor}\\"') == 1, anchor
    headings = [notebook.index(f'section(\\"{anchor}\\"') for anchor in outline.SECTIONS]
    assert headings == sorted(headings)  # the notebook's order is the outline's
    said = (ROOT / "docs/architecture.md").read_text()
    assert "- **a new section**: one module in `report/sections/`" in said and "three files" in said
