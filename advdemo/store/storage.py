"""Saving and loading trained networks: weights only, verified on every load.

A store is a folder with one ``<id>.weights.npz`` per model (NumPy arrays,
read back with ``allow_pickle=False``: no code can hide in them) and a
``manifest.json`` that records, for each model, its configuration, the
SHA-256 and size of its weights file, its metrics and the library versions
that trained it. Loading rebuilds the network from the configuration and then
sets the weights; nothing is ever unpickled. Beside it, ``results.json`` keeps
numbers measured by jobs (:mod:`advdemo.serving.tasks`), by task key. Both files read
as empty when damaged or unreadable (:class:`JsonDocument`), so a broken cache
never takes the page down.

Two stores are searched, in order: the read-only ``pretrained/`` shipped with
the project, and a writable per-user cache (``$ADVDEMO_CACHE_DIR``, else
``$XDG_CACHE_HOME/advdemo``, else ``~/.cache/advdemo``) for models trained on
demand.

Writes go to a temporary file in the same folder, are flushed to disk, then
renamed over the target, so a crash never leaves a half-written file under a
real name. Manifest updates are serialized with a file lock, so concurrent
writers (two app processes, the CLI) cannot lose each other's entries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import errno
import hashlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from advdemo.core.config import HParams, ModelKind, to_dict
from advdemo.logs import LOGGER, LogFn, log_info
from advdemo.store.manifest import MODELS_SECTION, ManifestError, Metrics, ModelEntry

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Measurements of model pairs (:mod:`advdemo.serving.tasks`), by task key, beside the manifest.
RESULTS = "results.json"
WEIGHTS_SUFFIX = ".weights.npz"
CACHE_ENV = "ADVDEMO_CACHE_DIR"
PRETRAINED_ENV = "ADVDEMO_PRETRAINED_DIR"
PRETRAINED_DIR = Path(__file__).resolve().parents[2] / "pretrained"


class StoreError(RuntimeError):
    """A model could not be saved or loaded; the message says which and why."""


class IntegrityError(StoreError):
    """A weights file does not match its manifest entry (corrupt, truncated or foreign)."""


def model_id(hparams: HParams, kind: ModelKind | str) -> str:
    """The store id of the ``kind`` model trained with ``hparams``.

    Derived from the configuration only, so no user-supplied string ever
    becomes part of a file name.
    """
    try:
        kind = ModelKind(kind)
    except ValueError:
        raise ValueError(f"kind={kind!r} is invalid: expected 'base' or 'adv'") from None
    key = hparams.base_key() if kind is ModelKind.BASE else hparams.adv_key()
    return f"{kind.value}-{key}"


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "advdemo" / "models"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one.

    Raises :class:`StoreError` (naming the path) when the disk is full or not
    writable; the target is then unchanged and no temporary file is left.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
            raise StoreError(f"could not write {path}: {reason}; nothing was changed") from exc
        raise


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes, on POSIX and Windows."""
    with open(path, "a+b") as handle:
        if sys.platform == "win32":
            import msvcrt  # noqa: PLC0415 - Windows only

            handle.seek(0)
            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # retries for ~10 s, then raises
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl  # noqa: PLC0415 - POSIX only

            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def weights_to_bytes(weights: list[np.ndarray]) -> bytes:
    """Serialize a list of weight arrays as an ``.npz`` archive (deterministic bytes)."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {f"w{i:03d}": np.asarray(w) for i, w in enumerate(weights)}
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def weights_from_bytes(data: bytes) -> list[np.ndarray]:
    """Inverse of :func:`weights_to_bytes`; refuses pickled objects."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return [archive[k] for k in sorted(archive.files)]
    except Exception as exc:  # zipfile, ValueError on pickled arrays, ...
        raise IntegrityError(f"not a weights archive: {exc}") from None


def _versions() -> dict[str, str]:
    from advdemo.core.compat import keras, nsl, tf  # noqa: PLC0415 - only writers need them

    return {"tensorflow": tf.__version__, "tf_keras": keras.__version__, "neural_structured_learning": nsl.__version__}


