"""Tiny image data sets in the real on-disk formats that torchvision's own classes read.

- MNIST and FashionMNIST: the decompressed idx files under ``ROOT/<Name>/raw/``
  (``{train,t10k}-{images-idx3,labels-idx1}-ubyte``). torchvision 0.29's ``MNIST._check_exists``
  only checks that these four files exist (``check_integrity`` without an md5), then
  ``read_sn3_pascalvincent_tensor`` parses them: a big-endian magic number (0x0803 for
  unsigned-byte 3-d images, 0x0801 for 1-d labels), the sizes, then the bytes.
- CIFAR10: ``ROOT/cifar-10-batches-py/`` with pickles ``data_batch_1`` .. ``data_batch_5``,
  ``test_batch`` (``{"data": uint8 N x 3072 (R, G, B planes of 32 x 32), "labels": [...]}``)
  and ``batches.meta`` (``{"label_names": [...]}``), pickled with protocol 2 like the
  originals. torchvision's ``CIFAR10._check_integrity`` compares every file's md5 with the md5
  of the real 170 MB download, which no tiny file can match: :func:`cifar10_checksum_shim`
  writes a ``sitecustomize.py`` that a test kernel loads (through ``PYTHONPATH``) to put these
  files' md5s in place of the real ones. Everything else (the class, its file layout, its
  pickle reader, its integrity check) runs unchanged.
- ImageFolder: one sub-folder of PNG files per class.

Images carry a class-dependent bright block, so the labels can be learnt.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
CIFAR10_META_BASE = {"filename": "batches.meta", "key": "label_names"}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _labelled_images(rng: np.random.Generator, count: int, classes: int, height: int, width: int, channels: int):
    """uint8 images (count x height x width x channels), noise plus a block whose place names the class."""
    labels = rng.permutation(np.arange(count) % classes)
    images = rng.integers(0, 96, size=(count, height, width, channels), dtype=np.uint8)
    block_h, block_w = max(1, height // 4), max(1, width // 4)
    for image, label in zip(images, labels):
        row, col = divmod(int(label) % 16, 4)
        image[row * block_h : (row + 1) * block_h, col * block_w : (col + 1) * block_w] = 255
    return images, labels.astype(np.uint8)


def write_mnist(
    root: Path, *, name: str = "MNIST", n_train: int = 40, n_test: int = 20, size: int = 28, seed: int = 0
) -> list[Path]:
    """``root/name/raw/`` with the four idx files; ``name`` is "MNIST" or "FashionMNIST"."""
    raw = Path(root) / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, count in (("train", n_train), ("t10k", n_test)):
        images, labels = _labelled_images(rng, count, 10, size, size, 1)
        header = struct.pack(">IIII", 0x0803, count, size, size)  # unsigned bytes, 3 dimensions
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
        header = struct.pack(">II", 0x0801, count)  # unsigned bytes, 1 dimension
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels.tobytes())
    return [raw / f for f in MNIST_FILES]


def write_cifar10(root: Path, *, per_batch: int = 8, n_test: int = 20, seed: int = 0) -> list[Path]:
    """``root/cifar-10-batches-py/`` with five training batches, the test batch and the metadata."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    batches = [(f"data_batch_{i}", f"training batch {i} of 5", per_batch) for i in range(1, 6)]
    for file_name, batch_label, count in batches + [("test_batch", "testing batch 1 of 1", n_test)]:
        images, labels = _labelled_images(rng, count, 10, 32, 32, 3)
        entry = {
            "batch_label": batch_label,
            "labels": [int(label) for label in labels],
            "data": images.transpose(0, 3, 1, 2).reshape(count, 3 * 32 * 32),  # R, G, B planes
            "filenames": [f"image_{i:05d}.png" for i in range(count)],
        }
        with open(folder / file_name, "wb") as stream:
            pickle.dump(entry, stream, protocol=2)
    with open(folder / "batches.meta", "wb") as stream:
        meta = {"num_cases_per_batch": per_batch, "label_names": CIFAR10_CLASSES, "num_vis": 3072}
        pickle.dump(meta, stream, protocol=2)
    return [folder / f for f in CIFAR10_FILES]


def cifar10_checksum_shim(directory: Path, root: Path) -> Path:
    """A ``sitecustomize.py`` in ``directory`` that swaps torchvision's CIFAR-10 md5s for those of
    the files under ``root``; put ``directory`` on the kernel's ``PYTHONPATH``."""
    folder = Path(root) / "cifar-10-batches-py"
    md5 = {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in CIFAR10_FILES}
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "sitecustomize.py"
    shim.write_text(
        "# Test only: torchvision pins the md5s of the real CIFAR-10 download; these are the tiny test files'.\n"
        "from torchvision.datasets import CIFAR10\n\n"
        f"CIFAR10.train_list = {[[f'data_batch_{i}', md5[f'data_batch_{i}']] for i in range(1, 6)]!r}\n"
        f"CIFAR10.test_list = {[['test_batch', md5['test_batch']]]!r}\n"
        f"CIFAR10.meta = {dict(CIFAR10_META_BASE, md5=md5['batches.meta'])!r}\n"
    )
    return shim


def write_image_folder(
    root: Path, *, classes=("circle", "square", "triangle"), per_class: int = 8, size: int = 20, seed: int = 0
) -> Path:
    """``root/<class>/<n>.png``, RGB images, the layout torchvision's ImageFolder reads."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        images, _ = _labelled_images(rng, per_class, 1, size, size, 3)
        for number, image in enumerate(images):
            image[..., index % 3] = np.maximum(image[..., index % 3], 160)  # the class's colour
            Image.fromarray(image).save(root / name / f"{number:03d}.png")
    return root


def files_sha256(paths) -> str:
    """The data-set hash capture records for files: sha256 over (name, NUL, bytes), sorted by path."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
