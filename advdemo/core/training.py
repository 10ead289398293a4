"""Training the base model and its adversarially regularized copy.

Both use the tutorial's loss (sparse categorical cross-entropy on logits) and
optimizer (Adam). Data come from in-memory arrays through ``tf.data`` with
shuffling and prefetching, so the input pipeline is never the bottleneck.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from advdemo.core.clean_prediction_loss import CleanPredictionRegularization
from advdemo.core.compat import keras, nsl, tf
from advdemo.core.config import NORM_SPECS, AdversarialLoss, HParams, LiveProbe, ModelKind
from advdemo.core.kernels import with_fast_pool_gradients
from advdemo.core.model import IMAGE_KEY, LABEL_KEY, build_base_model
from advdemo.core.probe import ProbeEachEpoch
from advdemo.core.results import ProbeHistory, ProbePoint
from advdemo.i18n import Catalogue, english
from advdemo.logs import LOGGER


@dataclass(frozen=True)
class Progress:
    """One progress report. ``epoch`` and ``step`` count from 1."""

    model: ModelKind
    epoch: int
    epochs: int
    step: int
    steps: int
    metrics: dict[str, float] = field(default_factory=dict)
    #: The live probe's points so far (:mod:`advdemo.core.probe`), one per finished epoch.
    probe: tuple[ProbePoint, ...] = ()

    @property
    def fraction(self) -> float:
        """Overall progress of this model's training, in [0, 1]."""
        return ((self.epoch - 1) * self.steps + self.step) / max(1, self.epochs * self.steps)


ProgressFn = Callable[[Progress], None]


class TrainingCancelled(RuntimeError):
    """Raised from a progress callback to stop training early."""


@dataclass
class TrainResult:
    """A trained network (the plain Keras model, also for the regularized one).

    ``seconds`` is wall time; ``cpu_seconds`` the process's CPU time meanwhile
    (all threads: a fair figure where training has the process to itself).
    """

    model: keras.Model
    seconds: float
    history: dict[str, list[float]]
    cpu_seconds: float = 0.0
    #: The regularized model's robustness after each epoch, where it was probed.
    probe: ProbeHistory | None = None


class _ReportProgress(keras.callbacks.Callback):
    """Adapts Keras callbacks to :data:`ProgressFn`, at most ``per_second`` times a second."""

    def __init__(self, name: ModelKind, epochs: int, steps: int, progress: ProgressFn, per_second: float = 4.0,
                 probe: ProbeEachEpoch | None = None):
        super().__init__()
        self._probe = probe
        # Keep Keras from converting logs to NumPy (a device sync) on every batch.
        self._supports_tf_logs = True
        self._name, self._epochs, self._steps = name, epochs, steps
        self._progress, self._interval = progress, 1.0 / per_second
        self._epoch, self._last = 1, 0.0

    def _report(self, step: int, logs: dict | None) -> None:
        # NSL's wrapper names the compiled "acc" metric after its function; report one name for both.
        metrics = {("acc" if k == "sparse_categorical_accuracy" else k): float(np.asarray(v))
                   for k, v in (logs or {}).items()}
        points = tuple(self._probe.points) if self._probe is not None else ()
        self._progress(Progress(self._name, self._epoch, self._epochs, step, self._steps, metrics, points))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        # The epoch's last batch is reported once, by on_epoch_end, with the epoch's probe point:
        # a slow batch must not send an end-of-epoch report without it first.
        if batch + 1 < self._steps and now - self._last >= self._interval:
            self._last = now
            self._report(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._report(self._steps, logs)


@tf.autograph.experimental.do_not_convert
def _as_dict(image, label):
    return {IMAGE_KEY: image, LABEL_KEY: label}


def needs_static_batch(hparams: HParams) -> bool:
    """Whether NSL needs every training batch to have the same, static size.

    NSL's ``random_init`` draws the random start with ``tf.random.uniform``
    of the features' *static* shape; a batch dimension of ``None`` (a last,
    smaller batch) makes it fail. Dropping the last partial batch gives the
    batch dimension a static size. Other configurations keep every example.
    """
    return hparams.adv_random_init


def make_dataset(images: np.ndarray, labels: np.ndarray, hparams: HParams, *, as_dict: bool) -> tf.data.Dataset:
    """Shuffled, batched, prefetched training data from in-memory arrays.

    ``images`` ``(N, 28, 28, 1)`` float32 in [0, 1]; ``labels`` ``(N,)`` int.
    Yields ``(image, label)`` tuples for the base model, or ``{'image', 'label'}`` dicts for NSL's
    regularized model, in batches of that model's size (:meth:`HParams.batch`).
    For NSL with a random start the last partial batch is dropped
    (:func:`needs_static_batch`).
    """
    if hparams.train_examples is not None:
        images, labels = images[: hparams.train_examples], labels[: hparams.train_examples]
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))
    ds = ds.shuffle(len(images), seed=hparams.seed, reshuffle_each_iteration=True)
    ds = ds.batch(hparams.batch(as_dict), drop_remainder=as_dict and needs_static_batch(hparams))
    if as_dict:
        ds = ds.map(_as_dict)
    return ds.prefetch(tf.data.AUTOTUNE)


