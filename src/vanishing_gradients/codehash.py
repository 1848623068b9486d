"""Content hashes of the code a rule runs: its script, and every module of this package that the script imports,
directly or through other modules (torch-free; nothing is imported: the imports are read from the source).

A rule passes its hash as a ``params:`` value, which Snakemake compares by content: a job reruns when its code
changes and never when a file is only touched (the profiles leave out Snakemake's ``code`` trigger, which
compares a rule script's time). The files follow the imports, so the list maintains itself: a module that
training starts to import is part of the training hash from then on, and a module it does not import (the
report's, the download's) is not.

What counts as an import: ``import vanishing_gradients.x``, ``from vanishing_gradients import x`` and
``from .x import y``, at any place in a module (also inside a function: job.run imports the trainer there),
each with the packages above it (their ``__init__`` runs first). Imports inside a package's module-level
``__getattr__`` (PEP 562: the package's lazy attributes, ``vanishing_gradients.load_run``) count only for code
that takes such an attribute: ``from <package> import <name that is no module>`` or a plain ``import <package>``.
A notebook (``.ipynb``) contributes its code cells; any other file (a template) only its bytes.

A dataset's record (``register(Dataset(name=..., ...))`` at a module's top level, ``datasets.py``) is data: given
the study's dataset, ``code_hash`` leaves out the records of every other dataset (with the comment and blank lines
that set each apart), so that registering another dataset changes no study's hashes. The study's own record stays
in: a change to it (its files, their roles) prepares its data again.
"""

from __future__ import annotations

import ast
import hashlib
import json
from functools import lru_cache
from pathlib import Path

PACKAGE = __name__.rpartition(".")[0]
PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parents[1]  # the project: src/<package>/ lies two levels below it
LAZY = "__getattr__"

# An import as (module, names): names is None for `import module`, else the names taken `from module`.
Ref = tuple[str, tuple[str, ...] | None]


def module_file(name: str) -> Path | None:
    """The file of one of this package's modules (``vanishing_gradients.report.model``), or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    candidates = [base / "__init__.py"] + ([base.with_name(f"{base.name}.py")] if len(parts) > 1 else [])
    return next((path for path in candidates if path.is_file()), None)


def module_name(path: Path) -> str | None:
    """The dotted name of a file of this package, or None for a file outside it (a rule script)."""
    try:
        parts = list(path.resolve().relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    except ValueError:
        return None
    if parts[0] != PACKAGE:
        return None
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _source(path: Path) -> str:
    """Python source of a module or script; the code cells of a notebook, without IPython's magics."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    cells = [c["source"] for c in json.loads(text)["cells"] if c.get("cell_type") == "code"]
    lines = "\n".join("".join(c) if isinstance(c, list) else c for c in cells).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def _absolute(node: ast.ImportFrom, here: str | None, is_package: bool) -> str | None:
    """The module a ``from ... import`` names, relative imports resolved against the importing module."""
    if not node.level:
        return node.module
    if here is None:
        return None
    base = here.split(".") if is_package else here.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _refs(node: ast.AST, here: str | None, is_package: bool) -> list[Ref]:
    out: list[Ref] = []
    for item in ast.walk(node):
        if isinstance(item, ast.Import):
            out += [(alias.name, None) for alias in item.names]
        elif isinstance(item, ast.ImportFrom):
            module = _absolute(item, here, is_package)
            if module:
                out.append((module, tuple(alias.name for alias in item.names)))
    return [ref for ref in out if ref[0].split(".")[0] == PACKAGE]


def imports(path: Path) -> tuple[tuple[Ref, ...], tuple[Ref, ...]]:
    """The package imports of a file: (those that run when it runs, those of its module-level ``__getattr__``)."""
    if path.suffix not in (".py", ".ipynb"):
        return (), ()
    return _parse(_source(path), str(path), module_name(path), path.name == "__init__.py")


@lru_cache(maxsize=256)
def _parse(source: str, filename: str, here: str | None, is_package: bool):
    tree = ast.parse(source, filename=filename)
    lazy = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == LAZY]
    eager = [n for n in tree.body if n not in lazy]
    return (
        tuple(ref for n in eager for ref in _refs(n, here, is_package)),
        tuple(ref for n in lazy for ref in _refs(n, here, is_package)),
    )


def closure(*paths: str | Path) -> list[Path]:
    """The given files and every package module they import, directly or not, sorted."""
    seen: set[Path] = set()
    lazy_done: set[str] = set()
    todo: list[tuple[Path | None, str | None]] = [(Path(p).resolve(), None) for p in paths]
    while todo:
        path, lazy_of = todo.pop()
        if lazy_of is not None:  # a lazy attribute of this package module may be taken: its imports run
            if lazy_of in lazy_done or (init := module_file(lazy_of)) is None:
                continue
            lazy_done.add(lazy_of)
            refs = imports(init)[1]
        elif path is None or path in seen:
            continue
        else:
            seen.add(path)
            refs = imports(path)[0]
        for module, names in refs:
            parts = module.split(".")
            todo += [(module_file(".".join(parts[:i])), None) for i in range(1, len(parts) + 1)]
            if names is None:
                todo.append((None, module))
            for name in names or ():
                submodule = module_file(f"{module}.{name}")
                todo.append((submodule, None) if submodule else (None, module))
    return sorted(seen)


def _label(path: Path) -> str:
    """A file's name in the hash: its path in the project, so that every clone hashes alike."""
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.name


def _registered(node: ast.stmt) -> str | None:
    """The dataset name a top-level ``[NAME =] register(Dataset(name="...", ...))`` registers, else None."""
    call = node.value if isinstance(node, ast.Expr | ast.Assign | ast.AnnAssign) else None
    if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "register" and call.args):
        return None
    record = call.args[0]
    names = [k.value for k in getattr(record, "keywords", []) if k.arg == "name" and isinstance(k.value, ast.Constant)]
    return names[0].value if names and isinstance(names[0].value, str) else None


def without_other_datasets(source: str, dataset: str) -> str:
    """``source`` without the top-level registrations of datasets other than ``dataset``, each with the comment
    lines above it and the blank lines before those: the text it had before they were added."""
    if "register(" not in source:
        return source
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in ast.parse(source).body:
        name = _registered(node)
        if name is None or name == dataset:
            continue
        start = node.lineno - 1
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        while start > 0 and not lines[start - 1].strip():
            start -= 1
        drop.update(range(start, node.end_lineno))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def code_hash(*paths: str | Path, dataset: str | None = None) -> str:
    """SHA-256 (16 hex digits) of the names and bytes of ``closure(*paths)``: the same for the same code, whatever
    the files' times. ``dataset``: the study's, whose record alone counts (``without_other_datasets``)."""
    digest = hashlib.sha256()
    for path in closure(*paths):
        content = path.read_bytes()
        if dataset is not None and path.suffix == ".py":
            content = without_other_datasets(content.decode("utf-8"), dataset).encode("utf-8")
        digest.update(f"{_label(path)}\0{len(content)}\0".encode() + content)
    return digest.hexdigest()[:16]
