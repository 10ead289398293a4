"""Strong evaluation: white-box PGD with restarts and the worst case per digit.

Its results are :mod:`advdemo.core.accuracies`; the masking detector that reads
them is :mod:`advdemo.core.masking`.

A single FGSM step, above all one crafted on *another* model (the tutorial's
transfer evaluation), can flatter a model whose gradients point the wrong way
near the data (gradient masking). The strong evaluation therefore asks, for
every digit, whether *any* of these attacks fools the model:

* transfer FGSM (crafted against the base model),
* white-box FGSM (the model's own gradient),
* white-box PGD, :attr:`StrongEval.iterations` steps, from
  :attr:`StrongEval.restarts` random starts in the epsilon ball.

A digit counts as robust only if the model answers it correctly clean and
under every attack: the *worst case*. Restarts attack only the digits that
no earlier restart fooled, which gives exactly the worst case over all
restarts at a fraction of the cost.

Along a curve of growing strengths an adversarial example found within a
smaller ball lies within every larger one, so for PGD and the worst case a
digit fooled at one strength counts as fooled at all larger ones ("carried
over"). That makes those curves monotone and cheaper, and only ever lowers
them. FGSM is reported as the tutorial defines it, one step of exactly the
strength; a digit that a *smaller* FGSM step fools but the full step does not
is itself a sign of masking, and the worst case catches it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from advdemo.core.accuracies import PGD_PART, Outcomes, PairOutcomes
from advdemo.core.attacks import fgsm_directions, perturb
from advdemo.core.compat import keras
from advdemo.core.config import Attack, AttackMethod, Norm, StrongEval
from advdemo.core.evaluation import predict

#: Progress of a strong evaluation: units done and units in all (one unit is
#: one PGD restart over the digits still standing at one strength).
EvalProgressFn = Callable[[int, int], None]

def _pgd_attack(norm: Norm, strength: float, cfg: StrongEval, restart: int) -> Attack:
    return Attack(method=AttackMethod.PGD, norm=norm, strength=strength, pgd_iterations=cfg.iterations,
                  random_start=True, seed=cfg.seed + restart)


def pgd_correct(model: keras.Model, images: np.ndarray, labels: np.ndarray, norm: Norm, strength: float,
                cfg: StrongEval, *, alive: np.ndarray | None = None,
                progress: Callable[[], None] | None = None) -> np.ndarray:
    """Whether ``model`` answers each digit correctly under every PGD restart: ``(N,)`` bool.

    ``images`` ``(N, 28, 28, 1)`` in [0, 1]; ``labels`` ``(N,)``. Only digits
    with ``alive`` set (default: all) are attacked; the others count as
    fooled already. Each restart attacks the digits no earlier restart fooled,
    and stops attacking a digit as soon as an iterate fools the model (checked
    every :data:`PGD_PART` steps): the same adversarial examples are found or
    more, at a fraction of the cost. ``progress`` is called once per restart.
    """
    alive = np.ones(len(labels), bool) if alive is None else alive.copy()
    for restart in range(cfg.restarts):
        attack = _pgd_attack(norm, strength, cfg, restart)
        index = np.flatnonzero(alive) if strength > 0 else np.array([], int)
        current = None
        for done in range(0, cfg.iterations, PGD_PART):
            if not len(index):
                break
            steps = min(PGD_PART, cfg.iterations - done)
            current = perturb(model, images[index], labels[index], attack, start=current, iterations=steps)
            correct = predict(model, current) == labels[index]
            alive[index[~correct]] = False
            index, current = index[correct], current[correct]
        if progress:
            progress()
    return alive


def _fgsm_correct(model: keras.Model, images: np.ndarray, labels: np.ndarray, directions: np.ndarray,
                  strength: float) -> np.ndarray:
    return predict(model, np.clip(images + np.float32(strength) * directions, 0.0, 1.0)) == labels


def outcome_curve(model: keras.Model, images: np.ndarray, labels: np.ndarray, norm: Norm,
                  strengths: Sequence[float], cfg: StrongEval = StrongEval(), *,
                  transfer_directions: np.ndarray | None = None,
                  own: tuple[np.ndarray, np.ndarray] | None = None,
                  progress: EvalProgressFn | None = None) -> list[Outcomes]:
    """One model's per-digit outcomes at each of ``strengths`` (ascending), carried over.

    ``transfer_directions`` are the base model's FGSM directions for these
    images (:func:`advdemo.core.attacks.fgsm_directions`); None means ``model`` is
    the base model, whose own gradient is the transfer attack. FGSM outcomes
    are for one step of exactly each strength. PGD and the worst case are
    carried over: a digit fooled at a smaller strength counts as fooled at
    every larger one (the example lies within the larger ball too), so they
    are monotone in the strength. Strength 0 gives the clean outcomes.
    ``own`` may pass ``model``'s :func:`advdemo.core.attacks.fgsm_directions` result
    when the caller has it already.
    """
    strengths = [float(s) for s in strengths]
    if strengths != sorted(strengths):
        raise ValueError("strengths must be ascending")
    for s in strengths:
        Attack(norm=norm, strength=s)  # validates each strength for the norm
    labels = np.asarray(labels)
    own_dir, predictions = own if own is not None else fgsm_directions(model, images, labels, norm)
    transfer = own_dir if transfer_directions is None else transfer_directions
    clean = predictions == labels
    pgd_ok, worst = clean.copy(), clean.copy()
    total, done = len(strengths) * cfg.restarts, 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    curve = []
    for s in strengths:
        transfer_ok = clean & _fgsm_correct(model, images, labels, transfer, s)
        white_ok = transfer_ok if transfer is own_dir else clean & _fgsm_correct(model, images, labels, own_dir, s)
        pgd_ok = pgd_correct(model, images, labels, norm, s, cfg, alive=pgd_ok, progress=tick)
        worst &= transfer_ok & white_ok & pgd_ok
        curve.append(Outcomes(clean, transfer_ok, white_ok, pgd_ok, worst.copy()))
    return curve


def strong_curves(base: keras.Model, regularized: keras.Model, images: np.ndarray, labels: np.ndarray, norm: Norm,
                  strengths: Sequence[float], cfg: StrongEval = StrongEval(), *,
                  progress: EvalProgressFn | None = None) -> list[PairOutcomes]:
    """Both models' per-digit outcomes at each of ``strengths`` (see :func:`outcome_curve`)."""
    steps = len(strengths) * cfg.restarts
    base_own = fgsm_directions(base, images, labels, norm)
    base_curve = outcome_curve(base, images, labels, norm, strengths, cfg, own=base_own,
                               progress=progress and (lambda d, _: progress(d, 2 * steps)))
    reg_curve = outcome_curve(regularized, images, labels, norm, strengths, cfg, transfer_directions=base_own[0],
                              progress=progress and (lambda d, _: progress(steps + d, 2 * steps)))
    return [PairOutcomes(float(s), norm, b, r) for s, b, r in zip(strengths, base_curve, reg_curve)]


def strong_at(base: keras.Model, regularized: keras.Model, images: np.ndarray, labels: np.ndarray, norm: Norm,
              strength: float, cfg: StrongEval = StrongEval(), *,
              progress: EvalProgressFn | None = None) -> PairOutcomes:
    """Both models' per-digit outcomes at one strength (no smaller strengths tried)."""
    return strong_curves(base, regularized, images, labels, norm, [strength], cfg, progress=progress)[0]