def _loss() -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def make_adv_config(hparams: HParams) -> nsl.configs.AdvRegConfig:
    """The tutorial's ``make_adv_reg_config`` call for these hparams, with the training attack.

    With the defaults this is exactly the tutorial's call. Clip values are
    given per feature (``{'image': 0.0}``): NSL ignores scalar clip values
    when the inputs are a dict, as they are here.
    """
    clip = {"clip_value_min": {IMAGE_KEY: 0.0}, "clip_value_max": {IMAGE_KEY: 1.0}} if hparams.adv_clip else {}
    robust = {"pgd_iterations": hparams.adv_pgd_iterations, "pgd_epsilon": hparams.adv_epsilon,
              "random_init": hparams.adv_random_init} if hparams.adv_epsilon is not None else {}
    return nsl.configs.make_adv_reg_config(
        multiplier=hparams.adv_multiplier,
        adv_step_size=hparams.adv_step_size,
        adv_grad_norm=hparams.adv_grad_norm.value,
        **clip,
        **robust,
    )


def _optimizer(hparams: HParams, decay_steps: int | None = None, *, adversarial: bool = False,
               ema: float | None = None) -> keras.optimizers.Optimizer:
    """Adam at the model's learning rate (:meth:`HParams.rate`), falling along a cosine over ``decay_steps`` if
    given, keeping an exponential moving average of the weights with momentum ``ema`` if given (swapped in when
    training ends)."""
    start = hparams.rate(adversarial)
    rate = keras.optimizers.schedules.CosineDecay(start, decay_steps) if decay_steps else start
    averaging = {"use_ema": True, "ema_momentum": ema} if ema is not None else {}
    return keras.optimizers.Adam(rate, **averaging)


