"""Shared fixtures: small slices of the real data, a temporary data file to corrupt."""

from __future__ import annotations

import pytest
import torch

from gengen_lib import data


@pytest.fixture(scope="session")
def mnist_path():
    return data.default_mnist_path()


@pytest.fixture(scope="session")
def small_train():
    """The first 512 training images and labels."""
    return data.load_mnist("train").subset(512)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


# Two batches per epoch of a 2-d VAE (or a 16-wide flow): command-line runs that only need to exercise the loop.
TINY = ["--quick", "--train-subset", "256", "--hidden", "16", "--z-dim", "2", "--quiet", "--threads", "1",
        "--device", "cpu"]  # fmt: skip


@pytest.fixture
def scratch_runs(tmp_path, monkeypatch):
    """Nothing lands in the repository's runs/; the data path is the default one; threads are restored."""
    monkeypatch.setenv("GENGEN_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("GENGEN_MNIST_PATH", raising=False)
    threads = torch.get_num_threads()
    yield tmp_path / "runs"
    torch.set_num_threads(threads)
