"""Fetch a dataset's files (``datasets.Dataset.files``) from a list of mirrors, each download within time
limits, and keep a verified copy aside (torch-free). Not an input of the training rules: editing it (its
limits, say) retrains nothing, since every file is checked by content (``data.verify_file``) whichever way it
came.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from . import safe_read
from .data import DataError, verify_file
from .procs import pid_alive
from .storage import atomic_path


@dataclass(frozen=True)
class Limits:
    """How long and how much one download may take before the next mirror is tried.

    ``connect_s`` bounds the connection and every wait for the next bytes (a server that accepts and never
    answers); ``file_s`` bounds a whole file (checked between reads, so a file may take up to ``connect_s``
    longer); ``max_bytes`` bounds its size (Fashion-MNIST's largest file is 26 MB). Name resolution (DNS) is not
    bounded.
    """

    connect_s: float = 30.0
    file_s: float = 600.0
    max_bytes: int = 256 << 20


LIMITS = Limits()


def _kind(path: Path) -> str:
    return safe_read.kind(path.stat().st_mode)


def _local_source(folder: Path, name: str, limits: Limits) -> Path:
    """The file ``name`` in a mirror folder: a regular file of a bounded size (never a device or a pipe)."""
    if not folder.exists():
        raise DataError(f"{folder} does not exist")
    if not folder.is_dir():
        raise DataError(
            f"{folder} is {_kind(folder)}, not a folder: a mirror is a folder holding the dataset's files or an "
            "http(s):// base URL"
        )
    source = folder / name
    if not source.exists():
        raise DataError(f"the folder {folder} has no {name}")
    if not source.is_file():
        raise DataError(f"{source} is {_kind(source)}, not a regular file")
    if source.stat().st_size > limits.max_bytes:
        raise DataError(
            f"{source} has {source.stat().st_size} bytes, more than the limit per file (fetch.LIMITS.max_bytes)"
        )
    return source


def _download(url: str, dest: Path, limits: Limits) -> None:
    """Download ``url`` into ``dest`` within ``limits``; a DataError says which limit or error stopped it."""
    import http.client
    import urllib.error
    import urllib.request

    started = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": "vanishing-gradients"})
    try:
        with urllib.request.urlopen(request, timeout=limits.connect_s) as response, open(dest, "wb") as out:
            size = 0
            while chunk := response.read1(1 << 16):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise DataError(f"more than {limits.max_bytes} bytes, the limit per file (fetch.LIMITS.max_bytes)")
                if time.monotonic() - started > limits.file_s:
                    raise DataError(
                        f"not complete after {limits.file_s:g} s ({size} bytes), the time limit per file "
                        "(fetch.LIMITS.file_s)"
                    )
                out.write(chunk)
            if response.length:
                raise DataError(f"the server closed the connection after {size} bytes, {response.length} short")
    except urllib.error.HTTPError as err:
        raise DataError(f"HTTP {err.code} {err.reason}") from None
    except (TimeoutError, urllib.error.URLError) as err:
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        if isinstance(reason, TimeoutError):
            raise DataError(
                f"no answer within {limits.connect_s:g} s, the time limit per connection (fetch.LIMITS.connect_s)"
            ) from None
        raise DataError(f"cannot connect ({reason})") from None
    except (OSError, http.client.HTTPException) as err:
        raise DataError(f"download failed ({type(err).__name__}: {err})") from None


def _fetch_one(mirror: str, name: str, dest: Path, limits: Limits = LIMITS) -> None:
    """Copy or download ``name`` from one mirror into ``dest`` (a temporary path)."""
    parsed = urlparse(mirror)
    if parsed.scheme in ("", "file"):
        shutil.copyfile(_local_source(Path(parsed.path if parsed.scheme == "file" else mirror), name, limits), dest)
    elif parsed.scheme in ("http", "https"):
        _download(mirror.rstrip("/") + "/" + name, dest, limits)
    else:
        raise DataError(f"unsupported mirror scheme {parsed.scheme!r} in {mirror!r}; use a folder, file://, http(s)://")


def fetch_files(
    mirrors: list[str],
    out_dir: str | Path,
    files: Mapping[str, tuple],
    log=None,
    limits: Limits = LIMITS,
    hint: str = "",
) -> dict[str, str]:
    """Fetch and verify ``files`` (name -> ``datasets.RawFile``) into ``out_dir``; return which mirror served
    each one. ``hint``, said when no mirror serves a file: how to get them otherwise (``Dataset.offline_hint``).

    Every file is tried mirror by mirror until one passes the checksum; each mirror that fails is logged with
    the reason (a download is bounded by ``limits``). A file already in ``out_dir`` that verifies is kept as it
    is (not written again: its time stays); nothing unverified ever replaces a file in ``out_dir``. Every
    verified file is also copied into ``out_dir/.verified`` (a copy of its own: writing the file in place
    leaves it intact), which is tried before the mirrors: a file deleted (by hand, or by Snakemake before a
    rerun of a rule whose outputs are not marked ``update``) comes back from there, and a rerun whose mirrors
    all fail (offline, a typo) must not lose data that was already verified. Temporary folders
    (``.fetch-*``) are removed however this ends (an error, Ctrl-C, SIGTERM); those of a killed earlier
    download are removed at the start.
    """
    if not mirrors:
        raise DataError("data.mirrors in the config is empty: list at least one folder or URL. " + hint)
    out_dir = Path(out_dir)
    kept = out_dir / ".verified"
    kept.mkdir(parents=True, exist_ok=True)
    _remove_stale_fetches(out_dir)
    served = {}
    with _sigterm_as_exception():
        for name in files:
            target = out_dir / name
            if target.is_file():
                try:
                    verify_file(target, name, files)
                    served[name] = str(target)
                    _keep(target, kept / name)
                    continue
                except DataError:
                    pass  # replaced below, but only by a verified copy
            sources = [str(kept), *map(str, mirrors)]
            served[name] = _fetch_verified(name, target, sources, files, log, limits, hint)
    return served


def _fetch_verified(name: str, target: Path, sources: list[str], files: Mapping, log, limits: Limits, hint: str) -> str:
    """Fetch ``name`` from the first source (the kept copy, then the mirrors) whose copy verifies."""
    kept, tried = Path(sources[0]), []
    for mirror in sources:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f"{FETCH_PREFIX}{os.getpid()}@{_host()}.") as tmp:
            candidate = Path(tmp) / name
            try:
                _fetch_one(mirror, name, candidate, limits)
                verify_file(candidate, name, files)
            except (DataError, OSError) as err:
                if mirror != str(kept):
                    tried.append(f"  {mirror}: {err}")
                elif (kept / name).exists():
                    tried.append(f"  {kept / name} (the verified copy kept from an earlier download): {err}")
                else:
                    continue
                if log:
                    log(
                        f"{name}: {tried[-1].strip()}; "
                        + ("trying the next mirror" if mirror != sources[-1] else "no mirror left")
                    )
                continue
            with atomic_path(target) as tmp_target:
                shutil.move(candidate, tmp_target)
            _keep(target, kept / name)
            return mirror
    raise DataError(f"could not get {name} from any mirror. Tried:\n" + "\n".join(tried) + "\n" + hint)


FETCH_PREFIX = ".fetch-"


def _host() -> str:
    return socket.gethostname().replace("/", "_")


def _remove_stale_fetches(out_dir: Path) -> None:
    """Remove the temporary folders of downloads on this machine whose process is gone (killed with SIGKILL)."""
    for folder in out_dir.glob(FETCH_PREFIX + "*"):
        owner = re.match(rf"^{re.escape(FETCH_PREFIX)}(\d+)@(.+)\.[^.]+$", folder.name)
        if owner and owner[2] == _host() and not pid_alive(int(owner[1])):
            shutil.rmtree(folder, ignore_errors=True)


class Terminated(BaseException):
    """SIGTERM arrived: raised so that every ``with`` block on the way out cleans up."""


@contextlib.contextmanager
def _sigterm_as_exception():
    """Turn SIGTERM into an exception while the block runs (main thread only; elsewhere a no-op), so that a
    download stopped by Snakemake or `kill` removes its temporary files; exit status 143 as for SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except Terminated:
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _keep(path: Path, kept: Path) -> None:
    """An independent copy of a verified file (not a hard link: a write into one would change the other)."""
    if kept.is_file() and not os.path.samefile(kept, path) and filecmp.cmp(kept, path, shallow=False):
        return
    with atomic_path(kept) as tmp:
        shutil.copyfile(path, tmp)