def steps_per_epoch(hparams: HParams, n: int, *, adversarial: bool) -> int:
    """Training batches per epoch over ``n`` examples (fewer if ``train_examples`` caps them)."""
    n = min(n, hparams.train_examples or n)
    batch = hparams.batch(adversarial)
    if adversarial and needs_static_batch(hparams):
        return max(1, n // batch)
    return -(-n // batch)


def wrap_adversarial(base: keras.Model, hparams: HParams, decay_steps: int | None = None, *,
                     optimizer: keras.optimizers.Optimizer | None = None) -> nsl.keras.AdversarialRegularization:
    """``base`` wrapped in NSL's AdversarialRegularization and compiled, as in the tutorial.

    With ``adv_loss`` CLEAN_PREDICTION the wrapper is NSL's with a TRADES-like adversarial term
    (:class:`~advdemo.core.clean_prediction_loss.CleanPredictionRegularization`). ``optimizer`` (default:
    a new one for ``hparams``) lets successive wrappers of one network share its state.
    """
    wrapper = (CleanPredictionRegularization if hparams.adv_loss is AdversarialLoss.CLEAN_PREDICTION
               else nsl.keras.AdversarialRegularization)
    adv = wrapper(base, label_keys=[LABEL_KEY], adv_config=make_adv_config(hparams))
    adv.compile(optimizer=optimizer or _optimizer(hparams, decay_steps, adversarial=True, ema=hparams.adv_ema),
                loss=_loss(), metrics=["acc"])
    return adv


def _fit(model: keras.Model, ds: tf.data.Dataset, epochs: int, steps: int, name: ModelKind,
         progress: ProgressFn | None, *, initial_epoch: int = 0, until: int | None = None,
         probe: ProbeEachEpoch | None = None, extra: list[keras.callbacks.Callback] | None = None
         ) -> tuple[float, float, dict[str, list[float]]]:
    """Fit from ``initial_epoch`` to ``until`` (default: ``epochs``, the whole training's, which progress reports)."""
    model.train_step = with_fast_pool_gradients(model.train_step)
    # The probe measures first, so that the epoch's last progress report carries its point.
    callbacks = ([probe] if probe else []) + (
        [_ReportProgress(name, epochs, steps, progress, probe=probe)] if progress else []) + (extra or [])
    start, cpu = time.perf_counter(), time.process_time()
    history = model.fit(ds, epochs=epochs if until is None else until, verbose=0, callbacks=callbacks,
                        initial_epoch=initial_epoch)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu, {k: [float(v) for v in vals] for k, vals in history.history.items()}


def train_base(hparams: HParams, images: np.ndarray, labels: np.ndarray,
               progress: ProgressFn | None = None) -> TrainResult:
    """Train the tutorial's base model. Seeded by ``hparams.seed``."""
    keras.utils.set_random_seed(hparams.seed)
    model = build_base_model(hparams)
    model.compile(optimizer=_optimizer(hparams), loss=_loss(), metrics=["acc"])
    seconds, cpu, history = _fit(model, make_dataset(images, labels, hparams, as_dict=False), hparams.epochs,
                                 steps_per_epoch(hparams, len(images), adversarial=False), ModelKind.BASE, progress)
    return TrainResult(model, seconds, history, cpu)


def train_adversarial(hparams: HParams, images: np.ndarray, labels: np.ndarray,
                      progress: ProgressFn | None = None, *, checkpoints: Path | None = None,
                      probe: tuple[np.ndarray, np.ndarray] | None = None, probe_cfg: LiveProbe = LiveProbe()
                      ) -> TrainResult:
    """Train a fresh base network inside ``nsl.keras.AdversarialRegularization``.

    Returns the regularized *base network* (``adv_model.base_model`` in the
    tutorial): it is what is saved and evaluated.

    With ``checkpoints`` (a folder), the network and the optimizer (learning
    rate schedule and weight average included) are saved there after every
    epoch, and a run that finds a checkpoint continues from it: a long
    training survives being stopped. ``history`` then holds the epochs of this
    run only, and the data's shuffling restarts with the run.

    ``probe`` (test images ``(N, 28, 28, 1)`` and labels ``(N,)``) measures the
    network on the first ``probe_cfg.examples`` of them after every epoch
    (:mod:`advdemo.core.probe`); the progress reports and the result carry the points.

    An ε ramp (``adv_epsilon_ramp``) trains in phases (:meth:`HParams.epsilon_phases`), each with its own
    NSL wrapper around the one network and the one optimizer.
    """
    keras.utils.set_random_seed(hparams.seed)
    base = build_base_model(hparams)
    epochs, steps = hparams.adv_total_epochs, steps_per_epoch(hparams, len(images), adversarial=True)
    optimizer = _optimizer(hparams, epochs * steps if hparams.adv_cosine_decay else None, adversarial=True,
                           ema=hparams.adv_ema)
    initial_epoch, extra = 0, []
    if checkpoints is not None:
        initial_epoch, saver = _resume(base, optimizer, checkpoints)
        extra.append(saver)
    probing = ProbeEachEpoch(base, *probe, hparams, probe_cfg) if probe is not None else None
    data = make_dataset(images, labels, hparams, as_dict=True)
    seconds = cpu = 0.0
    history: dict[str, list[float]] = {}
    phases = [(first, end, phase) for first, end, phase in hparams.epsilon_phases() if end > initial_epoch]
    if not phases and hparams.adv_ema is not None:
        # A finished checkpoint: swap the average in, as the end of its last fit did.
        optimizer.finalize_variable_values(base.trainable_variables)
    for first, end, phase in phases:
        # NSL fixes its attack when the wrapper is built, so each phase of an ε ramp wraps the network anew;
        # the one optimizer carries the learning rate's schedule and Adam's moments across phases.
        adv = wrap_adversarial(base, phase, optimizer=optimizer)
        phase_seconds, phase_cpu, phase_history = _fit(
            adv, data, epochs, steps, ModelKind.REGULARIZED, progress, initial_epoch=max(first, initial_epoch),
            until=end, probe=probing, extra=extra)
        seconds, cpu = seconds + phase_seconds, cpu + phase_cpu
        for key, values in phase_history.items():
            history.setdefault(key, []).extend(values)
    return TrainResult(base, seconds, history, cpu, probing.history() if probing else None)


class _SaveEachEpoch(keras.callbacks.Callback):
    def __init__(self, checkpoint: tf.train.Checkpoint, manager: tf.train.CheckpointManager):
        super().__init__()
        self._checkpoint, self._manager = checkpoint, manager

    def on_epoch_end(self, epoch, logs=None):
        self._checkpoint.epoch.assign(epoch + 1)
        self._manager.save()
        LOGGER.info("checkpoint after epoch %d in %s", epoch + 1, self._manager.directory)


def _resume(base: keras.Model, optimizer: keras.optimizers.Optimizer, folder: Path) -> tuple[int, _SaveEachEpoch]:
    """The epoch to start from (0: no checkpoint in ``folder``), and the callback that saves each epoch."""
    optimizer.build(base.trainable_variables)  # its slots must exist to be restored into
    checkpoint = tf.train.Checkpoint(model=base, optimizer=optimizer, epoch=tf.Variable(0, dtype=tf.int64))
    manager = tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=1)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        LOGGER.info("resuming from %s after epoch %d", manager.latest_checkpoint, int(checkpoint.epoch))
    return int(checkpoint.epoch), _SaveEachEpoch(checkpoint, manager)


#: Seconds per training batch of 128 on a 2-core CPU: a fixed part (the
#: update, the clean and the adversarial pass) plus one input-gradient pass per
#: step of the training attack, in proportion to the batch size. A least-squares
#: fit (bench/fit_training_time.py) to the recorded times of the shipped robust
#: models and of the fast recipes tried for the lesson (random-start FGSM, PGD-2
#: to PGD-10, batches of 128 and 256, on this project's 2-core machines): it
#: predicts the eps 0.3 PGD model's 31.5 minutes as 32.9. Single runs vary by a
#: third either way with the machine's share of its cores; a server that has
#: trained models scales this by its own pace (:func:`pace`).
_BATCH_SECONDS = (0.068, 0.0143)
_BASE_BATCH_SECONDS = 0.06


def expected_training_seconds(hparams: HParams, n_train: int, *, with_base: bool = False) -> float:
    """Rough wall time to train the regularized model (and the base model) on ``n_train`` digits."""
    fixed, per_step = _BATCH_SECONDS
    adv = hparams.adv_total_epochs * steps_per_epoch(hparams, n_train, adversarial=True) * (
        hparams.batch(True) / 128) * (fixed + per_step * hparams.adv_pgd_iterations)
    base = hparams.epochs * steps_per_epoch(hparams, n_train, adversarial=False) * (
        hparams.batch(False) / 128) * _BASE_BATCH_SECONDS
    return adv + (base if with_base else 0.0)


def pace(recorded: Iterable[tuple[HParams, int, float]]) -> float | None:
    """How much slower (> 1) or faster this machine trains than :func:`expected_training_seconds` says: the
    median ratio over ``recorded`` trainings done on it, each ``(hparams, n_train, wall seconds)`` of a
    regularized model (None: none recorded)."""
    ratios = sorted(seconds / expected for hp, n, seconds in recorded
                    if seconds > 0 and (expected := expected_training_seconds(hp, n)) > 0)
    if not ratios:
        return None
    middle = len(ratios) // 2
    return ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2


def training_summary(hparams: HParams, tr: Catalogue | None = None) -> str:
    """How the regularized model trains, in one line, e.g. "PGD, 10 steps of 0.075 within L∞ ε 0.3, ...",
    in ``tr``'s language (default English)."""
    tr = tr or english()
    norm = NORM_SPECS[hparams.adv_grad_norm].symbol
    how = tr(f"summary.{hparams.training_attack.value}", norm=norm, step=hparams.adv_step_size,
             epsilon=hparams.adv_epsilon, iterations=hparams.adv_pgd_iterations)
    average = "" if hparams.adv_ema is None else tr("summary.average", momentum=hparams.adv_ema)
    ramp = "" if hparams.adv_epsilon_ramp is None else tr("summary.ramp", epochs=hparams.adv_epsilon_ramp)
    scored = "" if hparams.adv_loss is AdversarialLoss.LABELS else tr(f"summary.loss-{hparams.adv_loss.value}")
    batch = "" if hparams.adv_batch_size is None else tr("summary.batch", batch=hparams.batch(True),
                                                          rate=hparams.rate(True))
    return tr("summary.rest", how=how, clip=tr("summary.clipped") if hparams.adv_clip else "",
              multiplier=hparams.adv_multiplier, epochs=hparams.adv_total_epochs, batch=batch, average=average,
              loss=scored, ramp=ramp)
