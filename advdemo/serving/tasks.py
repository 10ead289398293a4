"""The heavy computations, as typed tasks a job runs: training and the measurements of a model pair.

A task is a frozen description of the work: which pair (by its configuration),
which attack, on how many test digits. It knows its key (identical requests
share one job and one stored result), a rough cost, how to run itself given a
:class:`TaskContext`, and how to write and read its result as JSON (the
result store and the child process's protocol both carry that form).

Nothing here decides *where* a task runs: :mod:`advdemo.serving.engines` runs tasks in
a low-priority child process (or, for tests, a thread); the page only ever
asks :class:`advdemo.serving.service.ModelService`, which answers at once with a
stored result or a pending job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from advdemo.core.accuracies import PairAccuracies
from advdemo.core.config import (
    NORM_SPECS,
    Attack,
    HParams,
    ModelKind,
    Norm,
    StrongEval,
    from_dict,
    to_dict,
)
from advdemo.core.results import Curve, Evaluation
from advdemo.i18n import Message, message
from advdemo.logs import LOGGER
from advdemo.store.storage import ModelStore, StoreError, model_id

#: Progress of a measurement: units done, units in all.
StepFn = Callable[[int, int], None]

#: Rough seconds per image-gradient (or forward pass) on a 2-core CPU, for the waits the queue quotes
#: before a job reports its own rate (a running job's ETA comes from its progress instead).
_GRADIENT_SECONDS = 0.0004


class TaskContext(Protocol):
    """What a task needs where it runs: the test set, and model pairs loaded there (never the page's)."""

    def pair(self, hparams: HParams) -> Any: ...

    def test_set(self) -> Any: ...

    def train(self, hparams: HParams, progress: Callable[[Any], None], cancelled: Callable[[], bool]) -> None: ...


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:20]


def pair_ids(hparams: HParams) -> list[str]:
    return [model_id(hparams, ModelKind.BASE), model_id(hparams, ModelKind.REGULARIZED)]


