"""Shared fixtures. Unit tests use tiny synthetic data; integration tests read
real MNIST from $ADVDEMO_MNIST_DIR (CI sets it to ../shared/mnist)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from advdemo.core.config import TUTORIAL, Norm
from advdemo.page.viewstate import ViewState

ROOT = Path(__file__).resolve().parent.parent

#: A small network with the tutorial's structure, so tests train in seconds.
TINY = dataclasses.replace(TUTORIAL, conv_filters=(4, 8, 8), num_fc_units=(16,), batch_size=64, epochs=1,
                           learning_rate=0.003)


#: A stored non-default view for the page tests.
L2_VIEW = ViewState(norm=Norm.L2, step=1.5, multiplier=0.2)


def mnist_dir() -> Path | None:
    for candidate in (os.environ.get("ADVDEMO_MNIST_DIR"), ROOT.parent / "shared" / "mnist"):
        if candidate and Path(candidate, "t10k-labels-idx1-ubyte.gz").exists():
            return Path(candidate)
    return None


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file's bytes for a uint8 array (3-d images or 1-d labels)."""
    magic = magic if magic is not None else (0x803 if array.ndim == 3 else 0x801)
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist_subset(folder: Path, n_train: int, n_test: int) -> None:
    """Gzipped IDX files of the first examples of real MNIST (random digits if it is absent)."""
    import gzip

    from advdemo.core.data import FILES, load_mnist

    source = mnist_dir()
    if source:
        m = load_mnist(source)
        arrays = {"train_images": m.train_images[:n_train, ..., 0], "train_labels": m.train_labels[:n_train],
                  "test_images": m.test_images[:n_test, ..., 0], "test_labels": m.test_labels[:n_test]}
        arrays = {k: (v * 255).round() if "images" in k else v for k, v in arrays.items()}
    else:
        rng = np.random.default_rng(0)
        arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28)),
                  "train_labels": rng.integers(0, 10, n_train),
                  "test_images": rng.integers(0, 256, (n_test, 28, 28)),
                  "test_labels": rng.integers(0, 10, n_test)}
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in FILES.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(np.asarray(arrays[key]))))


@pytest.fixture(scope="session")
def mnist():
    folder = mnist_dir()
    if folder is None:
        if os.environ.get("CI"):
            pytest.fail("CI must provide MNIST through ADVDEMO_MNIST_DIR")
        pytest.skip("real MNIST not found: set ADVDEMO_MNIST_DIR")
    from advdemo.core.data import load_mnist

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



@pytest.fixture
def random_digits_store(tmp_path, stored_models, rng):
    """A writable copy of :func:`stored_models`, 12 random test digits, and the base and regularized ids."""
    import shutil

    from advdemo.core.config import FAST_RECIPE
    from advdemo.core.data import Mnist
    from advdemo.store.storage import ModelStore, model_id

    shutil.copytree(stored_models, tmp_path / "store")
    images = rng.random((12, 28, 28, 1)).astype(np.float32)
    mnist = Mnist(images, rng.integers(0, 10, 12), images, rng.integers(0, 10, 12), "random")
    return (ModelStore(tmp_path / "store", writable=True), mnist, model_id(FAST_RECIPE, "base"),
            model_id(FAST_RECIPE, "adv"))


@pytest.fixture(scope="session")
def stored_models(tmp_path_factory):
    """FAST_RECIPE networks for the default view and :data:`L2_VIEW`, stored like pretrained ones.

    Trained for one short epoch on 2,000 real digits (random ones if MNIST is
    absent): enough for accuracies well above chance that move with the attack.
    """
    import dataclasses

    from advdemo.core.config import FAST_RECIPE, StrongEval
    from advdemo.core.training import train_adversarial, train_base
    from advdemo.experiments.sweep import run_strong_evaluation, strong_jobs
    from advdemo.page.viewstate import ViewState
    from advdemo.store.manifest import Metrics
    from advdemo.store.storage import ModelStore, model_id

    folder = tmp_path_factory.mktemp("mnist-train")
    write_mnist_subset(folder, n_train=2000, n_test=1)
    from advdemo.core.data import load_mnist

    train = load_mnist(folder)
    short = dict(epochs=1, train_examples=2000)
    root = tmp_path_factory.mktemp("pretrained")
    store = ModelStore(root, writable=True)
    # Stored under the full recipe's ids, as the page looks them up.
    base = train_base(dataclasses.replace(FAST_RECIPE, **short), train.train_images, train.train_labels)
    store.put(FAST_RECIPE, "base", base.model.get_weights(), train_seconds=base.seconds)
    for view in (ViewState(), L2_VIEW):  # both share the recipe's base model
        hp = view.hparams(FAST_RECIPE)
        adv = train_adversarial(dataclasses.replace(hp, **short), train.train_images, train.train_labels)
        store.put(hp, "adv", adv.model.get_weights(), train_seconds=adv.seconds,
                  metrics=Metrics.of_training({}, base_model=model_id(FAST_RECIPE, "base")))
    # Strong-evaluation curves, stored as with the pretrained models (a light configuration, on the
    # page tests' digits), so the page reads them instead of measuring on every run.
    digits = tmp_path_factory.mktemp("mnist-test")
    write_mnist_subset(digits, n_train=1, n_test=128)
    base_id = model_id(FAST_RECIPE, "base")
    run_strong_evaluation(store, load_mnist(digits), base_id, strong_jobs(store, base_id),
                          cfg=StrongEval(iterations=4, restarts=1, examples=128))
    return root


@pytest.fixture
def app_env(tmp_path, monkeypatch, stored_models):
    """Environment for running the page: a small real-MNIST subset and the stored models."""
    data = tmp_path / "mnist"
    write_mnist_subset(data, n_train=256, n_test=128)
    monkeypatch.setenv("ADVDEMO_MNIST_DIR", str(data))
    monkeypatch.setenv("ADVDEMO_PRETRAINED_DIR", str(stored_models))
    # Jobs in a thread of the test process: the page's tests need no child process each (tests/test_jobs.py
    # and the browser tests run the real one).
    monkeypatch.setenv("ADVDEMO_JOB_ENGINE", "thread")
    return tmp_path


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (skipped where it is missing, except in CI)."""
    import shutil

    from browser_support import CHROMIUM, CHROMIUM_ARGS

    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def linear_model(w: np.ndarray, bias: np.ndarray | None = None, *, masked: bool = False):
    """logits = W h (+ b), with h = 2x - 1, or a hard threshold of x at 0.5 whose gradient is exactly zero.

    Saturated everywhere the pixels are away from 0.5: the classic way a defence starves gradient
    attacks without being robust. ``w`` ``(784, 10)``; images ``(N, 28, 28, 1)``.
    """
    from advdemo.core.compat import keras, tf

    inputs = keras.Input((28, 28, 1), name="image")
    h = keras.layers.Flatten()(inputs)
    if masked:
        h = keras.layers.Lambda(lambda t: tf.clip_by_value(50.0 * (t - 0.5), -1.0, 1.0))(h)
    else:
        h = keras.layers.Lambda(lambda t: 2.0 * t - 1.0)(h)
    model = keras.Model(inputs, keras.layers.Dense(10, use_bias=bias is not None)(h))
    model.set_weights([w] if bias is None else [w, bias])
    return model
