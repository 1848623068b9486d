"""Fetching, verifying and parsing Fashion-MNIST: good files pass, every kind of bad file is named."""

import gzip
import hashlib
import os
import shutil

import numpy as np
import pytest
import torch
from conftest import DEBIAN_DATA, idx_bytes, synthetic_dataset, write_gz

from vanishing_gradients import data
from vanishing_gradients.data import DataError, parse_idx, prepare_dataset
from vanishing_gradients.datasets import FASHION_MNIST
from vanishing_gradients.fetch import fetch_files


def test_parse_idx_images_and_labels():
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    labels = np.array([3, 7, 1])
    assert np.array_equal(parse_idx(idx_bytes(images)), images)
    assert np.array_equal(parse_idx(idx_bytes(labels)), labels)


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x00\x00", "too short"),
        (b"\x00\x00\x0d\x03" + b"\x00" * 12, "bad IDX magic"),  # float type code
        (b"\x12\x34\x08\x01" + b"\x00" * 4, "bad IDX magic"),
        (b"\x00\x00\x08\x02" + b"\x00" * 8, "bad IDX magic"),  # 2-d: neither labels nor images
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (idx_bytes(np.zeros((2, 2, 2)))[:-1], "but the file has"),
        (idx_bytes(np.zeros(3)) + b"\x00", "but the file has"),
    ],
)
def test_parse_idx_rejects_malformed(raw, message):
    with pytest.raises(DataError, match=message):
        parse_idx(raw, "x.idx")


def test_read_idx_gz_checks_shape_and_gzip(tmp_path):
    path = write_gz(tmp_path / "a.gz", idx_bytes(np.zeros((4, 28, 28))))
    assert data.read_idx_gz(path, (4, 28, 28)).shape == (4, 28, 28)
    with pytest.raises(DataError, match=r"shape \(4, 28, 28\), expected \(5, 28, 28\)"):
        data.read_idx_gz(path, (5, 28, 28))
    truncated = tmp_path / "t.gz"
    truncated.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="not a valid gzip file"):
        data.read_idx_gz(truncated)


def test_labels_out_of_range_are_refused(synthetic_mirror, tmp_path):
    mirror, files, arrays = synthetic_mirror
    bad = arrays["train-labels-idx1-ubyte.gz"].copy()
    bad[3] = 12
    write_gz(mirror / "train-labels-idx1-ubyte.gz", idx_bytes(bad))
    files = {**files, "train-labels-idx1-ubyte.gz": (hashlib.sha256(idx_bytes(bad)).hexdigest(), bad.shape)}
    with pytest.raises(DataError, match=r"label 12 outside 0\.\.9"):
        prepare_dataset(mirror, tmp_path / "d.pt", validation_size=10, split_seed=1, dataset=synthetic_dataset(files))


def test_fetch_from_folder_and_file_url(synthetic_mirror, tmp_path):
    mirror, files, _ = synthetic_mirror
    served = fetch_files([str(mirror)], tmp_path / "a", files)
    assert set(served) == set(files) and all(v == str(mirror) for v in served.values())
    served = fetch_files([mirror.as_uri()], tmp_path / "b", files)
    for name in files:
        assert (tmp_path / "b" / name).read_bytes() == (mirror / name).read_bytes()


def test_checksum_failure_tries_next_mirror_and_lists_everything(synthetic_mirror, tmp_path):
    mirror, files, _ = synthetic_mirror
    corrupt = tmp_path / "corrupt"
    shutil.copytree(mirror, corrupt)
    write_gz(corrupt / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(50)))  # valid gzip, wrong content
    out = tmp_path / "out"
    served = fetch_files([str(corrupt), str(mirror)], out, files)
    assert served["train-labels-idx1-ubyte.gz"] == str(mirror)
    assert served["t10k-labels-idx1-ubyte.gz"] == str(corrupt)

    with pytest.raises(DataError) as err:
        mirrors = [str(corrupt), str(tmp_path / "missing"), "ftp://nowhere/"]
        fetch_files(mirrors, tmp_path / "o2", files, hint=FASHION_MNIST.offline_hint)
    text = str(err.value)
    assert "SHA-256 of the decompressed data is" in text
    assert "does not exist" in text and "unsupported mirror scheme 'ftp'" in text
    assert "apt-get install dataset-fashion-mnist" in text
    leftovers = [p for p in (tmp_path / "o2").rglob(".*") if p.name != ".verified"]
    assert not leftovers, "temporary files left behind"


def test_empty_mirror_list_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"data\.mirrors in the config is empty"):
        fetch_files([], tmp_path, FASHION_MNIST.files)


