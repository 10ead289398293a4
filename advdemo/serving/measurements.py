"""A pair's test-set numbers as the page asks for them: stored ones at once, the rest as tasks.

Everything here answers within milliseconds. Numbers come, in order, from the
manifest (pretrained models' curves and strong evaluations), from the stores'
results (:meth:`advdemo.store.storage.ModelStore.result`: measured earlier, on this
server or ahead of time) or from this process's memo. A number none of them
has is described as a task (:mod:`advdemo.serving.tasks`) for the job queue to
measure; :class:`advdemo.serving.service.ModelService` does that.

The grids' attacked digits and a user's own digit are light (32 digits, or
one) and are computed here, in the page's run, on the page's own models.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from advdemo.core.accuracies import PairAccuracies
from advdemo.core.config import NORM_SPECS, Attack, ModelKind, Norm, StrongEval
from advdemo.core.data import Mnist
from advdemo.core.evaluation import Attacked, attack_pair
from advdemo.core.results import Curve, Evaluation
from advdemo.experiments.stored import best_stored_pair, stored_entry, stored_fgsm_curve, stored_worst_curves
from advdemo.logs import LOGGER
from advdemo.memo import LruCache, array_digest
from advdemo.serving.own_digit import OwnDigitReport, examine
from advdemo.serving.tasks import CurveTask, MetricsTask, StrongTask
from advdemo.store.pairs import ModelPair
from advdemo.store.storage import ModelStore, model_id

#: PGD costs a gradient per iteration per image, so its test-set numbers use
#: the first this many test images (the page says so), and its curves fewer still.
PGD_EXAMPLES = 1000
PGD_CURVE_EXAMPLES = 300
#: Curves measured on demand (models trained on this server) use the first this
#: many test digits: a few seconds instead of twenty, within ±2.2 points (95%).
#: Pretrained models' curves come from the manifest, on the whole test set.
CURVE_EXAMPLES = 2000
MEMO_SIZE = 256
#: Attacked grids kept for other sessions (about 0.2 MB each): a class looks at the same views.
ATTACKED_MEMO_SIZE = 64

MeasurementTask = MetricsTask | CurveTask | StrongTask


def test_fingerprint(mnist: Mnist) -> str:
    """A short digest of the test set: results measured on other digits are never taken for these."""
    return array_digest(mnist.test_labels).hex()[:8] + array_digest(mnist.test_images).hex()[:8]


class Measurements:
    """Stored numbers of model pairs, and the tasks that measure the missing ones.

    ``mnist`` is called whenever the test set is needed (it is loaded once by the caller).
    """

    def __init__(self, mnist: Callable[[], Mnist], stores: Sequence[ModelStore], size: int = MEMO_SIZE):
        self._mnist = mnist
        self._stores = stores
        self._memo: LruCache[Any] = LruCache(size)
        self._attacked: LruCache[Attacked] = LruCache(ATTACKED_MEMO_SIZE)
        self._fingerprint: str | None = None
        self._lock = threading.Lock()

    def _test_size(self) -> int:
        return len(self._mnist().test_labels)

    def fingerprint(self) -> str:
        with self._lock:
            if self._fingerprint is None:
                self._fingerprint = test_fingerprint(self._mnist())
            return self._fingerprint

    def examples_for(self, attack: Attack, *, curve: bool = False) -> int:
        """How many test images the numbers measured now for ``attack`` use."""
        n = self._test_size()
        if attack.method.spec.iterative:  # costly per digit: fewer digits
            return min(n, PGD_CURVE_EXAMPLES if curve else PGD_EXAMPLES)
        return min(n, CURVE_EXAMPLES) if curve else n

    # -- the tasks that measure what is not stored --------------------------------------

    def metrics_task(self, pair: ModelPair, attack: Attack) -> MetricsTask:
        return MetricsTask(pair.hparams, self.examples_for(attack), self.fingerprint(), attack)

    def curve_task(self, pair: ModelPair, attack: Attack) -> CurveTask:
        return CurveTask(pair.hparams, self.examples_for(attack, curve=True), self.fingerprint(), attack)

    def strong_task(self, pair: ModelPair, norm: Norm, strength: float) -> StrongTask:
        cfg = StrongEval()
        return StrongTask(pair.hparams, min(self._test_size(), cfg.examples), self.fingerprint(), norm, strength, cfg)

    def result(self, task: MeasurementTask) -> Any | None:
        """``task``'s result if this process or any store has it, else None."""
        key = task.key()
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        for store in self._stores:
            data = store.result(key)
            if data is None:
                continue
            try:
                return self._memo.put(key, task.decode(data))
            except (KeyError, TypeError, ValueError) as exc:  # a damaged record: measured again
                LOGGER.warning("ignoring a malformed result %s in %s: %s", key, store.root, exc)
        return None

    def keep(self, task: MeasurementTask, data: dict[str, Any]) -> Any:
        """Remember ``task``'s result (its JSON form) in this process; returns it decoded."""
        return self._memo.put(task.key(), task.decode(data))

    # -- stored numbers -------------------------------------------------------------------

    def stored_curve(self, pair: ModelPair, attack: Attack) -> Curve | None:
        """Both models' FGSM curve for ``attack``'s norm and mode, from the manifest (whole test set)."""
        return stored_fgsm_curve(pair.base_entry, pair.regularized_entry, attack, self._test_size())

    def curve(self, pair: ModelPair, attack: Attack) -> Curve | None:
        """Both models' accuracy at the standard strengths of ``attack.norm``, if stored or measured."""
        return self.stored_curve(pair, attack) or self.result(self.curve_task(pair, attack))

    def test_metrics(self, pair: ModelPair, attack: Attack) -> Evaluation | None:
        """Clean and attacked test accuracy of both models under ``attack``, if stored or measured."""
        stored = self.stored_curve(pair, attack)
        if stored is not None and attack.strength in NORM_SPECS[attack.norm].strengths:
            return stored.at(attack.strength)
        return self.result(self.metrics_task(pair, attack))

    def strong(self, pair: ModelPair, norm: Norm, strength: float) -> PairAccuracies | None:
        """Both models' strong-evaluation accuracies at ``strength``, if stored or measured.

        The manifest's numbers come from the whole test set where it was
        measured, else from the fixed subset.
        """
        stored = best_stored_pair(pair.base_entry, pair.regularized_entry, norm, strength)
        return stored if stored is not None else self.result(self.strong_task(pair, norm, strength))

    def strong_curve(self, pair: ModelPair, norm: Norm) -> Curve | None:
        """Both models' stored worst-case curves under ``norm`` attacks, or None."""
        return stored_worst_curves(pair.base_entry, pair.regularized_entry, norm)

    def seed_curves(self, pair: ModelPair, attack: Attack) -> list[Curve]:
        """The stored curves of ``pair``'s configuration trained from every seed the stores hold
        (``pair``'s own included), in seed order; fewer than two: no spread to show, an empty list."""
        hp = pair.hparams
        if hp is None:
            return []

        def compute() -> list[Curve]:
            seeds = sorted({e.hparams_json.get("seed", 0) for store in self._stores
                            for e in store.entries().values() if e.kind is ModelKind.REGULARIZED})
            curves = []
            for seed in seeds:
                sibling = dataclasses.replace(hp, seed=seed)
                base = stored_entry(self._stores, model_id(sibling, ModelKind.BASE))
                reg = stored_entry(self._stores, model_id(sibling, ModelKind.REGULARIZED))
                curve = stored_fgsm_curve(base, reg, attack, self._test_size()) if base and reg else None
                if curve is not None:
                    curves.append(curve)
            return curves if len(curves) > 1 else []

        return self._memo.get_or_compute(("seeds", pair.key, dataclasses.replace(attack, strength=0.0)), compute)

    # -- light work, in the page's run ----------------------------------------------------

    def attack_digits(self, pair: ModelPair, images: np.ndarray, labels: np.ndarray, attack: Attack) -> Attacked:
        """Both models on attacked ``images`` ``(N, 28, 28, 1)`` in [0, 1] (N is a grid: 32 at most).

        Kept for the next session that shows the same digits under the same
        attack (the attacks are deterministic): in a class, most slider moves
        land on a view someone else has just computed.
        """
        key = (pair.key, attack, array_digest(images), labels.tobytes())

        def compute() -> Attacked:
            with pair.lock:
                attacked = attack_pair(pair.base, pair.regularized, images, labels, attack)
            for array in vars(attacked).values():  # shared between sessions: read-only
                array.setflags(write=False)
            return attacked

        return self._attacked.get_or_compute(key, compute)

    def own_digit(self, pair: ModelPair, image: np.ndarray, label: int, attack: Attack) -> OwnDigitReport:
        """:func:`advdemo.serving.own_digit.examine`, kept per digit and attack: a student who drew a digit
        reruns the whole results section with every slider move, and the digit has not changed."""
        return self._memo.get_or_compute(("own", pair.key, array_digest(image), label, attack),
                                         lambda: examine(pair, image, label, attack))
