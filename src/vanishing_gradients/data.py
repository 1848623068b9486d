"""Fashion-MNIST: fetch the four original files from a mirror list, verify them, parse IDX, cache a split.

Checksums are SHA-256 of the *decompressed* payload: Debian's ``dataset-fashion-mnist`` re-compressed the
gzip wrappers, so the ``.gz`` bytes differ between mirrors while the IDX content does not.
"""

from __future__ import annotations

import contextlib
import filecmp
import gzip
import hashlib
import math
import os
import re
import shutil
import signal
import socket
import stat
import struct
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np

if TYPE_CHECKING:
    import torch

from .procs import pid_alive
from .storage import atomic_path

# name -> (SHA-256 of the decompressed IDX bytes, expected shape)
FILES = {
    "train-images-idx3-ubyte.gz": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", (60000, 28, 28)),
    "train-labels-idx1-ubyte.gz": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", (60000,)),
    "t10k-images-idx3-ubyte.gz": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", (10000, 28, 28)),
    "t10k-labels-idx1-ubyte.gz": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", (10000,)),
}
NUM_CLASSES = 10
OFFLINE_HINT = (
    "To get the data without internet on Debian/Ubuntu: `apt-get install dataset-fashion-mnist` "
    "(files land in /usr/share/datasets/fashion-mnist), or copy the four .gz files into a folder and put "
    "that folder first in `data.mirrors` in config.yaml."
)


class DataError(RuntimeError):
    """The data is missing, corrupt or not what we expect; the message says which file and what to do."""


# --------------------------------------------------------------------------------------------- fetch
def payload_sha256(gz_path: Path, max_bytes: int | None = None) -> str:
    """SHA-256 of the decompressed bytes; raises DataError if the gzip stream is truncated or corrupt, or
    decompresses to more than ``max_bytes`` (a gzip bomb is not read to its end)."""
    digest, size = hashlib.sha256(), 0
    try:
        with gzip.open(gz_path, "rb") as f:
            while chunk := f.read(1 << 20):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise DataError(f"{gz_path}: decompresses to more than {max_bytes} bytes, the size it should have")
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{gz_path}: not a valid gzip file ({err})") from err
    return digest.hexdigest()


def idx_size(shape: tuple[int, ...]) -> int:
    """Bytes of an IDX file of unsigned bytes with this shape: the header and the values."""
    return 4 + 4 * len(shape) + math.prod(shape)


def verify_file(path: Path, name: str, files: dict = FILES) -> None:
    expected, shape = files[name]
    _check_sha256(path, payload_sha256(path, idx_size(shape)), expected)


def _check_sha256(path: Path, actual: str, expected: str) -> None:
    if actual != expected:
        raise DataError(f"{path}: SHA-256 of the decompressed data is {actual}, expected {expected}")


@dataclass(frozen=True)
class Limits:
    """How long and how much one download may take before the next mirror is tried.

    ``connect_s`` bounds the connection and every wait for the next bytes (a server that accepts and never
    answers); ``file_s`` bounds a whole file (checked between reads, so a file may take up to ``connect_s``
    longer); ``max_bytes`` bounds its size (the largest file is 26 MB). Name resolution (DNS) is not bounded.
    """

    connect_s: float = 30.0
    file_s: float = 600.0
    max_bytes: int = 256 << 20


LIMITS = Limits()


_KINDS = [
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISREG, "a file"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
]


def _kind(path: Path) -> str:
    mode = path.stat().st_mode
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def _local_source(folder: Path, name: str, limits: Limits) -> Path:
    """The file ``name`` in a mirror folder: a regular file of a bounded size (never a device or a pipe)."""
    if not folder.exists():
        raise DataError(f"{folder} does not exist")
    if not folder.is_dir():
        raise DataError(
            f"{folder} is {_kind(folder)}, not a folder: a mirror is a folder holding the four .gz files or an "
            "http(s):// base URL"
        )
    source = folder / name
    if not source.exists():
        raise DataError(f"the folder {folder} has no {name}")
    if not source.is_file():
        raise DataError(f"{source} is {_kind(source)}, not a regular file")
    if source.stat().st_size > limits.max_bytes:
        raise DataError(f"{source} has {source.stat().st_size} bytes, more than any Fashion-MNIST file")
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
                    raise DataError(f"more than {limits.max_bytes} bytes, more than any Fashion-MNIST file")
                if time.monotonic() - started > limits.file_s:
                    raise DataError(
                        f"not complete after {limits.file_s:g} s ({size} bytes), the time limit per file "
                        "(data.LIMITS.file_s)"
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
                f"no answer within {limits.connect_s:g} s, the time limit per connection (data.LIMITS.connect_s)"
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


def fetch_fashion_mnist(
    mirrors: list[str], out_dir: str | Path, files: dict = FILES, log=None, limits: Limits = LIMITS
) -> dict[str, str]:
    """Fetch and verify the four files into ``out_dir``; return which mirror served each one.

    Every file is tried mirror by mirror until one passes the checksum; each mirror that fails is logged with
    the reason (a download is bounded by ``limits``). A file already in ``out_dir`` that verifies is kept;
    nothing unverified ever replaces a file in ``out_dir``. Every verified file is also copied into
    ``out_dir/.verified`` (a copy of its own: writing the file in place leaves it intact), which is tried
    before the mirrors: Snakemake deletes a rule's outputs before it reruns the rule, and a rerun whose
    mirrors all fail (offline, a typo) must not lose data that was already verified. Temporary folders
    (``.fetch-*``) are removed however this ends (an error, Ctrl-C, SIGTERM); those of a killed earlier
    download are removed at the start.
    """
    if not mirrors:
        raise DataError("data.mirrors in the config is empty: list at least one folder or URL. " + OFFLINE_HINT)
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
            served[name] = _fetch_verified(name, target, [str(kept), *map(str, mirrors)], files, log, limits)
    return served


def _fetch_verified(name: str, target: Path, sources: list[str], files: dict, log, limits: Limits) -> str:
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
    raise DataError(f"could not get {name} from any mirror. Tried:\n" + "\n".join(tried) + "\n" + OFFLINE_HINT)


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


# ----------------------------------------------------------------------------------------------- IDX
_IDX_UBYTE = 0x08


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse an IDX file of unsigned bytes (the MNIST format) with clear errors for every malformation."""
    if len(raw) < 4:
        raise DataError(f"{source}: {len(raw)} bytes is too short for an IDX header")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != _IDX_UBYTE or ndim not in (1, 3):
        raise DataError(
            f"{source}: bad IDX magic {raw[:4].hex()} (expected 00000801 for labels or 00000803 for images)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape)) + header
    if len(raw) != expected:
        raise DataError(f"{source}: IDX header says shape {shape} ({expected} bytes) but the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_gz(path: Path, expected_shape: tuple[int, ...] | None = None, sha256: str | None = None) -> np.ndarray:
    """The IDX array in a .gz file; with ``sha256``, only if its decompressed bytes have that checksum."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: not a valid gzip file ({err})") from err
    if sha256 is not None:
        _check_sha256(path, hashlib.sha256(raw).hexdigest(), sha256)
    array = parse_idx(raw, str(path))
    if expected_shape is not None and array.shape != tuple(expected_shape):
        raise DataError(f"{path}: shape {array.shape}, expected {tuple(expected_shape)}")
    return array