class JsonDocument:
    """One JSON file of a store that maps ids to objects under one top-level ``section``.

    Reading never raises: a file that is missing, unreadable or malformed
    reads as empty, and :attr:`problem` says why (logged once per change),
    so a damaged cache never takes the page down. Updates hold the store's
    file lock, set a malformed file aside (``.broken``) instead of silently
    overwriting it, and write atomically.
    """

    def __init__(self, path: Path, section: str, lock: Path):
        self.path = path
        self.section = section
        self._lock = lock
        self._cached: tuple[Any, dict[str, dict[str, Any]]] | None = None
        #: Why the file could not be read (None: it could, or it does not exist yet).
        self.problem: str | None = None

    def read(self) -> dict[str, dict[str, Any]]:
        """The section's objects by id (empty if the file is missing or damaged)."""
        try:
            return self.read_strict()
        except StoreError as exc:
            if self.problem != str(exc):
                LOGGER.warning("%s; reading it as empty", exc)
            self.problem = str(exc)
            return {}

    def read_strict(self) -> dict[str, dict[str, Any]]:
        """Like :meth:`read`, but a damaged file raises :class:`StoreError`."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._cached, self.problem = None, None
            return {}
        except OSError as exc:
            raise StoreError(f"{self.path} cannot be read: {exc.strerror or exc}") from None
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._cached and self._cached[0] == stamp:
            return self._cached[1]
        try:
            document = json.loads(self.path.read_bytes())
            items = document[self.section]
            if not isinstance(items, dict) or not all(isinstance(v, dict) for v in items.values()):
                raise TypeError(f"{self.section!r} is not an object of objects")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{self.path} is not a valid {self.path.name}: {exc}") from None
        self._cached, self.problem = (stamp, items), None
        return items

    @contextlib.contextmanager
    def updating(self) -> Iterator[dict[str, dict[str, Any]]]:
        """Hold the store's lock and yield a copy of the objects; what the body leaves in it is written."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self._lock):
            try:
                items = dict(self.read_strict())
            except StoreError:
                with contextlib.suppress(OSError):
                    self.path.replace(self.path.with_suffix(".json.broken"))
                LOGGER.warning("%s was damaged; set aside as %s", self.path, self.path.with_suffix(".json.broken"))
                items = {}
            yield items
            document = {"format": FORMAT_VERSION, self.section: dict(sorted(items.items()))}
            atomic_write(self.path, (json.dumps(document, indent=1) + "\n").encode())
            self._cached = None


