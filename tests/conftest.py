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
