"""What a training will take on this server: the shipped models' recorded times, scaled by this server's own pace.

:func:`advdemo.core.training.expected_training_seconds` is fitted to the
recorded times of the pretrained models, trained on this project's 2-core
machines. A server that has trained models itself knows better: the page's
estimate scales the fit by the median ratio of this server's recorded
training times to the fit's (:func:`advdemo.core.training.pace`), and says
which basis it used. While a training runs, its job measures its own pace
(:meth:`advdemo.serving.jobs.JobView.left_seconds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from advdemo.core.config import HParams, ModelKind
from advdemo.core.data import TRAIN_SIZE
from advdemo.core.training import expected_training_seconds, pace
from advdemo.store.storage import ModelStore


@dataclass(frozen=True)
class Estimate:
    """Expected wall seconds, and how many of this server's own trainings set its pace (0: none yet, the
    shipped models' recorded times alone)."""

    seconds: float
    trainings: int


def estimate(stores: Sequence[ModelStore], hparams: HParams, n_train: int, *, with_base: bool = False) -> Estimate:
    """The wall time of training ``hparams`` (and its base model) on ``n_train`` digits here, from the
    regularized models the writable stores among ``stores`` hold (those this server trained)."""
    recorded = [(e.hparams, e.hparams.train_examples or TRAIN_SIZE, e.train_seconds)
                for store in stores if store.writable for e in store.entries().values()
                if e.kind is ModelKind.REGULARIZED]
    ratio = pace(recorded)
    seconds = expected_training_seconds(hparams, n_train, with_base=with_base)
    return Estimate(seconds * (ratio or 1.0), len(recorded) if ratio is not None else 0)