def test_good_file_is_never_replaced_by_a_bad_one(synthetic_mirror, tmp_path):
    mirror, files, _ = synthetic_mirror
    out = tmp_path / "out"
    fetch_files([str(mirror)], out, files)
    good = {n: (out / n).read_bytes() for n in files}
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in files:
        (bad / name).write_bytes(b"garbage")
    fetch_files([str(bad)], out, files)  # existing verified files are kept, bad mirror never used
    assert {n: (out / n).read_bytes() for n in files} == good
    (out / "t10k-images-idx3-ubyte.gz").write_bytes(b"half a fi")  # a corrupt local copy is replaced...
    fetch_files([str(bad)], out, files)  # ...by the verified copy kept aside
    assert {n: (out / n).read_bytes() for n in files} == good
    (out / "t10k-images-idx3-ubyte.gz").write_bytes(b"half a fi")
    (out / ".verified" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError):
        fetch_files([str(bad)], out, files)  # ...but never by a bad one
    assert (out / "t10k-images-idx3-ubyte.gz").read_bytes() == b"half a fi"


def test_verified_files_survive_a_rerun_whose_mirrors_all_fail(synthetic_mirror, tmp_path):
    """Files deleted before a rerun (by hand, or by a Snakemake that deletes a rule's outputs first): the verified
    copies kept aside come back."""
    mirror, files, _ = synthetic_mirror
    out = tmp_path / "out"
    fetch_files([str(mirror)], out, files)
    good = {n: (out / n).read_bytes() for n in files}
    for name in files:
        (out / name).unlink()  # what Snakemake does before the rerun
    served = fetch_files([str(tmp_path / "offline")], out, files)
    assert {n: (out / n).read_bytes() for n in files} == good
    assert set(served.values()) == {str(out / ".verified")}


def test_prepare_splits_with_fixed_seed(synthetic_mirror, tmp_path):
    mirror, files, arrays = synthetic_mirror
    dataset = synthetic_dataset(files)
    sizes = prepare_dataset(mirror, tmp_path / "d.pt", validation_size=10, split_seed=3, dataset=dataset)
    assert sizes == {"train": 40, "validation": 10, "test": 20}
    loaded = data.load_dataset(tmp_path / "d.pt")
    assert loaded["train"].images.dtype == torch.uint8 and loaded["train"].images.shape == (40, 784)
    all_train = torch.cat([loaded["train"].images, loaded["validation"].images])
    original = torch.from_numpy(arrays["train-images-idx3-ubyte.gz"].reshape(50, 784).astype(np.uint8))
    assert sorted(map(tuple, all_train.tolist())) == sorted(map(tuple, original.tolist()))
    prepare_dataset(mirror, tmp_path / "e.pt", validation_size=10, split_seed=3, dataset=dataset)
    again = data.load_dataset(tmp_path / "e.pt")
    assert torch.equal(again["validation"].labels, loaded["validation"].labels)
    subset = prepare_dataset(mirror, tmp_path / "s.pt", 10, 3, subset={"train": 5, "test": 4}, dataset=dataset)
    assert subset == {"train": 5, "validation": 10, "test": 4}


def written(path) -> tuple[int, int]:
    """A file's inode and modification time: either changes when the file is written again."""
    return path.stat().st_ino, path.stat().st_mtime_ns


def test_files_with_the_content_they_should_have_are_left_in_place(synthetic_mirror, tmp_path):
    """A download or a preparation that runs again over files already right does not write them again, so their
    time stays too (with the workflow's `update` outputs, Snakemake does not delete them first)."""
    mirror, files, _ = synthetic_mirror
    out, cache = tmp_path / "out", tmp_path / "d.pt"
    fetch_files([str(mirror)], out, files)
    prepare_dataset(out, cache, validation_size=10, split_seed=3, dataset=synthetic_dataset(files))
    raw = {name: written(out / name) for name in files}
    kept, before = {name: written(out / ".verified" / name) for name in files}, written(cache)
    fetch_files([str(mirror)], out, files)
    messages = []
    prepare_dataset(out, cache, validation_size=10, split_seed=3, dataset=synthetic_dataset(files), log=messages.append)
    assert {name: written(out / name) for name in files} == raw
    assert {name: written(out / ".verified" / name) for name in files} == kept
    assert written(cache) == before and messages == [f"{cache} already holds these splits: left as it is"]
    content = cache.read_bytes()
    prepare_dataset(
        out, cache, validation_size=11, split_seed=3, dataset=synthetic_dataset(files)
    )  # other splits: written anew
    assert written(cache) != before and len(data.load_dataset(cache)["validation"]) == 11
    prepare_dataset(out, tmp_path / "again.pt", validation_size=10, split_seed=3, dataset=synthetic_dataset(files))
    assert (tmp_path / "again.pt").read_bytes() == content  # the same splits, byte for byte, wherever written


