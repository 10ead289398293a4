"""What a class most likely asks, measured ahead of time into a store (``advdemo prepare``).

A page never measures; a number nobody has stored becomes a job, and a class
that opens the lesson together would wait for the same jobs. So the numbers
the lesson shows, and the L2 worst case of the models the lesson and the
method comparison use, are measured here once and shipped with the pretrained
models: the lesson's PGD numbers and curves as task results
(:meth:`advdemo.store.storage.ModelStore.put_result`, the same records a server
keeps), the L2 worst-case curves in the manifest. Resumable: whatever the
store has is skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from advdemo.core.config import NORM_SPECS, ROBUST_EPSILONS, HParams, ModelKind, Norm, robust_hparams, robust_methods
from advdemo.core.data import Mnist
from advdemo.experiments.sweep import run_strong_evaluation
from advdemo.logs import LogFn, log_info
from advdemo.page.lesson import LESSON
from advdemo.serving.engines import ThreadEngine
from advdemo.serving.measurements import Measurements, MeasurementTask
from advdemo.serving.worker import LocalContext
from advdemo.store.pairs import PairLoader
from advdemo.store.storage import ModelStore, StoreError, model_id


@dataclass(frozen=True)
class Prepared:
    """How many task results and strong-evaluation curves were added (0: everything was there)."""

    results: int
    strong_curves: int


def comparison_hparams(recipe: HParams) -> list[HParams]:
    """The regularized models of the method comparison: the tutorial's, and both robust methods at each ε."""
    robust = [robust_hparams(recipe, attack, eps) for attack in robust_methods() for eps in ROBUST_EPSILONS]
    return [recipe, *robust]


def lesson_tasks(measurements: Measurements, pairs: PairLoader, recipe: HParams) -> Iterator[MeasurementTask]:
    """The tasks behind every number of every lesson step that the stores do not hold yet (but the step whose
    model a class trains itself)."""
    for step in LESSON:
        if step.trains:
            continue
        view = step.view
        pair = pairs.load(view.hparams(recipe))
        if pair is None:
            raise StoreError(f"the lesson's models ({model_id(view.hparams(recipe), ModelKind.REGULARIZED)}) "
                             "are not stored")
        attack = view.to_attack()
        if measurements.test_metrics(pair, attack) is None:
            yield measurements.metrics_task(pair, attack)
        if measurements.curve(pair, attack) is None:
            yield measurements.curve_task(pair, attack)
        if NORM_SPECS[attack.norm].supports_pgd and attack.strength and measurements.strong(
                pair, attack.norm, attack.strength) is None:
            yield measurements.strong_task(pair, attack.norm, attack.strength)


def prepare(store: ModelStore, mnist: Mnist, data_dir: str | None, recipe: HParams,
            log: LogFn = log_info) -> Prepared:
    """Measure into ``store`` (writable, holding the pretrained models) what a class most likely asks."""
    measurements = Measurements(lambda: mnist, [store])
    context = LocalContext([store], data_dir)
    engine = ThreadEngine(context)
    added = 0
    for task in dict.fromkeys(lesson_tasks(measurements, PairLoader([store]), recipe)):
        start = time.perf_counter()
        data = engine.run(task, lambda p: None, threading.Event())
        store.put_result(task.key(), task.kind, data, seconds=time.perf_counter() - start)
        added += 1
        log(f"{task.kind} {task.key()}: {time.perf_counter() - start:.0f} s")
    lesson_models = [step.view.hparams(recipe) for step in LESSON if not step.trains]
    wanted = dict.fromkeys(model_id(hp, ModelKind.REGULARIZED) for hp in [*lesson_models, *comparison_hparams(recipe)])
    jobs = [(mid, Norm.L2) for mid in wanted]
    curves = run_strong_evaluation(store, mnist, model_id(recipe, ModelKind.BASE), jobs, log=log)
    return Prepared(added, curves)


__all__ = ["Prepared", "comparison_hparams", "lesson_tasks", "prepare"]
