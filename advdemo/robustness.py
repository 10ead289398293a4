"""Strong evaluation: white-box PGD with restarts and the worst case per digit.

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

import dataclasses
import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from advdemo.attacks import fgsm_directions, perturb
from advdemo.compat import keras
from advdemo.config import NORM_SPECS, Attack, AttackMethod, Norm, StrongEval
from advdemo.evaluation import predict
from advdemo.i18n import Catalogue, english, message

#: Progress of a strong evaluation: units done and units in all (one unit is
#: one PGD restart over the digits still standing at one strength).
EvalProgressFn = Callable[[int, int], None]

#: z for a two-sided 95% interval.
_Z95 = 1.959964


def wilson_interval(successes: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n``, both ends in [0, 1].

    Used for every accuracy measured on a sample of digits. ``n == 0`` gives (0, 1).
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Outcomes:
    """Per digit, whether one model answers correctly: bool arrays ``(N,)``.

    ``transfer_fgsm`` is the same array as ``whitebox_fgsm`` for the base
    model, whose own gradient *is* the transfer attack. Every attack's array
    already counts clean mistakes as failures.
    """

    clean: np.ndarray
    transfer_fgsm: np.ndarray
    whitebox_fgsm: np.ndarray
    whitebox_pgd: np.ndarray
    #: Correct clean and under every attack (along a curve: at every strength so far).
    worst_case: np.ndarray


@dataclass(frozen=True)
class Rate:
    """An accuracy measured on ``n`` digits, with its 95% Wilson interval."""

    value: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, correct: np.ndarray) -> Rate:
        k, n = int(np.sum(correct)), int(np.size(correct))
        low, high = wilson_interval(k, n)
        return cls(k / n if n else float("nan"), low, high, n)


@dataclass(frozen=True)
class Accuracies:
    """One model's accuracies under each attack at one strength, each with its interval.

    AutoAttack's attacks (:mod:`advdemo.autoattack_eval`) are None where they
    were not run; where they were, ``worst_case`` includes them.
    """

    clean: Rate
    transfer_fgsm: Rate
    whitebox_fgsm: Rate
    whitebox_pgd: Rate
    worst_case: Rate
    apgd_ce: Rate | None = None
    apgd_t: Rate | None = None
    square: Rate | None = None

    @classmethod
    def of(cls, o: Outcomes) -> Accuracies:
        return cls(Rate.of(o.clean), Rate.of(o.transfer_fgsm), Rate.of(o.whitebox_fgsm),
                   Rate.of(o.whitebox_pgd), Rate.of(o.worst_case))

    @property
    def autoattack(self) -> bool:
        """Whether AutoAttack's attacks (Square too, under L-infinity) stand behind :attr:`worst_case`."""
        return self.apgd_ce is not None

    def rates(self) -> dict[str, Rate]:
        """Every measured rate by name (the attacks not run left out)."""
        return {name: rate for name, rate in vars(self).items() if rate is not None}


@dataclass(frozen=True)
class PairOutcomes:
    """Both models' :class:`Outcomes` at one attack strength."""

    strength: float
    norm: Norm
    base: Outcomes
    regularized: Outcomes


def _pgd_attack(norm: Norm, strength: float, cfg: StrongEval, restart: int) -> Attack:
    return Attack(method=AttackMethod.PGD, norm=norm, strength=strength, pgd_iterations=cfg.iterations,
                  random_start=True, seed=cfg.seed + restart)


#: PGD runs in parts of this many steps; a digit fooled after any part counts
#: as fooled (its example lies within the ball) and is not attacked further.
PGD_PART = 10


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
    images (:func:`advdemo.attacks.fgsm_directions`); None means ``model`` is
    the base model, whose own gradient is the transfer attack. FGSM outcomes
    are for one step of exactly each strength. PGD and the worst case are
    carried over: a digit fooled at a smaller strength counts as fooled at
    every larger one (the example lies within the larger ball too), so they
    are monotone in the strength. Strength 0 gives the clean outcomes.
    ``own`` may pass ``model``'s :func:`advdemo.attacks.fgsm_directions` result
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


