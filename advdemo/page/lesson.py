"""A six-step guided lesson for a class: from the tutorial's result to a truly robust model.

Each step is a whole view of the page (:class:`advdemo.page.viewstate.ViewState`),
so one click sets every control, and a link to the step reproduces it. The
texts (catalogue keys ``lesson.step<N>_title`` / ``_text``, :mod:`advdemo.i18n`)
state no measured numbers: the page shows those next to them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from advdemo.core.config import LIVE_ROBUST, ROBUST_EPSILONS, AttackMethod, EvalMode, Norm, TrainingAttack
from advdemo.i18n import Message, message
from advdemo.page.viewstate import DEFAULT, MAX_PGD_ITERATIONS, ViewState

#: The strongest attack the page's PGD control offers: the strong evaluation's step count.
_PGD: dict[str, Any] = dict(attack=AttackMethod.PGD, iterations=MAX_PGD_ITERATIONS, mode=EvalMode.WHITEBOX)


@dataclass(frozen=True)
class LessonStep:
    """One step: a short title for its button, one or two sentences, and the view it sets."""

    title: Message
    text: Message
    view: ViewState
    #: The step's model is trained live, on the page (:data:`advdemo.core.config.LIVE_ROBUST`).
    trains: bool = False


def _step(n: int, view: ViewState, *, trains: bool = False, **fields: Any) -> LessonStep:
    return LessonStep(message(f"lesson.step{n}_title"), message(f"lesson.step{n}_text", **fields), view, trains)


_MASKING = dataclasses.replace(DEFAULT, norm=Norm.INFINITY, step=0.3, multiplier=0.2, strength=0.3,
                               mode=EvalMode.WHITEBOX)
_ROBUST = dataclasses.replace(DEFAULT, train_attack=TrainingAttack.PGD, train_eps=ROBUST_EPSILONS[-1],
                              strength=ROBUST_EPSILONS[-1], **_PGD)
#: The shipped PGD model of step 5, which step 6's live model is set beside.
SHIPPED_ROBUST = _ROBUST.hparams()
# The same ball as step 5's (a test checks that this view trains LIVE_ROBUST).
_LIVE = dataclasses.replace(_ROBUST, train_iters=LIVE_ROBUST.adv_pgd_iterations,
                            train_epochs=LIVE_ROBUST.adv_total_epochs, train_batch=LIVE_ROBUST.adv_batch_size)

LESSON: tuple[LessonStep, ...] = (
    # The tutorial's result; the base model falls to about half.
    _step(1, DEFAULT, strength=DEFAULT.strength),
    # White-box: each model through its own gradient.
    _step(2, dataclasses.replace(DEFAULT, mode=EvalMode.WHITEBOX)),
    # PGD: the regularized model falls to under half.
    _step(3, dataclasses.replace(DEFAULT, **_PGD), iterations=MAX_PGD_ITERATIONS),
    # A model whose own gradient makes a weaker step than the base model's: gradient masking.
    _step(4, _MASKING, step=_MASKING.step, multiplier=_MASKING.multiplier),
    # The fix: NSL's PGD training.
    _step(5, _ROBUST, epsilon=_ROBUST.train_eps),
    # The fix, trained live in minutes, beside the shipped model; and a training that collapses.
    _step(6, _LIVE, trains=True, iterations=LIVE_ROBUST.adv_pgd_iterations, epochs=LIVE_ROBUST.adv_total_epochs,
          batch=LIVE_ROBUST.batch(True), shipped_iterations=SHIPPED_ROBUST.adv_pgd_iterations,
          shipped_epochs=SHIPPED_ROBUST.adv_total_epochs, shipped_batch=SHIPPED_ROBUST.batch(True)),
)
