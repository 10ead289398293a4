"""Model pairs (a base model and its regularized copy), loaded once per process and shared.

Keras models are not guaranteed to be thread-safe, so each pair carries a lock
that every use holds. Pairs live in a bounded cache (about 1 MB of weights
each), and the networks of a dropped pair take the next pair's weights
(:class:`NetworkPool`), so a long-running server's memory stays bounded.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from advdemo.core.config import HParams, ModelKind
from advdemo.logs import LOGGER
from advdemo.memo import LruCache
from advdemo.store.manifest import ModelEntry
from advdemo.store.storage import ModelStore, find_model, model_id

PAIR_CACHE_SIZE = 16
#: Networks kept per architecture for the next pairs to load into.
SPARE_NETWORKS = 8


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


class NetworkPool:
    """Networks of dropped pairs, ready to take another pair's weights.

    Building a Keras network allocates TensorFlow state that dropping it does not all give back (about
    0.6 MB a pair loaded, measured in docs/benchmarks.md), and the attacks compiled for it
    (:func:`advdemo.core.attacks.compiled`) read its variables, so they serve the new weights as they
    are. A network comes here only once nothing holds its pair (a page run or a job may still be
    using it), so no one sees its weights change under them.
    """

    def __init__(self, size: int = SPARE_NETWORKS):
        self.size = size
        self._spare: dict[tuple, list[Any]] = {}
        # Re-entrant: a garbage collection inside ``build`` may hand a dropped pair's networks back.
        self._lock = threading.RLock()
        self.built = 0  #: networks built so far (the rest were reused)

    def build(self, hparams: HParams):
        """A network for ``hparams``: a spare one of its architecture, else a new one."""
        from advdemo.core.model import architecture, build_base_model  # noqa: PLC0415 - imports TensorFlow

        with self._lock:
            spares = self._spare.get(architecture(hparams))
            if spares:
                return spares.pop()
            self.built += 1
        return build_base_model(hparams)

    def give_back(self, *built: tuple[HParams, Any]) -> None:
        """Keep each ``(hparams, network)`` for the next load (up to :attr:`size` per architecture)."""
        from advdemo.core.model import architecture  # noqa: PLC0415 - imports TensorFlow

        with self._lock:
            for hparams, network in built:
                spares = self._spare.setdefault(architecture(hparams), [])
                if len(spares) < self.size:
                    spares.append(network)

    def spare_networks(self) -> list[Any]:
        """The networks kept for reuse, of every architecture."""
        with self._lock:
            return [network for spares in self._spare.values() for network in spares]

    def spares(self) -> int:
        """How many networks are kept for reuse."""
        return len(self.spare_networks())


class PairLoader:
    """Finds, verifies and caches model pairs from a list of stores, first store first."""

    def __init__(self, stores: list[ModelStore], size: int = PAIR_CACHE_SIZE):
        self.stores = stores
        self._pairs: LruCache[ModelPair] = LruCache(size)
        self.networks = NetworkPool()
        self._lock = threading.Lock()
        #: Skipped corrupt files and the like, for the page to show once each.
        self.notes: list[str] = []

    def _note(self, message: str) -> None:
        LOGGER.warning("%s", message)
        with self._lock:
            if message not in self.notes:
                self.notes.append(message)

    def held_networks(self) -> list[Any]:
        """Every network this loader holds: its cached pairs' and the spare ones (the memory benchmark
        counts their graphs)."""
        return [net for pair in self._pairs.values() for net in (pair.base, pair.regularized)] + \
            self.networks.spare_networks()

    def load(self, hparams: HParams) -> ModelPair | None:
        """The pair trained with ``hparams``, or None if either model is not stored (or no copy verifies)."""
        key = (model_id(hparams, ModelKind.BASE), model_id(hparams, ModelKind.REGULARIZED))
        hit = self._pairs.get(key)
        if hit is not None:
            return hit
        found = []
        for mid in key:
            loaded = find_model(self.stores, mid, self._note, build=self.networks.build)
            if loaded is None:
                return None
            found.append(loaded)
        (base, base_entry, base_store), (reg, reg_entry, reg_store) = found
        pretrained = {kind: not store.writable for kind, store in zip(ModelKind, (base_store, reg_store))}
        pair = ModelPair(hparams, base, reg, base_entry, reg_entry, pretrained)
        # Once the cache has dropped the pair and no one uses it any more, its networks serve the next pairs.
        weakref.finalize(pair, self.networks.give_back, (base_entry.hparams, base), (reg_entry.hparams, reg))
        return self._pairs.put(key, pair)
