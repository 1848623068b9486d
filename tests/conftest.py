import gzip
import hashlib
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vanishing_gradients.data import Split  # noqa: E402
from vanishing_gradients.datasets import FASHION_MNIST, RawFile  # noqa: E402

DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")
# The fixes of config.yaml, in its order (read from it: a fix added there is in every test that loops over them).
DEFAULT_FIXES = list(yaml.safe_load((ROOT / "config.yaml").read_text())["fixes"])
# The numbered headings every study's report has (a depth sweep adds "How deep each configuration trains").
REPORT_HEADINGS = (
    "1. The answer",
    "2. The problem",
    "Is it depth, or a learning rate",
    "3. Learning rates, chosen on validation",
    "4. Gradient flow at initialisation",
    "5. The fixes",
    "6. Comparison",
    "7. Cost",
    "8. Conclusions",
    "9. Appendix: the setup and the configuration",
)


def merged_config(*overlays: str) -> dict:
    """config.yaml with overlays (paths relative to the project) merged on top, as `--configfile` does."""
    import yaml
    from snakemake.utils import update_config

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for overlay in overlays:
        update_config(config, yaml.safe_load((ROOT / overlay).read_text()))
    return config


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    return struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(payload)
    return path


@pytest.fixture
def synthetic_mirror(tmp_path):
    """A folder with four small valid IDX .gz files and the matching `files` table for fetch/prepare."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (50, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 50),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 20),
    }
    mirror = tmp_path / "mirror"
    files = {}
    for name, array in arrays.items():
        payload = idx_bytes(array)
        write_gz(mirror / name, payload)
        files[name] = (hashlib.sha256(payload).hexdigest(), array.shape)
    return mirror, files, arrays


def synthetic_dataset(files: dict, name: str = "synthetic"):
    """Fashion-MNIST's record with other files of the same names (``synthetic_mirror``'s): checksums and shapes."""
    import dataclasses

    return dataclasses.replace(FASHION_MNIST, name=name, files={k: RawFile(*v) for k, v in files.items()})


def tiny_data(n_train=256, n_val=64, n_test=64, seed=0, features=784):
    """Random but learnable data: the label is decided by which block of pixels is brightest."""
    import torch

    gen = torch.Generator().manual_seed(seed)

    def make(n):
        labels = torch.randint(0, 10, (n,), generator=gen)
        images = torch.randint(0, 60, (n, features), generator=gen, dtype=torch.int64)
        block = features // 10
        for i, label in enumerate(labels.tolist()):
            images[i, label * block : (label + 1) * block] += 150
        return Split(images.clamp(max=255).to(torch.uint8), labels)

    return {"train": make(n_train), "validation": make(n_val), "test": make(n_test)}
