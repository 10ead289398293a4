"""Where tasks run: :class:`LocalContext`, and the child process that runs them for the server.

The child (``python -m advdemo.serving.worker``) lowers its own CPU priority before it
loads TensorFlow (``nice`` 19 and, on Linux, the idle scheduling class), so
the kernel gives the server's page reruns the CPU whenever they want it. It
loads its own copies of the models: nothing a page uses is ever shared with a
heavy computation.

Protocol, one JSON object per line: the parent sends a setup line (stores,
data folder, settings), then one ``{"task": …}`` line per job
(:func:`advdemo.serving.tasks.task_from_json`). For each task the child answers with
``{"progress": …}`` lines and then ``{"result": …}`` or ``{"error": …,
"traceback": …}``. A child serves tasks until its stdin closes; the parent
stops it to cancel a job, and after a training (TensorFlow keeps what training
allocates). The child's stderr (TensorFlow's log) goes to the server's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

from advdemo.core.config import HParams, ModelKind
from advdemo.store.storage import ModelStore, StoreError

#: Trains one model of a pair: ``trainer(kind, hparams, mnist, stores, progress=...)`` (tests pass stubs).
ModelTrainer = Callable[..., Any]


class LocalContext:
    """Test set, model pairs and training for tasks run in this process (:class:`advdemo.serving.tasks.TaskContext`).

    Its pairs are its own: loaded here, never the page's.
    """

    def __init__(self, stores: list[ModelStore], data_dir: str | None, trainer: ModelTrainer | None = None):
        from advdemo.store.pairs import PairLoader  # noqa: PLC0415 - TensorFlow: after the child's priority is lowered

        self.stores = stores
        self.data_dir = data_dir
        self._trainer = trainer
        self._pairs = PairLoader(stores, size=4)

    def pair(self, hparams: HParams):
        pair = self._pairs.load(hparams)
        if pair is None:
            raise StoreError("the model pair to measure is not stored (or no copy of it verifies)")
        return pair

    def test_set(self):
        from advdemo.core.data import load_mnist  # noqa: PLC0415

        return load_mnist(self.data_dir, training=False)

    def train(self, hparams: HParams, progress: Callable[[Any], None], cancelled: Callable[[], bool]) -> None:
        from advdemo.core.data import load_mnist  # noqa: PLC0415
        from advdemo.experiments.experiment import obtain_model  # noqa: PLC0415
        from advdemo.serving.jobs import Cancelled  # noqa: PLC0415

        trainer: ModelTrainer = self._trainer or obtain_model
        mnist = None if self._trainer else load_mnist(self.data_dir)  # a stub needs no data
        for kind in ModelKind:
            if cancelled():
                raise Cancelled()
            trainer(kind, hparams, mnist, self.stores, progress=progress)


def progress_json(p: Any) -> dict[str, Any]:
    """A task's progress report as JSON: a training's :class:`~advdemo.core.training.Progress`, or ``(done, total)``."""
    if isinstance(p, tuple):
        return {"steps": list(p)}
    from dataclasses import asdict  # noqa: PLC0415

    return {"training": {**asdict(p), "model": p.model.value}}


def progress_from_json(data: dict[str, Any]) -> Any:
    """Inverse of :func:`progress_json`.

    Returns a :class:`~advdemo.core.training.Progress` or a :class:`~advdemo.serving.jobs.Steps`.
    """
    from advdemo.core.results import ProbePoint  # noqa: PLC0415
    from advdemo.core.training import Progress  # noqa: PLC0415
    from advdemo.serving.jobs import Steps  # noqa: PLC0415

    if "steps" in data:
        return Steps(*map(int, data["steps"]))
    training = data["training"]
    return Progress(**{**training, "model": ModelKind(training["model"]),
                       "probe": tuple(ProbePoint(**point) for point in training.get("probe", ()))})


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this child when the server dies, even while it is stopped.

    (The kernel tracks the server's thread that started the child: the job
    queue's worker, which lives as long as the server.)
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # noqa: PLC0415

    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
    if os.getppid() != parent:  # the server died before the line above ran
        raise SystemExit(1)


def _lower_priority(settings: dict[str, Any]) -> None:
    if hasattr(os, "nice"):  # POSIX; on Windows the child keeps normal priority
        os.nice(settings["niceness"])
    if settings["idle_class"] and hasattr(os, "SCHED_IDLE"):  # Linux
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    if settings["threads"]:
        from advdemo.core.compat import tf  # noqa: PLC0415 - after lowering the priority: TF is slow to load

        tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])


def _failure(exc: BaseException) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def main() -> None:
    """The child: read the setup, then serve one task per line (see the module docstring)."""
    try:
        setup = json.loads(sys.stdin.readline())
        _die_with_parent(setup["parent"])
        _lower_priority(setup["settings"])
        from advdemo.serving.tasks import run_to_json, task_from_json  # noqa: PLC0415 - imports TensorFlow

        stores = [ModelStore(s["root"], writable=s["writable"]) for s in setup["stores"]]
        ctx = LocalContext(stores, setup["data_dir"])
    except BaseException as exc:  # everything goes back to the parent, which logs it
        _send(_failure(exc))
        raise SystemExit(1) from None
    for line in sys.stdin:
        try:
            task = task_from_json(json.loads(line)["task"])
            result = run_to_json(task, ctx, lambda *p: _send({"progress": progress_json(p if len(p) > 1 else p[0])}),
                                 lambda: False)
            _send({"result": result})
        except Exception as exc:
            _send(_failure(exc))


if __name__ == "__main__":
    main()
