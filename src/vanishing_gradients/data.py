"""A dataset's raw files verified, parsed (IDX) and cached as one split (``fetch`` downloads them).

What the files are (names, checksums of their decompressed content, shapes, classes) is the dataset's record,
``datasets.Dataset``; this module checks files against it and never names a dataset itself.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from .datasets import Dataset, RawFile

from .storage import atomic_path


class DataError(RuntimeError):
    """The data is missing, corrupt or not what we expect; the message says which file and what to do."""


# -------------------------------------------------------------------------------------------- verify
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


def verify_file(path: Path, name: str, files: Mapping[str, RawFile]) -> None:
    expected, shape = files[name]
    _check_sha256(path, payload_sha256(path, idx_size(shape)), expected)


def _check_sha256(path: Path, actual: str, expected: str) -> None:
    if actual != expected:
        raise DataError(f"{path}: SHA-256 of the decompressed data is {actual}, expected {expected}")


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


def check_labels(labels: np.ndarray, source: str, num_classes: int) -> None:
    if labels.size and labels.max() >= num_classes:
        raise DataError(f"{source}: label {int(labels.max())} outside 0..{num_classes - 1}")


# -------------------------------------------------------------------------------------------- cache
@dataclass
class Split:
    """Images as uint8 (N, pixels) and labels as int64 (N,); converted to float on the training device."""

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
    *,
    dataset: Dataset,
    log=None,
) -> dict:
    """Check each raw file of ``dataset`` in ``raw_dir`` against its content checksum, parse the IDX files, split
    train/validation with a fixed seed, optionally subset, save one .pt file.

    The files were verified when they were downloaded, but anything may have written them since: a changed
    file is refused with the command that fetches it again (from the verified copy or the mirrors). A cache
    already at ``out_path`` that holds exactly these splits is left as it is (not written again).
    """
    import torch  # imported here so that the Snakefile can import this module without paying for torch

    raw_dir = Path(raw_dir)
    arrays = {}
    for name, (sha256, shape) in dataset.files.items():
        try:
            arr = read_idx_gz(raw_dir / name, shape, sha256)
        except DataError as err:
            raise DataError(f"{err}. {refetch_hint(raw_dir / name)}") from None
        if arr.ndim == 1:
            check_labels(arr, str(raw_dir / name), dataset.num_classes)
        arrays[name] = torch.from_numpy(arr.copy())
    (train_x, train_y), (test_x, test_y) = (
        (arrays[images].reshape(-1, dataset.in_features), arrays[labels].long())
        for images, labels in (dataset.train, dataset.test)
    )
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
    checksum = splits_sha256(payload)
    if _holds(out_path, checksum):
        if log:
            log(f"{out_path} already holds these splits: left as it is")
    else:  # saved through a file object: torch names the archive inside after a path, here a random temporary one
        with atomic_path(out_path) as tmp, open(tmp, "wb") as f:
            torch.save({"splits": payload, "sha256": checksum}, f)
    return {k: len(v["labels"]) for k, v in payload.items()}


def _holds(path: str | Path, checksum: str) -> bool:
    """Whether the cache at ``path`` is readable and holds exactly the splits of this checksum."""
    import torch

    try:
        cache = torch.load(path, weights_only=True)
        return cache["sha256"] == checksum and splits_sha256(cache["splits"]) == checksum
    except Exception:  # missing, truncated, not a cache: written anew
        return False


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
