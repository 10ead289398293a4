"""Accuracies as measured, with their intervals: what the evaluations return and the manifest keeps.

Light to import (NumPy only): the store, the reports and the page read these
without loading TensorFlow. The attacks that produce them are
:mod:`advdemo.core.robustness` (the strong evaluation) and
:mod:`advdemo.core.autoattack_eval` (AutoAttack's attacks beside it).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from advdemo.core.config import AutoAttackEval, ConfigError, Norm, StrongEval, from_dict, to_dict

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
class PairOutcomes:
    """Both models' :class:`Outcomes` at one attack strength."""

    strength: float
    norm: Norm
    base: Outcomes
    regularized: Outcomes


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

    def text(self) -> str:
        """``"88.1% ± 0.6"``: the value and the larger half-width of its 95% interval, in points."""
        half = max(self.value - self.low, self.high - self.value) * 100
        return f"{self.value:.1%} ± {half:.1f}"


@dataclass(frozen=True)
class Accuracies:
    """One model's accuracies under each attack at one strength, each with its interval.

    AutoAttack's attacks (:mod:`advdemo.core.autoattack_eval`) are None where they
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


#: PGD runs in parts of this many steps; a digit fooled after any part counts
#: as fooled (its example lies within the ball) and is not attacked further.
PGD_PART = 10



_ATTACKS = ("transfer_fgsm", "whitebox_fgsm", "whitebox_pgd", "worst_case")

@dataclass(frozen=True)
class StrongCurve:
    """One model's strong-evaluation accuracies along a norm's strengths (kept in its manifest entry).

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


@dataclass(frozen=True)
class AutoAttackRecord:
    """One model's accuracies under every attack at one strength, as stored in its manifest entry.

    Measured on the first ``accuracies.clean.n`` test digits; ``seconds`` is
    each attack's wall time.
    """

    norm: Norm
    strength: float
    accuracies: Accuracies
    config: AutoAttackEval
    strong: StrongEval
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def examples(self) -> int:
        return self.accuracies.clean.n

    def to_json(self) -> dict[str, Any]:
        return {"norm": self.norm.value, "strength": self.strength, "config": to_dict(self.config),
                "strong": to_dict(self.strong), "seconds": dict(self.seconds),
                "rates": {name: [r.value, r.low, r.high, r.n] for name, r in self.accuracies.rates().items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AutoAttackRecord:
        """Inverse of :meth:`to_json`; ValueError on malformed data."""
        try:
            rates = {name: Rate(float(v), float(lo), float(hi), int(n)) for name, (v, lo, hi, n) in
                     data["rates"].items()}
            record = cls(Norm(data["norm"]), float(data["strength"]), Accuracies(**rates),
                         from_dict(AutoAttackEval, data["config"]), from_dict(StrongEval, data["strong"]),
                         {str(k): float(v) for k, v in data.get("seconds", {}).items()})
        except (KeyError, TypeError, ConfigError) as exc:
            raise ValueError(f"malformed AutoAttack record: {exc}") from None
        if not record.accuracies.autoattack:
            raise ValueError("malformed AutoAttack record: no APGD accuracy")
        return record

    def current(self) -> bool:
        """Whether this was measured with the default settings."""
        return (self.config, self.strong) == (AutoAttackEval(), StrongEval())