@dataclass(frozen=True)
class PairAccuracies:
    """Both models' strong-evaluation accuracies at one attack strength, for the page and the CLI."""

    norm: Norm
    strength: float
    base: Accuracies
    regularized: Accuracies
    #: "manifest" (stored with a pretrained model) or "computed" (just now).
    source: str

    @classmethod
    def of(cls, outcomes: PairOutcomes, source: str = "computed") -> PairAccuracies:
        return cls(outcomes.norm, outcomes.strength, Accuracies.of(outcomes.base), Accuracies.of(outcomes.regularized),
                   source)

    @property
    def examples(self) -> int:
        return self.regularized.worst_case.n

    def to_json(self) -> dict[str, Any]:
        """Each rate as ``[value, low, high, n]``, by model and attack (the result store's form)."""
        def model(acc: Accuracies) -> dict[str, list[float]]:
            return {name: [r.value, r.low, r.high, r.n] for name, r in acc.rates().items()}

        return {"norm": self.norm.value, "strength": self.strength, "base": model(self.base),
                "regularized": model(self.regularized)}

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> PairAccuracies:
        """Inverse of :meth:`to_json`; KeyError, TypeError or ValueError on malformed data."""
        def model(part: dict[str, list[float]]) -> Accuracies:
            return Accuracies(**{name: Rate(float(v), float(lo), float(hi), int(n))
                                 for name, (v, lo, hi, n) in part.items()})

        return cls(Norm(data["norm"]), float(data["strength"]), model(data["base"]), model(data["regularized"]),
                   source)

    def signs(self) -> list[MaskingSign]:
        """The regularized model's gradient-masking signs at this strength."""
        return masking_signs(self.regularized, self.strength, self.norm)


# -- gradient masking ----------------------------------------------------------


class MaskingKind(enum.StrEnum):
    """The kinds of gradient-masking sign; each names its sentence in the catalogue (``masking.<kind>``)."""

    #: The model's own gradient makes a weaker single step than the base model's.
    WHITEBOX_ABOVE_TRANSFER = "whitebox-above-transfer"
    #: The model resists one gradient step but not several.
    PGD_FAR_BELOW_FGSM = "pgd-far-below-fgsm"
    #: Square, which reads no gradient, fools more digits than every gradient attack.
    GRADIENT_FREE_BELOW_GRADIENT = "gradient-free-below-gradient"


@dataclass(frozen=True)
class MaskingSign:
    """One sign of gradient masking in a model's numbers at one strength (accuracies in [0, 1])."""

    kind: MaskingKind
    strength: float
    norm: Norm
    stronger: float  # the accuracy under the attack that should have been the stronger one
    weaker: float  # the accuracy under the attack that should have been the weaker one
    n: int

    @property
    def gap(self) -> float:
        return self.stronger - self.weaker


#: A white-box FGSM accuracy this much above the transfer one, *and* outside
#: both 95% intervals, is a masking sign.
MASKING_MIN_GAP = 0.02
#: PGD leaving this many times as many errors as FGSM, by at least
#: :data:`PGD_GAP_MIN` accuracy, is a masking sign. An undefended model's
#: errors roughly double from FGSM to PGD; a masked one's grow far more.
PGD_ERROR_RATIO = 3.0
PGD_GAP_MIN = 0.20


def masking_signs(accuracies: Accuracies, strength: float, norm: Norm) -> list[MaskingSign]:
    """The gradient-masking signs in one model's accuracies at ``strength`` (empty: none)."""
    signs = []
    white, transfer, pgd = accuracies.whitebox_fgsm, accuracies.transfer_fgsm, accuracies.whitebox_pgd
    if white.value - transfer.value >= MASKING_MIN_GAP and white.low > transfer.high:
        signs.append(MaskingSign(MaskingKind.WHITEBOX_ABOVE_TRANSFER, strength, norm, white.value, transfer.value,
                                 white.n))
    fgsm_errors, pgd_errors = 1.0 - white.value, 1.0 - pgd.value
    if white.value - pgd.value >= PGD_GAP_MIN and pgd_errors >= PGD_ERROR_RATIO * max(fgsm_errors, 1e-9):
        signs.append(MaskingSign(MaskingKind.PGD_FAR_BELOW_FGSM, strength, norm, white.value, pgd.value, white.n))
    free = accuracies.square
    if free is not None:
        # The strongest gradient attack: the one that leaves the fewest digits.
        gradient = min((r for r in (pgd, accuracies.apgd_ce, accuracies.apgd_t) if r is not None),
                       key=lambda r: r.value)
        if free.high < gradient.low:
            signs.append(MaskingSign(MaskingKind.GRADIENT_FREE_BELOW_GRADIENT, strength, norm, gradient.value,
                                     free.value, free.n))
    return signs


def describe_sign(sign: MaskingSign, tr: Catalogue | None = None) -> str:
    """One or two plain sentences about ``sign``, with its numbers, in ``tr``'s language (default English)."""
    tr = tr or english()
    where = message("masking.where", norm=NORM_SPECS[sign.norm].symbol, strength=sign.strength, examples=sign.n)
    return tr(f"masking.{sign.kind.value}", where=where, stronger=sign.stronger, weaker=sign.weaker)