class ModelStore:
    """One folder of models with its manifest. See the module docstring."""

    def __init__(self, root: str | os.PathLike[str], *, writable: bool):
        self.root = Path(root)
        self.writable = writable
        self._manifest = JsonDocument(self.root / MANIFEST, MODELS_SECTION, self.root / ".lock")
        self._results = JsonDocument(self.root / RESULTS, "results", self.root / ".lock")
        self._entries: tuple[object, dict[str, ModelEntry], tuple[str, ...]] | None = None

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r}, writable={self.writable})"

    # -- reading -------------------------------------------------------------

    def entries(self) -> dict[str, ModelEntry]:
        """The manifest's entries by id: empty if there is no manifest yet, or if it is damaged
        (:attr:`problem` says why; a damaged cache must not take the page down). An entry this
        version cannot read is left out, and :attr:`problem` names it."""
        items = self._manifest.read()
        if self._entries is None or self._entries[0] is not items:  # read again only when the file changed
            entries, problems = {}, []
            for mid, data in items.items():
                try:
                    entries[mid] = ModelEntry.from_json(data)
                except ManifestError as exc:
                    problems.append(str(exc))
            for problem in problems:
                LOGGER.warning("%s: %s", self.root / MANIFEST, problem)
            self._entries = (items, entries, tuple(problems))
        return self._entries[1]

    @property
    def problem(self) -> str | None:
        """Why the manifest, one of its entries, or the results could not be read, or None."""
        unread = self._entries[2] if self._entries else ()
        return self._manifest.problem or (f"{self.root / MANIFEST}: {unread[0]}" if unread else None) \
            or self._results.problem

    def result(self, key: str) -> dict[str, Any] | None:
        """The stored result of task ``key`` (its JSON form, :mod:`advdemo.serving.tasks`), or None."""
        record = self._results.read().get(key)
        return record.get("result") if record else None

    def results(self) -> dict[str, dict[str, Any]]:
        """Every stored result's record (its kind, result, seconds and date), by task key."""
        return self._results.read()

    def put_result(self, key: str, kind: str, result: dict[str, Any], *, seconds: float) -> None:
        """Keep the result of task ``key``, so it is never measured again, even after a restart."""
        if not self.writable:
            raise StoreError(f"{self.root} is read-only")
        record = {"kind": kind, "result": result, "seconds": round(float(seconds), 2),
                  "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        with self._results.updating() as results:
            results[key] = record

    def entry(self, mid: str) -> ModelEntry | None:
        return self.entries().get(mid)

    def read_weights(self, mid: str) -> tuple[list[np.ndarray], ModelEntry]:
        """The verified weights and manifest entry of model ``mid``.

        Raises :class:`IntegrityError` if the file is missing, its SHA-256
        differs from the manifest's, or the entry does not belong to ``mid``.
        """
        entry = self.entry(mid)
        if entry is None:
            raise StoreError(f"model {mid} is not in {self.root}")
        try:
            hparams = entry.hparams
        except ManifestError as exc:
            raise IntegrityError(f"{exc} ({self.root})") from None
        if model_id(hparams, entry.kind) != mid or entry.id != mid:
            raise IntegrityError(f"manifest entry {mid} in {self.root} describes a different model")
        path = self.root / Path(entry.file).name  # never leave the store's folder
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IntegrityError(f"{path}: cannot read: {exc.strerror or exc}") from None
        actual = sha256_bytes(data)
        if actual != entry.sha256:
            raise IntegrityError(
                f"{path}: SHA-256 {actual[:12]}… does not match the manifest's {entry.sha256[:12]}…; "
                "the file is corrupt, truncated or not the model it claims to be"
            )
        return weights_from_bytes(data), entry

    def load(self, mid: str, build: Callable[[HParams], Any] | None = None):
        """Rebuild model ``mid`` from its configuration and load its verified weights.

        ``build(hparams)``: the network to load them into (default: a new one, ``build_base_model``).
        Returns ``(keras.Model, ModelEntry)``.
        """
        from advdemo.core.model import build_base_model  # noqa: PLC0415 - imports TensorFlow

        weights, entry = self.read_weights(mid)
        model = (build or build_base_model)(entry.hparams)
        expected = [tuple(w.shape) for w in model.get_weights()]
        if [tuple(w.shape) for w in weights] != expected:
            raise IntegrityError(f"{self.root / entry.file}: weight shapes do not match the model")
        model.set_weights(weights)
        return model, entry

    # -- writing -------------------------------------------------------------

    def put(self, hparams: HParams, kind: ModelKind | str, weights: list[np.ndarray], *,
            train_seconds: float, metrics: Metrics | None = None) -> ModelEntry:
        """Store a trained network's weights with its manifest entry; returns the entry.

        The weights file is complete on disk before the manifest names it.
        """
        if not self.writable:
            raise StoreError(f"{self.root} is read-only")
        mid = model_id(hparams, kind)
        data = weights_to_bytes(weights)
        entry = ModelEntry(id=mid, kind=ModelKind(kind), file=mid + WEIGHTS_SUFFIX, sha256=sha256_bytes(data),
                           size_bytes=len(data), hparams_json=to_dict(hparams),
                           train_seconds=round(float(train_seconds), 2), metrics=metrics or Metrics(),
                           versions=_versions(), created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
        with self._manifest.updating() as models:
            atomic_write(self.root / entry.file, data)
            models[mid] = entry.to_json()
        return entry

    def update_metrics(self, mid: str, change: Callable[[Metrics], Metrics]) -> None:
        """Replace model ``mid``'s metrics with ``change(metrics)``, under the store's lock (so two writers
        adding different measurements keep both)."""
        with self._manifest.updating() as models:
            if mid not in models:
                raise StoreError(f"model {mid} is not in {self.root}")
            try:
                entry = ModelEntry.from_json(models[mid])
            except ManifestError as exc:
                raise StoreError(f"{self.root / MANIFEST}: {exc}") from None
            models[mid] = dataclasses.replace(entry, metrics=change(entry.metrics)).to_json()


def default_stores() -> list[ModelStore]:
    """The shipped ``pretrained/`` store (or ``$ADVDEMO_PRETRAINED_DIR``), then the per-user cache."""
    pretrained = Path(os.environ.get(PRETRAINED_ENV) or PRETRAINED_DIR).expanduser()
    return [ModelStore(pretrained, writable=False), ModelStore(default_cache_dir(), writable=True)]


def find_model(stores: list[ModelStore], mid: str, log: LogFn = log_info,
               build: Callable[[HParams], Any] | None = None):
    """Load model ``mid`` from the first store that has a verified copy (into ``build(hparams)``, as
    :meth:`ModelStore.load`).

    Returns ``(keras.Model, entry, store)``, or None if no store has a good
    copy. A corrupt or foreign copy is reported through ``log`` and skipped.
    """
    for store in stores:
        try:
            if store.entry(mid) is None:
                continue
            model, entry = store.load(mid, build)
            return model, entry, store
        except StoreError as exc:
            log(f"skipping a copy of {mid}: {exc}")
    return None
