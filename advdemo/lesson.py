"""A five-step guided lesson for a class: from the tutorial's result to a truly robust model.

Each step is a whole view of the page (:class:`advdemo.viewstate.ViewState`),
so one click sets every control, and a link to the step reproduces it. The
texts state no numbers of their own: the page shows the measured ones next to
them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from advdemo.config import ROBUST_EPSILONS, AttackMethod, EvalMode, Norm, TrainingAttack
from advdemo.viewstate import DEFAULT, MAX_PGD_ITERATIONS, ViewState

#: The strongest attack the page's PGD control offers: the strong evaluation's step count.
_PGD: dict[str, Any] = dict(attack=AttackMethod.PGD, iterations=MAX_PGD_ITERATIONS, mode=EvalMode.WHITEBOX)


@dataclass(frozen=True)
class LessonStep:
    """One step: a short title for its button, one or two sentences, and the view it sets."""

    title: str
    text: str
    view: ViewState


LESSON: tuple[LessonStep, ...] = (
    LessonStep(
        "1 · The tutorial's result",
        f"Both models see the same digits, pushed by one FGSM step of ε {DEFAULT.strength:g} crafted against "
        "the *base* "
        "model, as in the tutorial. The base model falls to about half; the regularized model keeps "
        "almost all. Now read the worst-case row beside it.",
        DEFAULT,
    ),
    LessonStep(
        "2 · Its own gradient",
        "White-box: each model is now attacked through its own gradient. The regularized model still "
        "looks strong against one FGSM step.",
        dataclasses.replace(DEFAULT, mode=EvalMode.WHITEBOX),
    ),
    LessonStep(
        "3 · Under PGD",
        f"PGD takes {MAX_PGD_ITERATIONS} small steps within the same budget, reading the gradient again at each "
        "one. The "
        "regularized model falls to under half: training on one FGSM step taught it to resist that "
        "step, not every change of size ε.",
        dataclasses.replace(DEFAULT, **_PGD),
    ),
    LessonStep(
        "4 · The masking sign",
        "This model (step 0.3, multiplier 0.2) resists an FGSM step built from its own gradient better "
        "than one built from the base model's. A model's own gradient should make the strongest step: "
        "its gradient points the wrong way near the digits. That is gradient masking; the warning "
        "below spells out the numbers. Switch the mode to transfer to compare.",
        dataclasses.replace(DEFAULT, norm=Norm.INFINITY, step=0.3, multiplier=0.2, strength=0.3,
                            mode=EvalMode.WHITEBOX),
    ),
    LessonStep(
        "5 · The fix: PGD training",
        "This model was trained by NSL on PGD examples (pgd_iterations, pgd_epsilon and random_init in "
        "its adversarial config) within ε 0.3. The same small network now keeps most digits even in "
        "the worst case over every attack.",
        dataclasses.replace(DEFAULT, train_attack=TrainingAttack.PGD, train_eps=ROBUST_EPSILONS[-1],
                            strength=ROBUST_EPSILONS[-1], **_PGD),
    ),
)
