"""Rule logs: everything a rule script prints, and its traceback if it fails, goes to the rule's log file."""

from __future__ import annotations

import contextlib
import time
import traceback
from pathlib import Path


@contextlib.contextmanager
def rule_log(path):
    """Redirect stdout/stderr to ``path`` and yield a ``log(message)`` that timestamps and flushes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):

        def log(message: str) -> None:
            print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)

        try:
            yield log
        except BaseException:
            traceback.print_exc(file=handle)
            handle.flush()
            raise
