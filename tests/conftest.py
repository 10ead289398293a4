"""Shared fixtures. Unit tests use tiny synthetic data; integration tests read
real MNIST from $ADVDEMO_MNIST_DIR (CI sets it to ../shared/mnist)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from advdemo.config import TUTORIAL

ROOT = Path(__file__).resolve().parent.parent

#: A small network with the tutorial's structure, so tests train in seconds.
TINY = dataclasses.replace(TUTORIAL, conv_filters=(4, 8, 8), num_fc_units=(16,), batch_size=64, epochs=1,
                           learning_rate=0.003)


def mnist_dir() -> Path | None:
    for candidate in (os.environ.get("ADVDEMO_MNIST_DIR"), ROOT.parent / "shared" / "mnist"):
        if candidate and Path(candidate, "t10k-labels-idx1-ubyte.gz").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def mnist():
    folder = mnist_dir()
    if folder is None:
        if os.environ.get("CI"):
            pytest.fail("CI must provide MNIST through ADVDEMO_MNIST_DIR")
        pytest.skip("real MNIST not found: set ADVDEMO_MNIST_DIR")
    from advdemo.data import load_mnist

    return load_mnist(folder)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def synthetic(rng):
    """64 random 'images' (N, 28, 28, 1) float32 in [0, 1] with labels 0..9."""
    images = rng.random((64, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, size=64).astype(np.int64)
    return images, labels


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test writes to the real per-user model cache."""
    monkeypatch.setenv("ADVDEMO_CACHE_DIR", str(tmp_path / "model-cache"))
