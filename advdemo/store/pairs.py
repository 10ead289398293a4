"""Model pairs (a base model and its regularized copy), loaded once per process and shared.

Keras models are not guaranteed to be thread-safe, so each pair carries a lock
that every use holds. Pairs live in a bounded cache (about 1 MB of weights
each), so a long-running server's memory stays bounded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from advdemo.core.config import HParams, ModelKind
from advdemo.logs import LOGGER
from advdemo.memo import LruCache
from advdemo.store.manifest import ModelEntry
from advdemo.store.storage import ModelStore, find_model, model_id

PAIR_CACHE_SIZE = 16


@dataclass
class ModelPair:
    """A base model and its regularized copy, with their manifest entries.

    ``pretrained`` says, per model, whether it shipped pretrained (else it was trained on this machine).
    """

    hparams: HParams
    base: Any
    regularized: Any
    base_entry: ModelEntry
    regularized_entry: ModelEntry
    pretrained: dict[ModelKind, bool]
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return self.base_entry.id, self.regularized_entry.id

    def entry(self, kind: ModelKind) -> ModelEntry:
        return self.base_entry if kind is ModelKind.BASE else self.regularized_entry


class PairLoader:
    """Finds, verifies and caches model pairs from a list of stores, first store first."""

    def __init__(self, stores: list[ModelStore], size: int = PAIR_CACHE_SIZE):
        self.stores = stores
        self._pairs: LruCache[ModelPair] = LruCache(size)
        self._lock = threading.Lock()
        #: Skipped corrupt files and the like, for the page to show once each.
        self.notes: list[str] = []

    def _note(self, message: str) -> None:
        LOGGER.warning("%s", message)
        with self._lock:
            if message not in self.notes:
                self.notes.append(message)

    def load(self, hparams: HParams) -> ModelPair | None:
        """The pair trained with ``hparams``, or None if either model is not stored (or no copy verifies)."""
        key = (model_id(hparams, ModelKind.BASE), model_id(hparams, ModelKind.REGULARIZED))
        hit = self._pairs.get(key)
        if hit is not None:
            return hit
        found = []
        for mid in key:
            loaded = find_model(self.stores, mid, self._note)
            if loaded is None:
                return None
            found.append(loaded)
        (base, base_entry, base_store), (reg, reg_entry, reg_store) = found
        pretrained = {kind: not store.writable for kind, store in zip(ModelKind, (base_store, reg_store))}
        return self._pairs.put(key, ModelPair(hparams, base, reg, base_entry, reg_entry, pretrained))