def check_labels(labels: np.ndarray, source: str) -> None:
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{source}: label {int(labels.max())} outside 0..{NUM_CLASSES - 1}")


# -------------------------------------------------------------------------------------------- cache
@dataclass
class Split:
    """Images as uint8 (N, 784) and labels as int64 (N,); converted to float on the training device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def prepare_dataset(
    raw_dir: str | Path,
    out_path: str | Path,
    validation_size: int,
    split_seed: int,
    subset: dict | None = None,
    files: dict = FILES,
) -> dict:
    """Check each raw file's content checksum, parse the IDX files, split train/validation with a fixed seed,
    optionally subset, save one .pt file.

    The files were verified when they were downloaded, but anything may have written them since: a changed
    file is refused with the command that fetches it again (from the verified copy or the mirrors).
    """
    import torch  # imported here so that the Snakefile can read FILES without paying for torch

    raw_dir = Path(raw_dir)
    arrays = {}
    for name, (sha256, shape) in files.items():
        try:
            arr = read_idx_gz(raw_dir / name, shape, sha256)
        except DataError as err:
            raise DataError(f"{err}. {refetch_hint(raw_dir / name)}") from None
        if arr.ndim == 1:
            check_labels(arr, str(raw_dir / name))
        arrays[name] = torch.from_numpy(arr.copy())
    train_x = arrays["train-images-idx3-ubyte.gz"].reshape(-1, 28 * 28)
    train_y = arrays["train-labels-idx1-ubyte.gz"].long()
    test_x = arrays["t10k-images-idx3-ubyte.gz"].reshape(-1, 28 * 28)
    test_y = arrays["t10k-labels-idx1-ubyte.gz"].long()
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise DataError(f"{raw_dir}: image and label counts differ")
    if not 0 < validation_size < len(train_x):
        raise DataError(f"validation_size {validation_size} must be between 1 and {len(train_x) - 1}")
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(split_seed))
    val_idx, train_idx = order[:validation_size], order[validation_size:]
    splits = {
        "train": (train_x[train_idx], train_y[train_idx]),
        "validation": (train_x[val_idx], train_y[val_idx]),
        "test": (test_x, test_y),
    }
    if subset:
        splits = {k: (x[: subset.get(k, len(x))], y[: subset.get(k, len(y))]) for k, (x, y) in splits.items()}
    payload = {k: {"images": x.contiguous(), "labels": y.contiguous()} for k, (x, y) in splits.items()}
    with atomic_path(out_path) as tmp:
        torch.save({"splits": payload, "sha256": splits_sha256(payload)}, tmp)
    return {k: len(v["labels"]) for k, v in payload.items()}


def splits_sha256(splits: dict) -> str:
    """SHA-256 of every split's images and labels (their bytes, shapes and types), in a fixed order."""
    digest = hashlib.sha256()
    for name in sorted(splits):
        for field in ("images", "labels"):
            tensor = splits[name][field]
            digest.update(f"{name}.{field}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def rebuild_command(path: str | Path) -> str:
    return f"snakemake --cores 1 --force {path}"


def refetch_hint(raw_path: str | Path) -> str:
    return (
        f"It changed after it was downloaded and verified: fetch it again with `{rebuild_command(raw_path)}` "
        f"(from the copy kept in {Path(raw_path).parent / '.verified'} or the mirrors), then run the study again"
    )


def load_dataset(path: str | Path) -> dict[str, Split]:
    """The cached splits, after checking their checksum; a DataError names the file and how to rebuild it."""
    import torch

    remedy = f"Rebuild it with `{rebuild_command(path)}`, then run the study again."
    try:
        cache = torch.load(path, weights_only=True)
        splits, expected = cache["splits"], cache["sha256"]
    except FileNotFoundError:
        raise DataError(f"{path} does not exist. {remedy}") from None
    except Exception as err:
        raise DataError(f"{path} is not a readable dataset cache ({type(err).__name__}: {err}). {remedy}") from None
    if splits_sha256(splits) != expected:
        raise DataError(f"{path}: its content does not match the checksum it was written with. {remedy}")
    return {k: Split(v["images"], v["labels"]) for k, v in splits.items()}
