"""Imported first by every rule script: puts this project's ``src/`` first on ``sys.path``, so that the scripts
use the library of this clone, also when the project is not pip-installed or is a module of another workflow.

The scripts find this file because Snakemake's preamble adds a local script's folder to ``sys.path``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
