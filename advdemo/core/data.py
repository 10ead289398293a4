"""MNIST: local IDX files first, then ``tensorflow_datasets`` (the tutorial's way).

Images are returned as ``(N, 28, 28, 1)`` float32 in [0, 1], labels as ``(N,)``
int64 in 0..9, with the tutorial's split: 60,000 train / 10,000 test.

The test set also ships inside the package (``advdemo/mnist/``, 1.6 MB, its
SHA-256 checked on every load), so everything that only evaluates (the page,
``advdemo evaluate``) works offline with no data option. Training needs the
training set, from local files or ``tensorflow_datasets``; it is never shipped.

This module does not import TensorFlow unless it has to fall back to
``tensorflow_datasets``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advdemo.i18n import Message, message

ENV_VAR = "ADVDEMO_MNIST_DIR"

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: The MNIST test set shipped with the package, and the SHA-256 of each file (the official files' hashes).
EMBEDDED_DIR = Path(__file__).resolve().parent / "mnist"
EMBEDDED_SHA256 = {
    "test_images": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "test_labels": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
EMBEDDED_SOURCE = "the MNIST test set shipped with advdemo"
TRAIN_SIZE = 60_000

_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
_IMAGE_SIDE = 28

# tensorflow_datasets downloads MNIST from here; it is what a connected machine reaches.
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
_PROBE_SECONDS = 4.0

HOW_TO_USE_LOCAL = (
    "Point advdemo at a folder holding the four MNIST IDX files "
    f"({', '.join(f + '[.gz]' for f in FILES.values())}) with --data-dir DIR "
    f"or the environment variable {ENV_VAR}=DIR."
)


class DataError(RuntimeError):
    """MNIST could not be loaded; the message says why and what to do."""


class IdxError(DataError):
    """An IDX file is malformed; the message names the file."""


@dataclass(frozen=True)
class Mnist:
    """MNIST in memory.

    Images ``(N, 28, 28, 1)`` float32 in [0, 1]; labels ``(N,)`` int64 in 0..9.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str

    @property
    def has_training_data(self) -> bool:
        return len(self.train_labels) > 0

    def subset(self, n_train: int, n_test: int) -> Mnist:
        """The first ``n_train`` / ``n_test`` examples (for tests and quick runs)."""
        return Mnist(
            self.train_images[:n_train],
            self.train_labels[:n_train],
            self.test_images[:n_test],
            self.test_labels[:n_test],
            f"{self.source} (first {n_train} train / {n_test} test)",
        )


