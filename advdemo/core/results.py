"""Typed results: both models' accuracies, clean, under attack and along a curve.

A curve's JSON form (``"adv"`` for the regularized model) is the one every
store already written holds; :mod:`advdemo.store.manifest` keeps the
accuracies' manifest names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from advdemo.core.config import ModelKind, Norm


@dataclass(frozen=True)
class PairAccuracy:
    """One accuracy per model, each in [0, 1]."""

    base: float
    regularized: float

    def of(self, kind: ModelKind) -> float:
        return self.base if kind is ModelKind.BASE else self.regularized


@dataclass(frozen=True)
class Evaluation:
    """Clean and attacked accuracy of both models on ``examples`` test digits."""

    clean: PairAccuracy
    attacked: PairAccuracy
    examples: int
    #: Under a targeted attack: the share, in [0, 1], of the digits of other classes that each model reads as
    #: the target (None: untargeted).
    hits: PairAccuracy | None = None

    def drop(self, kind: ModelKind) -> float:
        """How much ``kind``'s accuracy falls under the attack, in [-1, 1] (positive: it falls)."""
        return self.clean.of(kind) - self.attacked.of(kind)

    def to_json(self) -> dict[str, float | int]:
        """``base_clean_acc``, ``adv_clean_acc``, ``base_attacked_acc``, ``adv_attacked_acc``, ``examples``."""
        hits = {} if self.hits is None else {f"{kind.value}_hits": self.hits.of(kind) for kind in ModelKind}
        return {**{f"{kind.value}_{name}_acc": getattr(self, name).of(kind)
                   for name in ("clean", "attacked") for kind in ModelKind}, "examples": self.examples, **hits}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evaluation:
        """Inverse of :meth:`to_json`; KeyError or ValueError on malformed data."""
        clean, attacked = (PairAccuracy(*(float(data[f"{kind.value}_{name}_acc"]) for kind in ModelKind))
                           for name in ("clean", "attacked"))
        hits = (PairAccuracy(*(float(data[f"{kind.value}_hits"]) for kind in ModelKind))
                if f"{ModelKind.BASE.value}_hits" in data else None)
        return cls(clean, attacked, int(data["examples"]), hits)


@dataclass(frozen=True)
class FgsmMetrics:
    """The tutorial's six numbers: clean, transfer-FGSM and white-box-FGSM accuracy of both models.

    On the base model, white-box FGSM is transfer FGSM (the examples are crafted against it).
    """

    clean: PairAccuracy
    transfer: PairAccuracy
    whitebox: PairAccuracy


@dataclass(frozen=True)
class Curve:
    """Both models' accuracy at each strength, accuracies in [0, 1], measured on ``examples`` digits."""

    strengths: tuple[float, ...]
    base: tuple[float, ...]
    regularized: tuple[float, ...]
    examples: int

    def __post_init__(self) -> None:
        for name in ("strengths", "base", "regularized"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if not len(self.strengths) == len(self.base) == len(self.regularized):
            raise ValueError("a curve needs one accuracy per model and strength")

    def at(self, strength: float) -> Evaluation:
        """The evaluation at one of :attr:`strengths` (the first strength counts as clean)."""
        i = self.strengths.index(strength)
        return Evaluation(PairAccuracy(self.base[0], self.regularized[0]),
                          PairAccuracy(self.base[i], self.regularized[i]), self.examples)

    def to_json(self) -> dict[str, list[float]]:
        """The manifest's form, ``{"strengths", "base", "adv"}`` (the digits are recorded beside it)."""
        return {"strengths": list(self.strengths), "base": list(self.base),
                ModelKind.REGULARIZED.value: list(self.regularized)}

    @classmethod
    def from_json(cls, data: Mapping[str, Sequence[float]], examples: int) -> Curve:
        return cls(tuple(data["strengths"]), tuple(data["base"]), tuple(data[ModelKind.REGULARIZED.value]),
                   examples)


@dataclass(frozen=True)
class Flip:
    """The smallest strength at which a model's answer changes (None: not up to ``searched_to``).

    Strengths are on a grid of ``resolution`` from 0 to ``searched_to``, so
    the true smallest flipping strength lies within one ``resolution`` below.
    0 means the model is wrong on the digit as it is.
    """

    strength: float | None
    searched_to: float
    resolution: float
    #: A targeted attack's class: then ``strength`` is where the model first reads the target.
    target: int | None = None


@dataclass(frozen=True)
class ProbePoint:
    """Accuracies in [0, 1] after ``epoch`` (from 1): clean, white-box FGSM and white-box PGD (None where the
    norm has no PGD)."""

    epoch: int
    clean: float
    fgsm: float
    pgd: float | None


@dataclass(frozen=True)
class ProbeHistory:
    """A training's probe: the attacks' norm and strength, the digits, and one point per epoch."""

    norm: Norm
    strength: float
    examples: int
    points: tuple[ProbePoint, ...]


__all__ = ["Curve", "Evaluation", "FgsmMetrics", "Flip", "PairAccuracy", "ProbeHistory", "ProbePoint"]