@pytest.mark.skipif(not DEBIAN_DATA.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist_verifies_and_splits_54000_6000(tmp_path):
    fetch_files([DEBIAN_DATA.as_uri()], tmp_path / "raw", FASHION_MNIST.files)
    sizes = prepare_dataset(tmp_path / "raw", tmp_path / "fm.pt", 6000, 42, dataset=FASHION_MNIST)
    assert sizes == {"train": 54000, "validation": 6000, "test": 10000}
    loaded = data.load_dataset(tmp_path / "fm.pt")
    assert loaded["test"].labels.bincount().tolist() == [1000] * 10
    with gzip.open(tmp_path / "raw" / "t10k-labels-idx1-ubyte.gz") as f:
        assert f.read(4) == b"\x00\x00\x08\x01"


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_a_damaged_dataset_cache_names_the_file_and_the_command_that_rebuilds_it(synthetic_mirror, tmp_path, damage):
    mirror, files, _ = synthetic_mirror
    cache = tmp_path / "d.pt"
    prepare_dataset(mirror, cache, validation_size=10, split_seed=3, dataset=synthetic_dataset(files))
    raw = cache.read_bytes()
    if damage == "truncate":
        cache.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":  # same size, readable, one image byte changed
        loaded = torch.load(cache, weights_only=True)
        loaded["splits"]["train"]["images"][0, 0] ^= 1
        torch.save(loaded, cache)
    else:
        cache.unlink()
    with pytest.raises(DataError) as err:
        data.load_dataset(cache)
    assert str(cache) in str(err.value) and f"snakemake --cores 1 --force {cache}" in str(err.value)


def _permuted_labels(arrays, path):
    """A valid gzip of the training labels in another order, written in place (same inode) over ``path``."""
    labels = arrays["train-labels-idx1-ubyte.gz"]
    with gzip.open(path, "wb") as f:  # opens the existing file for writing: a hard link would change too
        f.write(idx_bytes(np.roll(labels, 1)))


def test_prepare_refuses_a_raw_file_changed_after_download(synthetic_mirror, tmp_path):
    mirror, files, arrays = synthetic_mirror
    out = tmp_path / "raw"
    fetch_files([str(mirror)], out, files)
    name = "train-labels-idx1-ubyte.gz"
    _permuted_labels(arrays, out / name)
    with pytest.raises(DataError) as err:
        prepare_dataset(out, tmp_path / "d.pt", validation_size=10, split_seed=1, dataset=synthetic_dataset(files))
    text = str(err.value)
    assert str(out / name) in text and "SHA-256 of the decompressed data is" in text
    assert f"snakemake --cores 1 --force {out / name}" in text
    assert not (tmp_path / "d.pt").exists()


def test_the_kept_copy_is_independent_of_the_raw_file_and_restores_it(synthetic_mirror, tmp_path):
    mirror, files, arrays = synthetic_mirror
    out = tmp_path / "raw"
    fetch_files([str(mirror)], out, files)
    name = "train-labels-idx1-ubyte.gz"
    kept = out / ".verified" / name
    good = kept.read_bytes()
    assert not os.path.samefile(kept, out / name)
    _permuted_labels(arrays, out / name)
    assert kept.read_bytes() == good
    served = fetch_files([str(tmp_path / "offline")], out, files)  # the changed file is replaced
    assert served[name] == str(out / ".verified") and (out / name).read_bytes() == good
    prepare_dataset(out, tmp_path / "d.pt", validation_size=10, split_seed=1, dataset=synthetic_dataset(files))


def test_a_failed_recovery_names_the_kept_copy_and_why_it_failed(synthetic_mirror, tmp_path):
    mirror, files, arrays = synthetic_mirror
    out = tmp_path / "raw"
    fetch_files([str(mirror)], out, files)
    name = "train-labels-idx1-ubyte.gz"
    (out / name).unlink()
    _permuted_labels(arrays, out / ".verified" / name)
    with pytest.raises(DataError) as err:
        fetch_files([str(tmp_path / "offline")], out, files)
    kept_line = next(line for line in str(err.value).splitlines() if str(out / ".verified") in line)
    assert "verified copy" in kept_line and "SHA-256 of the decompressed data is" in kept_line
