"""The manifest's typed form: :class:`ModelEntry` and :class:`Metrics`, the only code that spells its JSON keys.

``manifest.json`` is ``{"format": 1, "models": {id: entry}}``. An entry names
the weights file and its SHA-256, the configuration the model was trained
with, when and with which library versions, and :class:`Metrics`: what has
been measured of the model. The JSON stays as every earlier version wrote it;
keys this version does not know are kept through a rewrite.

Readers get typed values (:class:`~advdemo.core.results.FgsmMetrics`,
:class:`~advdemo.core.accuracies.StrongCurve`,
:class:`~advdemo.core.accuracies.AutoAttackRecord`, …); writers build a new
:class:`Metrics` with the ``with_…`` methods, which the store merges under its
lock (:meth:`advdemo.store.storage.ModelStore.update_metrics`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from advdemo.core.accuracies import AutoAttackRecord, StrongCurve
from advdemo.core.config import Attack, AttackMethod, ConfigError, EvalMode, HParams, ModelKind, Norm, from_dict
from advdemo.core.results import Curve, FgsmMetrics, PairAccuracy, ProbeHistory, ProbePoint

#: The manifest document's object of entries, by model id.
MODELS_SECTION = "models"
#: The manifest's entry keys, in the order they are written.
_ENTRY_KEYS = ("id", "kind", "file", "sha256", "size_bytes", "hparams", "train_seconds", "metrics", "versions",
               "created")
_FGSM_FIELDS = ("clean", "transfer", "whitebox")


class ManifestError(ValueError):
    """A manifest entry that is not what this version can read."""


class StrongKind(enum.StrEnum):
    """Which strong evaluation (PGD with restarts, :mod:`advdemo.core.robustness`) a curve is."""

    SUBSET = "strong"  # the first StrongEval().examples test digits, every standard strength
    FULL = "strong_full"  # the whole test set
    CHECK = "strong_check"  # a stronger PGD (more iterations and restarts), to check the standard one


class AutoAttackKind(enum.StrEnum):
    """Which AutoAttack record (:mod:`advdemo.core.autoattack_eval`) a measurement is."""

    SUBSET = "autoattack"  # the first StrongEval().examples test digits
    FULL = "autoattack_full"  # the whole test set


def strength_key(strength: float) -> str:
    """How a strength is spelled as a key: ``0.3`` -> ``"0.3"``."""
    return f"{strength:g}"


@dataclass(frozen=True)
class Metrics:
    """What has been measured of one model, read through typed accessors.

    ``data`` is the entry's JSON ``metrics`` object; only this class reads or
    builds it.
    """

    data: Mapping[str, Any] = field(default_factory=dict)

    # -- training -----------------------------------------------------------------

    @property
    def base_model(self) -> str | None:
        """A regularized model's base model id (the transfer attack's model), or None."""
        value = self.data.get("base_model")
        return str(value) if value is not None else None

    @property
    def train_history(self) -> dict[str, list[float]]:
        """Keras's per-epoch history (``loss``, ``acc``, …), empty if not recorded."""
        return {str(k): [float(v) for v in vs] for k, vs in (self.data.get("train_history") or {}).items()}

    @property
    def train_cpu_seconds(self) -> float | None:
        value = self.data.get("train_cpu_seconds")
        return float(value) if value is not None else None

    # -- the tutorial's FGSM numbers ----------------------------------------------

    @property
    def test_examples(self) -> int | None:
        """How many test digits :attr:`fgsm`, :attr:`base_clean` and the FGSM curves were measured on."""
        value = self.data.get("test_examples")
        return int(value) if value is not None else None

    @property
    def fgsm(self) -> FgsmMetrics | None:
        """A regularized model's six FGSM accuracies (with its base model's), or None."""
        try:
            return FgsmMetrics(*(PairAccuracy(*(float(self.data[_fgsm_key(kind, name)]) for kind in ModelKind))
                                 for name in _FGSM_FIELDS))
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def base_clean(self) -> float | None:
        """A base model's clean accuracy in [0, 1] on :attr:`test_examples` digits, or None."""
        value = self.data.get(_fgsm_key(ModelKind.BASE, "clean"))
        return float(value) if value is not None else None

    @property
    def fgsm_attack(self) -> Attack | None:
        """The attack :attr:`fgsm` and the FGSM curves were measured with (the model's own norm and step)."""
        data = self.data.get("attack")
        try:
            return Attack(norm=Norm(data["norm"]), strength=float(data["strength"]),
                          method=AttackMethod(data["method"])) if data else None
        except (KeyError, TypeError, ValueError, ConfigError):
            return None

    def fgsm_curve(self, mode: EvalMode) -> Curve | None:
        """Both models' FGSM accuracy along the norm's standard strengths in ``mode``, or None."""
        data = (self.data.get("curves") or {}).get(mode.value)
        examples = self.test_examples
        try:
            return Curve.from_json(data, examples) if data and examples else None
        except (KeyError, TypeError, ValueError):
            return None

    # -- strong evaluations and AutoAttack ----------------------------------------

    def strong(self, norm: Norm, kind: StrongKind = StrongKind.SUBSET) -> StrongCurve | None:
        """The strong-evaluation curve of ``kind`` for ``norm``, or None (absent or malformed)."""
        data = (self.data.get(kind.value) or {}).get(norm.value)
        try:
            return StrongCurve.from_json(data) if data else None
        except (KeyError, TypeError, ValueError, ConfigError):
            return None

    def autoattack(self, norm: Norm, strength: float,
                   kind: AutoAttackKind = AutoAttackKind.SUBSET) -> AutoAttackRecord | None:
        """The AutoAttack record of ``kind`` at ``norm`` and ``strength``, whatever its settings, or None."""
        data = ((self.data.get(kind.value) or {}).get(norm.value) or {}).get(strength_key(strength))
        try:
            return AutoAttackRecord.from_json(data) if data else None
        except ValueError:
            return None

    @property
    def probe(self) -> ProbeHistory | None:
        """The regularized model's robustness after each epoch of its training (:mod:`advdemo.core.probe`)."""
        return _probe_of(self.data.get("probe"))

    def has_fgsm_curves(self) -> bool:
        """Whether the sweep's evaluation of this model (FGSM numbers and curves) is stored."""
        return "curves" in self.data

    # -- building -----------------------------------------------------------------

    @classmethod
    def of_training(cls, history: Mapping[str, list[float]], *, cpu_seconds: float | None = None,
                    base_model: str | None = None) -> Metrics:
        """A freshly trained model's metrics: its history, CPU time and (regularized) base model id."""
        data: dict[str, Any] = {"train_history": {k: list(v) for k, v in history.items()}}
        if base_model is not None:
            data["base_model"] = base_model
        if cpu_seconds is not None:
            data["train_cpu_seconds"] = round(float(cpu_seconds), 1)
        return cls(data)

    def with_probe(self, history: ProbeHistory) -> Metrics:
        """These metrics with the training's probe: one ``[epoch, clean, fgsm, pgd]`` row per epoch."""
        return self.merged(Metrics({"probe": _probe_json(history)}))

    def merged(self, other: Metrics) -> Metrics:
        """These metrics with ``other``'s keys added or replaced (one level deep)."""
        return Metrics({**self.data, **other.data})

    def with_base_clean(self, clean: float, examples: int) -> Metrics:
        """A base model's clean accuracy in [0, 1] on ``examples`` test digits."""
        return self.merged(Metrics({_fgsm_key(ModelKind.BASE, "clean"): clean, "test_examples": int(examples)}))

    def with_fgsm(self, fgsm: FgsmMetrics) -> Metrics:
        """These metrics with a regularized model's six FGSM accuracies (its base model's among them)."""
        return self.merged(Metrics({_fgsm_key(kind, name): getattr(fgsm, name).of(kind)
                                    for name in _FGSM_FIELDS for kind in ModelKind}))

    def with_fgsm_curves(self, attack: Attack, curves: Mapping[EvalMode, Curve], examples: int) -> Metrics:
        """These metrics with the attack the FGSM numbers were measured with, and its curves in each mode
        (on ``examples`` test digits)."""
        return self.merged(Metrics({
            "attack": {"method": attack.method.value, "norm": attack.norm.value, "strength": attack.strength},
            "curves": {mode.value: curve.to_json() for mode, curve in curves.items()},
            "test_examples": int(examples)}))

    def with_strong(self, curve: StrongCurve, kind: StrongKind = StrongKind.SUBSET) -> Metrics:
        """These metrics with ``curve`` as the ``kind`` strong evaluation at its norm."""
        by_norm = {**(self.data.get(kind.value) or {}), curve.norm.value: curve.to_json()}
        return self.merged(Metrics({kind.value: by_norm}))

    def with_autoattack(self, record: AutoAttackRecord, kind: AutoAttackKind = AutoAttackKind.SUBSET) -> Metrics:
        """These metrics with ``record`` at its norm and strength."""
        by_norm = dict(self.data.get(kind.value) or {})
        by_norm[record.norm.value] = {**(by_norm.get(record.norm.value) or {}),
                                      strength_key(record.strength): record.to_json()}
        return self.merged(Metrics({kind.value: by_norm}))


