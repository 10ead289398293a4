"""Test-set results for a model pair, computed once per process and shared by every session.

For pretrained models the numbers come straight from the manifest; otherwise
they are measured on demand and kept in a bounded memo. Everything here
depends only on the pair and the attack, never on the session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from advdemo.config import NORM_SPECS, Attack, AttackMethod, ModelKind, Norm, StrongEval
from advdemo.data import Mnist
from advdemo.evaluation import Attacked, StepProgressFn, attack_pair, evaluate, robustness_curve
from advdemo.experiment import stored_fgsm_curve
from advdemo.memo import LruCache, array_digest
from advdemo.own_digit import OwnDigitReport, examine
from advdemo.pairs import ModelPair
from advdemo.report import best_stored_pair, stored_entry, stored_worst_curves
from advdemo.results import Curve, Evaluation
from advdemo.robustness import EvalProgressFn, PairAccuracies, strong_at
from advdemo.storage import ModelStore, model_id

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


class Measurements:
    """Accuracies, curves and the strong evaluation of model pairs on the MNIST test set.

    ``mnist`` is called whenever the test set is needed (it is loaded once by the caller).
    """

    def __init__(self, mnist: Callable[[], Mnist], size: int = MEMO_SIZE):
        self._mnist = mnist
        self._memo: LruCache[Any] = LruCache(size)
        self._attacked: LruCache[Attacked] = LruCache(ATTACKED_MEMO_SIZE)

    def _test_size(self) -> int:
        return len(self._mnist().test_labels)

    def examples_for(self, attack: Attack, *, curve: bool = False) -> int:
        """How many test images the numbers measured now for ``attack`` use."""
        n = self._test_size()
        if attack.method is AttackMethod.PGD:
            return min(n, PGD_CURVE_EXAMPLES if curve else PGD_EXAMPLES)
        return min(n, CURVE_EXAMPLES) if curve else n

    @staticmethod
    def _curve_key(pair: ModelPair, attack: Attack) -> tuple:
        return "curve", pair.key, dataclasses.replace(attack, strength=0.0)

    @staticmethod
    def _metrics_key(pair: ModelPair, attack: Attack) -> tuple:
        return "metrics", pair.key, attack

    def _stored_curve(self, pair: ModelPair, attack: Attack) -> Curve | None:
        return stored_fgsm_curve(pair.base_entry, pair.regularized_entry, attack, self._test_size())

    def _metrics_in_manifest(self, pair: ModelPair, attack: Attack) -> bool:
        """Whether the stored curve holds ``attack``'s strength, so no evaluation is needed."""
        return attack.strength in NORM_SPECS[attack.norm].strengths and self._stored_curve(pair, attack) is not None

    def ready(self, pair: ModelPair, attack: Attack) -> bool:
        """Whether :meth:`test_metrics` and :meth:`curve` answer at once, from the manifest or the memo."""
        stored = self._stored_curve(pair, attack) is not None
        metrics = self._metrics_in_manifest(pair, attack) or self._metrics_key(pair, attack) in self._memo
        return metrics and (stored or self._curve_key(pair, attack) in self._memo)

    def attack_digits(self, pair: ModelPair, images: np.ndarray, labels: np.ndarray, attack: Attack) -> Attacked:
        """Both models on attacked ``images`` ``(N, 28, 28, 1)`` in [0, 1].

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
        """:func:`advdemo.own_digit.examine`, kept per digit and attack: a student who drew a digit
        reruns the whole results section with every slider move, and the digit has not changed."""
        return self._memo.get_or_compute(("own", pair.key, array_digest(image), label, attack),
                                         lambda: examine(pair, image, label, attack))

    def curve(self, pair: ModelPair, attack: Attack, progress: StepProgressFn | None = None) -> Curve:
        """Both models' accuracy at the standard strengths of ``attack.norm`` (``attack.strength`` is ignored).

        From the manifest when it has them, else measured now on the first
        :meth:`examples_for` test digits, ``progress(done, total)`` as it goes.
        """
        stored = self._stored_curve(pair, attack)
        if stored:
            return stored

        def compute() -> Curve:
            n = self.examples_for(attack, curve=True)
            mnist = self._mnist()
            with pair.lock:
                return robustness_curve(pair.base, pair.regularized, mnist.test_images[:n], mnist.test_labels[:n],
                                        attack, NORM_SPECS[attack.norm].strengths, progress=progress)

        return self._memo.get_or_compute(self._curve_key(pair, attack), compute)

    def test_metrics(self, pair: ModelPair, attack: Attack) -> Evaluation:
        """Clean and attacked test accuracy of both models under ``attack``."""
        if self._metrics_in_manifest(pair, attack):
            return self.curve(pair, attack).at(attack.strength)

        def compute() -> Evaluation:
            n = self.examples_for(attack)
            mnist = self._mnist()
            with pair.lock:
                return evaluate(pair.base, pair.regularized, mnist.test_images[:n], mnist.test_labels[:n], attack)

        return self._memo.get_or_compute(self._metrics_key(pair, attack), compute)

    def seed_curves(self, pair: ModelPair, attack: Attack, stores: Sequence[ModelStore]) -> list[Curve]:
        """The stored curves of ``pair``'s configuration trained from every seed the stores hold
        (``pair``'s own included), in seed order; fewer than two: no spread to show, an empty list."""
        hp = pair.hparams
        if hp is None:
            return []

        def compute() -> list[Curve]:
            seeds = sorted({e["hparams"].get("seed", 0) for store in stores for e in store.entries().values()
                            if e.get("kind") == ModelKind.REGULARIZED.value})
            curves = []
            for seed in seeds:
                sibling = dataclasses.replace(hp, seed=seed)
                base = stored_entry(stores, model_id(sibling, ModelKind.BASE))
                reg = stored_entry(stores, model_id(sibling, ModelKind.REGULARIZED))
                curve = stored_fgsm_curve(base, reg, attack, self._test_size()) if base and reg else None
                if curve is not None:
                    curves.append(curve)
            return curves if len(curves) > 1 else []

        return self._memo.get_or_compute(("seeds", pair.key, dataclasses.replace(attack, strength=0.0)), compute)

    def strong_curve(self, pair: ModelPair, norm: Norm) -> Curve | None:
        """Both models' stored worst-case curves under ``norm`` attacks, or None."""
        return stored_worst_curves(pair.base_entry, pair.regularized_entry, norm)

    def strong_ready(self, pair: ModelPair, norm: Norm, strength: float) -> bool:
        """Whether :meth:`strong` answers at once (stored, or computed earlier in this process)."""
        return (best_stored_pair(pair.base_entry, pair.regularized_entry, norm, strength) is not None
                or ("strong", pair.key, norm, strength) in self._memo)

    def strong(self, pair: ModelPair, norm: Norm, strength: float,
               progress: EvalProgressFn | None = None) -> PairAccuracies:
        """Both models' strong-evaluation accuracies at ``strength``: stored, or measured now.

        Stored numbers come from the whole test set where it was measured,
        else from the fixed subset. Otherwise measured now on the first
        :attr:`StrongEval.examples` test digits, with ``progress`` called as it
        goes (tens of seconds on two cores).
        """
        stored = best_stored_pair(pair.base_entry, pair.regularized_entry, norm, strength)
        if stored is not None:
            return stored

        def compute() -> PairAccuracies:
            cfg = StrongEval()
            mnist = self._mnist()
            x, y = mnist.test_images[:cfg.examples], mnist.test_labels[:cfg.examples]
            with pair.lock:
                return PairAccuracies.of(strong_at(pair.base, pair.regularized, x, y, norm, strength, cfg,
                                                   progress=progress))

        return self._memo.get_or_compute(("strong", pair.key, norm, strength), compute)