@dataclass(frozen=True)
class TrainTask:
    """Train both models of ``hparams`` into the first writable store (results: the models themselves)."""

    hparams: HParams
    #: Seconds the training is expected to take (the queue's waits).
    expected: float = 0.0

    kind: ClassVar[str] = "train"
    #: A training runs in a process of its own, which ends with it (TensorFlow keeps what training allocates).
    dedicated: ClassVar[bool] = True

    def key(self) -> str:
        return model_id(self.hparams, ModelKind.REGULARIZED)

    def label(self) -> Message:
        return message("jobs.train")

    def expected_seconds(self) -> float:
        return self.expected

    def run(self, ctx: TaskContext, progress: Callable[[Any], None], cancelled: Callable[[], bool]) -> None:
        ctx.train(self.hparams, progress, cancelled)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "hparams": to_dict(self.hparams), "expected": self.expected}

    @staticmethod
    def encode(result: None) -> dict[str, Any]:
        return {}

    @staticmethod
    def decode(data: dict[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class _PairTask:
    """A measurement of the pair trained with ``hparams`` on the first ``examples`` test digits.

    ``digits`` fingerprints those digits (:func:`advdemo.serving.measurements.test_fingerprint`), so a
    number measured on other data (a local subset, say) is never taken for this one.
    """

    hparams: HParams
    examples: int
    digits: str

    kind: ClassVar[str] = ""
    dedicated: ClassVar[bool] = False

    def _extra(self) -> dict[str, Any]:
        """What a subclass adds to the key and the JSON form (its attack, say), JSON-ready."""
        return {}

    def key(self) -> str:
        identity = {"pair": pair_ids(self.hparams), "examples": self.examples, "digits": self.digits}
        return f"{self.kind}-{_digest({**identity, **self._extra()})}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "hparams": to_dict(self.hparams), "examples": self.examples,
                "digits": self.digits, **self._extra()}

    def _data(self, ctx: TaskContext):
        mnist = ctx.test_set()
        return ctx.pair(self.hparams), mnist.test_images[:self.examples], mnist.test_labels[:self.examples]


@dataclass(frozen=True)
class _AttackTask(_PairTask):
    """A measurement under one ``attack``: it keys the task, and the job's label names its method."""

    attack: Attack = Attack()

    #: The catalogue key of the job's label, with ``{method}`` and ``{examples}``.
    label_key: ClassVar[str] = ""

    def _extra(self) -> dict[str, Any]:
        return {"attack": to_dict(self.attack)}

    def label(self) -> Message:
        return message(self.label_key, method=message(f"attack_method.{self.attack.method.value}"),
                       examples=self.examples)


@dataclass(frozen=True)
class MetricsTask(_AttackTask):
    """Both models' clean and attacked accuracy under ``attack`` (an :class:`Evaluation`)."""

    kind: ClassVar[str] = "metrics"
    label_key: ClassVar[str] = "jobs.metrics"

    def expected_seconds(self) -> float:
        return 2 * self.examples * (2 + self.attack.iterations) * _GRADIENT_SECONDS

    def run(self, ctx: TaskContext, progress: StepFn, cancelled: Callable[[], bool]) -> Evaluation:
        from advdemo.core.evaluation import evaluate  # noqa: PLC0415 - TensorFlow, only where tasks run

        pair, x, y = self._data(ctx)
        return evaluate(pair.base, pair.regularized, x, y, self.attack, progress=progress)

    @staticmethod
    def encode(result: Evaluation) -> dict[str, Any]:
        return result.to_json()

    @staticmethod
    def decode(data: dict[str, Any]) -> Evaluation:
        return Evaluation.from_json(data)


@dataclass(frozen=True)
class CurveTask(_AttackTask):
    """Both models' accuracy at every standard strength of ``attack``'s norm (a :class:`Curve`).

    ``attack.strength`` is ignored (keep it 0, so every strength of one attack shares the task).
    """

    attack: Attack = Attack(strength=0.0)

    kind: ClassVar[str] = "curve"
    label_key: ClassVar[str] = "jobs.curve"

    def __post_init__(self) -> None:
        if self.attack.strength != 0.0:
            object.__setattr__(self, "attack", dataclasses.replace(self.attack, strength=0.0))

    def expected_seconds(self) -> float:
        points = len(NORM_SPECS[self.attack.norm].strengths)
        per_point = 1 if self.attack.shares_direction else self.attack.iterations + 1
        return 2 * self.examples * (1 + points * per_point) * _GRADIENT_SECONDS

    def run(self, ctx: TaskContext, progress: StepFn, cancelled: Callable[[], bool]) -> Curve:
        from advdemo.core.evaluation import robustness_curve  # noqa: PLC0415

        pair, x, y = self._data(ctx)
        return robustness_curve(pair.base, pair.regularized, x, y, self.attack,
                                NORM_SPECS[self.attack.norm].strengths, progress=progress)

    @staticmethod
    def encode(result: Curve) -> dict[str, Any]:
        return {"curve": result.to_json(), "examples": result.examples}

    @staticmethod
    def decode(data: dict[str, Any]) -> Curve:
        return Curve.from_json(data["curve"], int(data["examples"]))


@dataclass(frozen=True)
class StrongTask(_PairTask):
    """The strong evaluation of both models at one strength (:class:`PairAccuracies`)."""

    norm: Norm = Norm.INFINITY
    strength: float = 0.0
    config: StrongEval = StrongEval()

    kind: ClassVar[str] = "strong"

    def _extra(self) -> dict[str, Any]:
        return {"norm": self.norm.value, "strength": self.strength, "config": dataclasses.asdict(self.config)}

    def label(self) -> Message:
        return message("jobs.strong", iterations=self.config.iterations, restarts=self.config.restarts,
                       examples=self.examples)

    def expected_seconds(self) -> float:
        # Restarts attack only the digits still standing: about two restarts' worth on average.
        return 2 * self.examples * (2 + 2 * self.config.iterations) * _GRADIENT_SECONDS

    def run(self, ctx: TaskContext, progress: StepFn, cancelled: Callable[[], bool]) -> PairAccuracies:
        from advdemo.core.robustness import strong_at  # noqa: PLC0415

        pair, x, y = self._data(ctx)
        return PairAccuracies.of(strong_at(pair.base, pair.regularized, x, y, self.norm, self.strength, self.config,
                                           progress=progress))

    @staticmethod
    def encode(result: PairAccuracies) -> dict[str, Any]:
        return result.to_json()

    @staticmethod
    def decode(data: dict[str, Any]) -> PairAccuracies:
        return PairAccuracies.from_json(data, source="computed")


Task = TrainTask | MetricsTask | CurveTask | StrongTask
TASK_TYPES: dict[str, type] = {t.kind: t for t in (TrainTask, MetricsTask, CurveTask, StrongTask)}


def run_to_json(task: Task, ctx: TaskContext, progress: Callable[..., None],
                cancelled: Callable[[], bool]) -> dict[str, Any]:
    """Run ``task`` where ``ctx`` lives and return its result's JSON form."""
    result: Any = task.run(ctx, progress, cancelled)
    return task.encode(result)


def store_result(stores: list[ModelStore], task: Task, result: dict[str, Any], seconds: float) -> None:
    """Keep a measurement's result (its JSON form) in the writable store, so it is never measured again.
    A store that cannot take it is logged, not raised: the number still stands where it was measured."""
    writable = next((s for s in stores if s.writable), None)
    if writable is None or isinstance(task, TrainTask):  # a training stores its models itself
        return
    try:
        writable.put_result(task.key(), task.kind, result, seconds=seconds)
    except StoreError:  # the operator reads why in the log
        LOGGER.exception("could not store the result of %s", task.key())


def task_from_json(data: dict[str, Any]) -> Task:
    """Inverse of each task's ``to_json`` (the child process reads its tasks so)."""
    data = dict(data)
    cls = TASK_TYPES[data.pop("kind")]
    fields: dict[str, Any] = {"hparams": from_dict(HParams, data.pop("hparams"))}
    if "attack" in data:
        fields["attack"] = from_dict(Attack, data.pop("attack"))
    if "norm" in data:
        fields["norm"] = Norm(data.pop("norm"))
    if "config" in data:
        fields["config"] = StrongEval(**data.pop("config"))
    return cls(**fields, **data)


__all__ = ["CurveTask", "MetricsTask", "StrongTask", "TASK_TYPES", "Task", "TaskContext", "TrainTask",
           "pair_ids", "run_to_json", "task_from_json"]