def _probe_json(history: ProbeHistory) -> dict[str, Any]:
    return {"norm": history.norm.value, "strength": history.strength, "examples": history.examples,
            "points": [[p.epoch, p.clean, p.fgsm, p.pgd] for p in history.points]}


def _probe_of(data: Any) -> ProbeHistory | None:
    """Inverse of :func:`_probe_json`; None where absent or malformed."""
    try:
        return ProbeHistory(Norm(data["norm"]), float(data["strength"]), int(data["examples"]),
                            tuple(ProbePoint(int(e), float(c), float(f), None if p is None else float(p))
                                  for e, c, f, p in data["points"])) if data else None
    except (KeyError, TypeError, ValueError):
        return None


def _fgsm_key(kind: ModelKind, name: str) -> str:
    """``base_clean_acc``, ``adv_transfer_acc``, …: the manifest's names for the FGSM accuracies."""
    return f"{kind.value}_{name}_acc"


@dataclass(frozen=True)
class ModelEntry:
    """One model in the manifest: its file, hash, configuration, provenance and :class:`Metrics`."""

    id: str
    kind: ModelKind
    file: str
    sha256: str
    size_bytes: int
    hparams_json: Mapping[str, Any]
    train_seconds: float
    metrics: Metrics
    versions: Mapping[str, str]
    created: str
    #: Keys a newer version wrote, kept as they are.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def hparams(self) -> HParams:
        """The configuration the model was trained with; :class:`ManifestError` if this version cannot read it."""
        try:
            return from_dict(HParams, self.hparams_json)
        except (ConfigError, TypeError) as exc:
            raise ManifestError(f"manifest entry {self.id} has a configuration this version cannot read: {exc}") \
                from None

    @property
    def epochs(self) -> int:
        """How many epochs the model itself trained (a regularized model's own count where it has one)."""
        own = self.hparams_json.get("adv_epochs") if self.kind is ModelKind.REGULARIZED else None
        return int(own or self.hparams_json["epochs"])

    @property
    def batch_size(self) -> int:
        """The batch size the model itself trained with (a regularized model's own where it has one)."""
        own = self.hparams_json.get("adv_batch_size") if self.kind is ModelKind.REGULARIZED else None
        return int(own or self.hparams_json["batch_size"])

    @property
    def tensorflow(self) -> str:
        """The TensorFlow version that trained the model."""
        return str(self.versions.get("tensorflow", "?"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelEntry:
        """Read one entry; :class:`ManifestError` if a key is missing or of the wrong type."""
        try:
            return cls(id=str(data["id"]), kind=ModelKind(data["kind"]), file=str(data["file"]),
                       sha256=str(data["sha256"]), size_bytes=int(data["size_bytes"]),
                       hparams_json=dict(data["hparams"]), train_seconds=float(data["train_seconds"]),
                       metrics=Metrics(dict(data.get("metrics") or {})), versions=dict(data.get("versions") or {}),
                       created=str(data.get("created", "")),
                       extra={k: v for k, v in data.items() if k not in _ENTRY_KEYS})
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"malformed manifest entry {data.get('id', '?') if isinstance(data, Mapping) else '?'}:"
                                f" {exc!r}") from None

    def to_json(self) -> dict[str, Any]:
        """The entry as the manifest stores it (inverse of :meth:`from_json`)."""
        return {"id": self.id, "kind": self.kind.value, "file": self.file, "sha256": self.sha256,
                "size_bytes": self.size_bytes, "hparams": dict(self.hparams_json), "train_seconds": self.train_seconds,
                "metrics": dict(self.metrics.data), "versions": dict(self.versions), "created": self.created,
                **self.extra}
