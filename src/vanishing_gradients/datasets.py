"""The datasets a study can train on, one record each: its raw files with their checksums and shapes, the
image shape, the classes and the default mirrors (torch-free, no imports from the package).

``data.name`` in the config chooses one (default ``fashion_mnist``); ``of(config)`` gives its record. Everything
else reads the record: the download (``fetch``), the checks, parsing and split (``data``), the model's input
and output sizes (``study``, ``specs``), the paths (``layout``: the name names the raw folder, the cached
splits and every run's path), the memory estimate (``resources``) and the report. A new dataset is one
``register(Dataset(...))`` here, of gzipped IDX files of unsigned bytes (the MNIST format).

Checksums are SHA-256 of the *decompressed* payload: Debian's ``dataset-fashion-mnist`` re-compressed the
gzip wrappers, so the ``.gz`` bytes differ between mirrors while the IDX content does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple


class RawFile(NamedTuple):
    sha256: str  # of the decompressed IDX bytes
    shape: tuple[int, ...]  # (N, height, width) for images, (N,) for labels


@dataclass(frozen=True)
class Dataset:
    name: str  # names its folders and files: results/downloads/<name>/, results/<study>/data/<name>.pt, runs
    title: str  # how the report writes it
    files: Mapping[str, RawFile]  # raw file name -> its content's checksum and shape
    train: tuple[str, str]  # the (images, labels) files of the training images, split into train and validation
    test: tuple[str, str]  # the (images, labels) files of the test images
    class_names: tuple[str, ...]  # label i is class_names[i]
    mirrors: tuple[str, ...]  # the default of data.mirrors: folders or base URLs holding the files
    offline_hint: str = ""  # how to get the files without internet, said when no mirror serves them

    def __post_init__(self):
        for split, (images, labels) in (("train", self.train), ("test", self.test)):
            for name in (images, labels):
                if name not in self.files:
                    raise ValueError(f"dataset {self.name}: {split} file {name!r} is not one of its files")
            shape, count = self.files[images].shape, self.files[labels].shape
            if len(shape) != 3 or count != shape[:1]:
                raise ValueError(f"dataset {self.name}: {split} images {shape} and labels {count} do not match")
            if shape[1:] != self.image_shape:
                raise ValueError(f"dataset {self.name}: {split} images are {shape[1:]}, not {self.image_shape}")

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.files[self.train[0]].shape[1:])

    @property
    def in_features(self) -> int:
        """Pixels per image: the model's input size."""
        return math.prod(self.image_shape)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def train_size(self) -> int:
        """Images in the training files (validation is taken from them)."""
        return self.files[self.train[1]].shape[0]

    @property
    def test_size(self) -> int:
        return self.files[self.test[1]].shape[0]

    def model_shape(self) -> dict[str, int]:
        """The model's sizes the data decides (``specs.ModelSpec``'s ``in_features`` and ``classes``)."""
        return {"in_features": self.in_features, "classes": self.num_classes}


DATASETS: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    """Make ``dataset`` a value of ``data.name``."""
    DATASETS[dataset.name] = dataset
    return dataset


def unknown(name) -> str:
    """The refusal of a name no dataset has: the name and the known ones."""
    return (
        f"{name!r} is not a known dataset; the known datasets are {', '.join(DATASETS)} (vanishing_gradients.datasets)"
    )


def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise KeyError(unknown(name))
    return DATASETS[name]


FASHION_MNIST = register(
    Dataset(
        name="fashion_mnist",
        title="Fashion-MNIST",
        files={
            "train-images-idx3-ubyte.gz": RawFile(
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", (60000, 28, 28)
            ),
            "train-labels-idx1-ubyte.gz": RawFile(
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", (60000,)
            ),
            "t10k-images-idx3-ubyte.gz": RawFile(
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", (10000, 28, 28)
            ),
            "t10k-labels-idx1-ubyte.gz": RawFile(
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", (10000,)
            ),
        },
        train=("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        test=("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mirrors=(
            "/usr/share/datasets/fashion-mnist",  # Debian: apt-get install dataset-fashion-mnist
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ),
        offline_hint=(
            "To get the data without internet on Debian/Ubuntu: `apt-get install dataset-fashion-mnist` "
            "(files land in /usr/share/datasets/fashion-mnist), or copy the four .gz files into a folder and put "
            "that folder first in `data.mirrors` in config.yaml."
        ),
    )
)
DEFAULT = FASHION_MNIST.name


def of(config: dict) -> Dataset:
    """The dataset ``data.name`` of ``config`` names (the default where the config has none)."""
    return get((config.get("data") or {}).get("name", DEFAULT))
