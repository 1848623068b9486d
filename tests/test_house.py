"""House rules that keep a change cheap: torch-free aggregation and report, short functions."""

import ast
import subprocess
import sys

import pytest
from conftest import ROOT

TORCH_FREE = ["layout", "study", "specs", "measures", "aggregate", "compare", "status", "report", "procs", "fetch"]
MAX_FUNCTION_LINES = 60


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_imports_with_torch_blocked(module):
    """The aggregate and report rules run in an environment without torch (envs/report.yaml)."""
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
        f"sys.path.insert(0, {str(ROOT / 'src')!r})\n"
        f"import vanishing_gradients.{module}\n"
        "assert 'torch' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n"
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