def read_idx(path: str | os.PathLike[str], *, kind: str) -> np.ndarray:
    """Parse one IDX file (optionally gzipped).

    ``kind`` is ``"images"`` (returns ``(N, 28, 28)`` uint8) or ``"labels"``
    (returns ``(N,)`` uint8 in 0..9). Raises :class:`IdxError` naming the file
    for a wrong magic number, a wrong shape, a truncated or over-long body,
    or labels outside 0..9.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise IdxError(f"{path}: cannot read: {exc}") from None

    want_magic, want_ndim = (_IMAGES_MAGIC, 3) if kind == "images" else (_LABELS_MAGIC, 1)
    if len(raw) < 4:
        raise IdxError(f"{path}: truncated: {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != want_magic:
        raise IdxError(
            f"{path}: wrong magic number 0x{magic:08x}; expected 0x{want_magic:08x} for MNIST {kind}"
        )
    header_len = 4 + 4 * want_ndim
    if len(raw) < header_len:
        raise IdxError(f"{path}: truncated header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(want_ndim)]
    if kind == "images" and dims[1:] != [_IMAGE_SIDE, _IMAGE_SIDE]:
        raise IdxError(f"{path}: images are {dims[1]}x{dims[2]}; expected {_IMAGE_SIDE}x{_IMAGE_SIDE}")
    body_len = int(np.prod(dims))
    actual = len(raw) - header_len
    if actual < body_len:
        raise IdxError(f"{path}: truncated: header promises {body_len} data bytes, file has {actual}")
    if actual > body_len:
        raise IdxError(f"{path}: {actual - body_len} unexpected bytes after the data")
    data = np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)
    if kind == "labels" and data.size and data.max() > 9:
        raise IdxError(f"{path}: label {int(data.max())} is outside 0..9")
    return data


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def to_float_images(images: np.ndarray) -> np.ndarray:
    """``(N, 28, 28)`` uint8 -> ``(N, 28, 28, 1)`` float32 in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def load_idx_folder(folder: str | os.PathLike[str], *, training: bool = True) -> Mnist:
    """Load MNIST from a folder with the four standard IDX files (``.gz`` or not).

    Without ``training`` only the two test files are read (and needed): the training arrays are
    empty, and a server that only evaluates holds 190 MB less.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"MNIST folder {folder} does not exist. {HOW_TO_USE_LOCAL}")
    paths = {key: _find(folder, name) for key, name in FILES.items() if training or key.startswith("test")}
    missing = [FILES[key] for key, p in paths.items() if p is None]
    if missing:
        raise DataError(f"MNIST folder {folder} lacks {', '.join(missing)} (or .gz). {HOW_TO_USE_LOCAL}")
    arrays = {key: read_idx(p, kind=key.split("_")[1]) for key, p in paths.items() if p is not None}
    if not training:
        arrays.update(train_images=np.zeros((0, 28, 28), np.uint8), train_labels=np.zeros(0, np.int64))
    for split in ("train", "test"):
        n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_img != n_lab:
            raise IdxError(
                f"{paths[f'{split}_images']} has {n_img} images but "
                f"{paths[f'{split}_labels']} has {n_lab} labels"
            )
    return Mnist(
        to_float_images(arrays["train_images"]),
        arrays["train_labels"].astype(np.int64),
        to_float_images(arrays["test_images"]),
        arrays["test_labels"].astype(np.int64),
        source=str(folder),
    )


def load_embedded_test_set() -> Mnist:
    """The test set shipped in the package, hash-verified; no training data (empty arrays).

    Raises :class:`DataError` if a file is missing or does not match its hash.
    """
    arrays = {}
    for key, digest in EMBEDDED_SHA256.items():
        path = EMBEDDED_DIR / f"{FILES[key]}.gz"
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"the shipped MNIST test set is missing ({path}: {exc.strerror}); reinstall advdemo. "
                            + HOW_TO_USE_LOCAL) from None
        if hashlib.sha256(raw).hexdigest() != digest:
            raise DataError(f"the shipped MNIST test set is damaged ({path} does not match its SHA-256); "
                            "reinstall advdemo. " + HOW_TO_USE_LOCAL)
        arrays[key] = read_idx(path, kind=key.split("_")[1])
    return Mnist(np.zeros((0, _IMAGE_SIDE, _IMAGE_SIDE, 1), np.float32), np.zeros((0,), np.int64),
                 to_float_images(arrays["test_images"]), arrays["test_labels"].astype(np.int64),
                 source=EMBEDDED_SOURCE)


def can_reach(host: tuple[str, int] = _DOWNLOAD_HOST, timeout: float = _PROBE_SECONDS) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds.

    Runs in a daemon thread because name resolution ignores socket timeouts
    and can hang for much longer on an offline machine.
    """
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(host, timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _load_tfds() -> Mnist:
    import tensorflow_datasets as tfds  # noqa: PLC0415 - heavy, and only this path needs it

    builder = tfds.builder("mnist")
    if not builder.is_prepared() and not can_reach():
        raise DataError(
            "MNIST is not available: no local IDX files were given, tensorflow_datasets has "
            f"no prepared copy, and {_DOWNLOAD_HOST[0]} cannot be reached to download it. "
            + HOW_TO_USE_LOCAL
        )
    builder.download_and_prepare()
    splits = tfds.as_numpy(builder.as_dataset(batch_size=-1))
    return Mnist(
        (splits["train"]["image"].astype(np.float32) / 255.0),
        splits["train"]["label"].astype(np.int64),
        (splits["test"]["image"].astype(np.float32) / 255.0),
        splits["test"]["label"].astype(np.int64),
        source="tensorflow_datasets",
    )


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The local MNIST folder to use: ``data_dir``, else ``$ADVDEMO_MNIST_DIR``, else None."""
    chosen = data_dir if data_dir else os.environ.get(ENV_VAR)
    return Path(chosen).expanduser() if chosen else None


_cache: dict[str, Mnist] = {}
#: ``(data_dir or $ADVDEMO_MNIST_DIR, training)`` → the key of ``_cache`` it loaded.
_sources: dict[tuple[str | None, bool], str] = {}
_cache_lock = threading.Lock()


def load_mnist(data_dir: str | os.PathLike[str] | None = None, *, training: bool = True) -> Mnist:
    """MNIST from ``data_dir``, ``$ADVDEMO_MNIST_DIR`` or, without either, ``tensorflow_datasets``.

    With ``training=False`` (only the test set is needed) the last source is
    the test set shipped with the package instead, so no download is ever
    tried. Loaded once per process and source (the arrays are read-only and
    shared). Raises :class:`DataError` with instructions when no source works;
    offline without local files that happens within about five seconds.
    """
    asked = (str(data_dir) if data_dir else os.environ.get(ENV_VAR), training)
    with _cache_lock:
        known = _sources.get(asked)
        if known in _cache:  # the page asks on every rerun: no file system calls then
            return _cache[known]
        folder = resolve_data_dir(data_dir)
        key = str(folder.resolve()) if folder else "tfds" if training else "embedded"
        if folder and not training and key not in _cache:
            key += "#test"  # the test files only, unless the whole set is loaded already
        if key not in _cache:
            loader = ((lambda: load_idx_folder(folder, training=training)) if folder
                      else _load_tfds if training else load_embedded_test_set)
            mnist = loader()
            for array in (mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels):
                array.setflags(write=False)
            _cache[key] = mnist
        _sources[asked] = key
        return _cache[key]


def training_data_problem(data_dir: str | os.PathLike[str] | None = None) -> Message | None:
    """Why the training set cannot be loaded, in one sentence (``str()`` for English), or None when it can (or may).

    Cheap enough for a page: a local folder is only checked for existence, and
    tensorflow_datasets' download server is probed at most once a minute.
    """
    folder = resolve_data_dir(data_dir)
    if folder is not None:
        return None if folder.is_dir() else message(
            "training.no_folder", folder=str(folder), variable=ENV_VAR,
            files=", ".join(f + "[.gz]" for f in FILES.values()))
    if "tfds" in _cache or _tfds_prepared():
        return None
    now = time.monotonic()
    if now - _probe["at"] > _PROBE_TTL:
        _probe.update(at=now, ok=can_reach())
    if _probe["ok"]:
        return None
    return message("training.no_training_data", variable=ENV_VAR)


_PROBE_TTL = 60.0
_probe: dict = {"at": -float("inf"), "ok": False}


def _tfds_prepared() -> bool:
    """Whether tensorflow_datasets has MNIST on disk already (without importing it: it is slow to import)."""
    root = Path(os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets") / "mnist"
    return any(root.glob("*/dataset_info.json"))