# -- stored curves -------------------------------------------------------------

_ATTACKS = ("transfer_fgsm", "whitebox_fgsm", "whitebox_pgd", "worst_case")

#: Manifest metrics keys: curves on the fixed subset of test digits, and the
#: points measured on the whole test set. Lookups prefer the whole test set.
STRONG_KEY = "strong"
STRONG_FULL_KEY = "strong_full"
STORED_KEYS_BEST_FIRST = (STRONG_FULL_KEY, STRONG_KEY)
#: A check of the strong evaluation, stored beside it for a reader to see: white-box PGD with
#: far more steps and restarts (bench/stronger_attack.py), at one strength.
STRONGER_CHECK_KEY = "strong_check"


@dataclass(frozen=True)
class StrongCurve:
    """One model's strong-evaluation accuracies along a norm's strengths, as stored in a manifest.

    Each accuracy tuple has one value in [0, 1] per strength, measured on the
    first ``examples`` test digits; the attacks are carried over along the
    strengths (:func:`outcome_curve`). ``seconds`` is the wall time it took.
    """

    norm: Norm
    strengths: tuple[float, ...]
    examples: int
    config: StrongEval
    clean: float
    transfer_fgsm: tuple[float, ...]
    whitebox_fgsm: tuple[float, ...]
    whitebox_pgd: tuple[float, ...]
    worst_case: tuple[float, ...]
    seconds: float = 0.0
    #: How often PGD checked for fooled digits (:data:`PGD_PART`; 0: only at the end).
    pgd_part: int = PGD_PART

    @classmethod
    def of(cls, outcomes: Sequence[Outcomes], strengths: Sequence[float], norm: Norm, cfg: StrongEval,
           seconds: float = 0.0) -> StrongCurve:
        values: dict[str, Any] = {name: tuple(float(np.mean(getattr(o, name))) for o in outcomes)
                                  for name in _ATTACKS}
        return cls(norm, tuple(float(s) for s in strengths), int(len(outcomes[0].clean)), cfg,
                   float(np.mean(outcomes[0].clean)), seconds=round(seconds, 2), **values)

    def matches(self, cfg: StrongEval, examples: int, strengths: Sequence[float]) -> bool:
        """Whether this curve was measured as ``cfg`` would measure it now, on these digits and strengths."""
        return (self.config, self.examples, self.strengths, self.pgd_part) == (
            cfg, examples, tuple(strengths), PGD_PART)

    def at(self, strength: float) -> Accuracies | None:
        """The accuracies (with intervals) at ``strength``, or None if it is not on the curve."""
        if strength not in self.strengths:
            return None
        i = self.strengths.index(strength)
        n = self.examples
        rate = lambda v: Rate(v, *wilson_interval(round(v * n), n), n)  # noqa: E731
        return Accuracies(rate(self.clean), *(rate(getattr(self, name)[i]) for name in _ATTACKS))

    def to_json(self) -> dict:
        return {"norm": self.norm.value, "strengths": list(self.strengths), "examples": self.examples,
                "config": dataclasses.asdict(self.config), "clean": self.clean,
                **{name: list(getattr(self, name)) for name in _ATTACKS}, "seconds": self.seconds,
                "pgd_part": self.pgd_part}

    @classmethod
    def from_entry(cls, entry: dict | None, norm: Norm, key: str = STRONG_KEY) -> StrongCurve | None:
        """The curve a manifest entry's ``metrics[key][norm]`` holds, or None (absent or malformed)."""
        data = ((entry or {}).get("metrics") or {}).get(key, {}).get(norm.value)
        try:
            return cls.from_json(data) if data else None
        except ValueError:
            return None

    @classmethod
    def from_json(cls, data: dict) -> StrongCurve:
        """Inverse of :meth:`to_json`; raises ValueError (or a subclass) on malformed data."""
        try:
            values: dict[str, Any] = {name: tuple(map(float, data[name])) for name in _ATTACKS}
            curve = cls(Norm(data["norm"]), tuple(map(float, data["strengths"])), int(data["examples"]),
                        StrongEval(**data["config"]), float(data["clean"]), seconds=float(data.get("seconds", 0.0)),
                        pgd_part=int(data.get("pgd_part", 0)), **values)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed strong-evaluation curve: {exc}") from None
        if any(len(getattr(curve, name)) != len(curve.strengths) for name in _ATTACKS):
            raise ValueError("malformed strong-evaluation curve: lengths differ")
        return curve
