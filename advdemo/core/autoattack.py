"""AutoAttack's attacks (Croce & Hein 2020): APGD-CE, APGD-T and Square, batched and compiled.

The accepted standard for reporting robustness runs a fixed set of attacks
with no tuning per model. Each finds what the others miss:

* **APGD-CE**: PGD on the cross-entropy with a step size that adapts itself
  (halved where the loss stops rising, restarted from the best point) and
  momentum. 100 iterations from a random start.
* **APGD-T**: the same on the *targeted DLR loss*,
  ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``, once for each of the
  ``targets`` classes the model ranks highest after the true one. The loss does
  not change when the logits are scaled, which blunts cross-entropy PGD on
  models with large logits.
* **Square**: a random search (Andriushchenko et al. 2020) that reads only the
  model's answers, never its gradient. Each query moves one random square
  window of the perturbation to the other corner of the epsilon ball and keeps
  it if the margin ``z_y - max_{j != y} z_j`` falls. No gradient masking can
  hide a digit from it. L-infinity only.

The maths follows the reference implementation (github.com/fra31/auto-attack,
``autopgd_base.py`` and ``square.py``), with one change for speed and none
for strength: an attack runs in parts and stops attacking a digit as soon as
it is fooled (its example is kept; the attacks are per digit, so the others'
are unchanged). Square draws a window and signs per digit, as the paper does,
rather than one window for the whole batch.

Every example an attack returns is checked again by :func:`verified`: within
the epsilon ball, within [0, 1], and misclassified. Only those count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from advdemo.core.attacks import batches, compiled
from advdemo.core.compat import keras, tf
from advdemo.core.config import Norm
from advdemo.core.evaluation import predict
from advdemo.core.kernels import fast_pool_gradients

#: Norm-ball slack when checking an example (float32 rounding of x + delta).
BALL_TOLERANCE = 1e-5
#: Square's queries per compiled call; fooled digits leave between calls.
SQUARE_PART = 250
#: Digits per compiled Square call (forward passes only, so larger than the gradient attacks' batch).
SQUARE_BATCH = 1024
_TINY = 1e-12


# -- losses (per example, on logits (N, C) and labels (N,)) --------------------


def _ce(logits: tf.Tensor, y: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    del target
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)


def _dlr_targeted(logits: tf.Tensor, y: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
    z_y = tf.gather(logits, y, batch_dims=1)
    z_t = tf.gather(logits, target, batch_dims=1)
    scale = ordered[:, 0] - 0.5 * (ordered[:, 2] + ordered[:, 3]) + _TINY
    return -(z_y - z_t) / scale


def _dlr(logits: tf.Tensor, y: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    del target
    ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
    return -margin(logits, y) / (ordered[:, 0] - ordered[:, 2] + _TINY)


def margin(logits: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """``z_y - max_{j != y} z_j`` per example ``(N,)``: negative means misclassified."""
    z_y = tf.gather(logits, y, batch_dims=1)
    others = logits - tf.one_hot(y, tf.shape(logits)[-1], on_value=np.inf, off_value=0.0)
    return z_y - tf.reduce_max(others, axis=-1)


_LOSSES = {"ce": _ce, "dlr": _dlr, "dlr-targeted": _dlr_targeted}


# -- APGD ----------------------------------------------------------------------


def checkpoints(iterations: int) -> list[int]:
    """The iterations after which APGD may halve its step: 22%, then windows shrinking by 3% to at least 6%."""
    window, shrink, least = max(int(0.22 * iterations), 1), max(int(0.03 * iterations), 1), max(
        int(0.06 * iterations), 1)
    points, at = [], window
    while at <= iterations:
        points.append(at)
        window = max(window - shrink, least)
        at += window
    return points


def _project(x: tf.Tensor, adv: tf.Tensor, eps: tf.Tensor, norm: Norm) -> tf.Tensor:
    """``adv`` moved into the ``norm`` ball of radius ``eps`` around ``x``, then into [0, 1]."""
    if norm is Norm.INFINITY:
        return tf.clip_by_value(tf.clip_by_value(adv, x - eps, x + eps), 0.0, 1.0)
    delta = adv - x
    length = tf.sqrt(tf.reduce_sum(tf.square(delta), axis=[1, 2, 3], keepdims=True)) + _TINY
    return tf.clip_by_value(x + delta * tf.minimum(1.0, eps / length), 0.0, 1.0)


def _ascent(grad: tf.Tensor, norm: Norm) -> tf.Tensor:
    if norm is Norm.INFINITY:
        return tf.sign(grad)
    return grad / (tf.sqrt(tf.reduce_sum(tf.square(grad), axis=[1, 2, 3], keepdims=True)) + _TINY)


def _random_start(x: tf.Tensor, eps: tf.Tensor, norm: Norm, seed: tf.Tensor) -> tf.Tensor:
    """The reference's start: a random point on the ball's surface (L-inf: one pixel at eps), in [0, 1]."""
    if norm is Norm.INFINITY:
        t = tf.random.stateless_uniform(tf.shape(x), tf.stack([seed, 7]), -1.0, 1.0)
        t /= tf.reduce_max(tf.abs(t), axis=[1, 2, 3], keepdims=True)
    else:
        t = tf.random.stateless_normal(tf.shape(x), tf.stack([seed, 7]))
        t /= tf.sqrt(tf.reduce_sum(tf.square(t), axis=[1, 2, 3], keepdims=True)) + _TINY
    return tf.clip_by_value(x + eps * t, 0.0, 1.0)


def _apgd_graph(model, x, y, target, eps, seed, *, norm: Norm, loss: str, iterations: int):
    """APGD on one batch: ``(fooled (N,) bool, example (N, 28, 28, 1))``; the example fools where ``fooled``."""
    loss_fn = _LOSSES[loss]
    marks = tf.constant([i in set(checkpoints(iterations)) for i in range(iterations + 1)])
    # The window before each checkpoint, to count the steps in it that raised the loss.
    windows = np.zeros(iterations + 1, np.float32)
    last = 0
    for c in checkpoints(iterations):
        windows[c], last = c - last, c
    windows_t = tf.constant(windows)

    def evaluate(adv):
        with tf.GradientTape(watch_accessed_variables=False) as tape, fast_pool_gradients():
            tape.watch(adv)
            logits = model(adv, training=False)
            per_example = loss_fn(logits, y, target)
            total = tf.reduce_sum(per_example)
        grad = tape.gradient(total, adv)
        grad = tf.where(tf.math.is_finite(grad), grad, tf.zeros_like(grad))
        return per_example, grad, tf.argmax(logits, axis=-1, output_type=y.dtype) != y

    adv = _random_start(x, eps, norm, seed)
    value, grad, fooled = evaluate(adv)
    example = adv
    step = 2.0 * eps * tf.ones_like(value)[:, None, None, None]
    best_value, best_adv, best_grad = value, adv, grad
    previous = adv
    last_value = value
    raised = tf.zeros_like(value)
    best_at_check = best_value
    halved_at_check = tf.ones_like(value, tf.bool)

    for i in tf.range(1, iterations + 1):
        momentum = tf.where(i > 1, 0.75, 1.0)
        z = _project(x, adv + step * _ascent(grad, norm), eps, norm)
        new = _project(x, adv + momentum * (z - adv) + (1.0 - momentum) * (adv - previous), eps, norm)
        previous, adv = adv, new
        value, grad, now_fooled = evaluate(adv)
        example = tf.where(now_fooled[:, None, None, None] & ~fooled[:, None, None, None], adv, example)
        fooled = fooled | now_fooled
        raised += tf.cast(value > last_value, tf.float32)
        last_value = value
        better = value > best_value
        best_adv = tf.where(better[:, None, None, None], adv, best_adv)
        best_grad = tf.where(better[:, None, None, None], grad, best_grad)
        best_value = tf.where(better, value, best_value)
        if marks[i]:
            # Halve where the loss rose in too few steps of the window, or where the step was not
            # halved last time and the best loss has not improved since; restart those from the best.
            halve = (raised <= 0.75 * windows_t[i]) | (~halved_at_check & (best_at_check >= best_value))
            halved_at_check, best_at_check = halve, best_value
            step = tf.where(halve[:, None, None, None], step / 2.0, step)
            adv = tf.where(halve[:, None, None, None], best_adv, adv)
            grad = tf.where(halve[:, None, None, None], best_grad, grad)
            raised = tf.zeros_like(value)
        if tf.reduce_all(fooled):
            break
    return fooled, example


def _target_graph(model, x, *, rank: int):
    """The class ``model`` ranks ``rank``-th (1 = its first choice) on each clean image ``(N,)``."""
    logits = model(x, training=False)
    return tf.gather(tf.argsort(logits, axis=-1, direction="DESCENDING"), rank - 1, axis=-1)


# -- Square --------------------------------------------------------------------


def square_fraction(query: int, p_init: float) -> float:
    """The fraction of pixels Square's window covers at ``query`` (the reference's schedule, not rescaled)."""
    for bound, divisor in ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128),
                           (8000, 256)):
        if query <= bound:
            return p_init / divisor
    return p_init / 512


def _square_graph(model, x, y, x_best, margin_best, sides, count, eps, seed):
    """``count`` Square steps on one batch from ``x_best``; returns the new ``(x_best, margin_best)``.

    ``sides`` ``(>= count,)`` int32 is the window's side at each step. Digits with a margin of
    zero or less are fooled and left as they are.
    """
    n = tf.shape(x)[0]
    height, width = x.shape[1], x.shape[2]
    rows = tf.range(height)[None, :, None, None]
    cols = tf.range(width)[None, None, :, None]
    for q in tf.range(count):
        side = sides[q]
        key = tf.stack([seed, tf.cast(q, tf.int64)])
        # The reference draws the corner in [0, size - side), and at least the first row.
        corner = tf.random.stateless_uniform([n, 2], key, 0, tf.maximum(height - side, 1), dtype=tf.int32)
        sign = tf.sign(tf.random.stateless_uniform([n, 1, 1, 1], key + 1, -1.0, 1.0))
        top, left = corner[:, 0][:, None, None, None], corner[:, 1][:, None, None, None]
        inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
        candidate = tf.where(inside, x_best + 2.0 * eps * sign, x_best)
        candidate = tf.clip_by_value(tf.clip_by_value(candidate, x - eps, x + eps), 0.0, 1.0)
        value = margin(model(candidate, training=False), y)
        better = (value < margin_best) & (margin_best > 0.0)
        x_best = tf.where(better[:, None, None, None], candidate, x_best)
        margin_best = tf.where(better, value, margin_best)
        if tf.reduce_all(margin_best <= 0.0):
            break
    return x_best, margin_best


# -- running the attacks on many digits -----------------------------------------


def verified(model: keras.Model, images: np.ndarray, labels: np.ndarray, examples: np.ndarray, norm: Norm,
             eps: float) -> np.ndarray:
    """Which ``examples`` are valid adversarial examples for ``images``: ``(N,)`` bool.

    Valid means within ``eps`` of the image in ``norm`` (float32 slack
    :data:`BALL_TOLERANCE`), every pixel in [0, 1], and misclassified.
    """
    if not len(images):
        return np.zeros(0, bool)
    delta = (examples - images).reshape(len(images), -1).astype(np.float64)
    size = np.abs(delta).max(axis=1) if norm is Norm.INFINITY else np.sqrt((delta**2).sum(axis=1))
    in_box = (examples >= 0.0).all(axis=(1, 2, 3)) & (examples <= 1.0).all(axis=(1, 2, 3))
    return (size <= eps + BALL_TOLERANCE) & in_box & (predict(model, examples) != labels)


def _check_norm(norm: Norm, attack: str) -> None:
    if norm not in (Norm.INFINITY, Norm.L2) or (attack == "square" and norm is not Norm.INFINITY):
        raise ValueError(f"{attack} is not available for norm '{norm.value}'")


@dataclass(frozen=True)
class AttackResult:
    """An attack's examples ``(N, 28, 28, 1)`` in [0, 1], each within the ball, and which of them
    are verified adversarial examples ``(N,)`` bool (:func:`verified`)."""

    examples: np.ndarray
    fooled: np.ndarray


def apgd(model: keras.Model, images: np.ndarray, labels: np.ndarray, norm: Norm, eps: float, *,
         iterations: int = 100, restarts: int = 1, targets: int = 0, dlr: bool = False, seed: int = 0,
         progress: Callable[[], None] | None = None) -> AttackResult:
    """APGD against ``model``; a digit's example is the first that fooled it, else the last run's.

    ``images`` ``(N, 28, 28, 1)`` in [0, 1], ``labels`` ``(N,)``. ``targets == 0``
    runs APGD-CE (APGD-DLR if ``dlr``) from ``restarts`` random starts;
    ``targets > 0`` runs APGD-T, the targeted DLR loss towards each of the
    ``targets`` classes the model ranks highest after its first choice,
    ``restarts`` times each. Each run attacks only the digits no earlier run
    fooled. ``progress`` is called after each run.
    """
    _check_norm(norm, "APGD")
    labels = np.asarray(labels, np.int64)
    examples = np.asarray(images, np.float32).copy()
    fooled = np.zeros(len(labels), bool)
    loss = "dlr-targeted" if targets else "dlr" if dlr else "ce"
    run = compiled(model, _apgd_graph, norm=norm, loss=loss, iterations=iterations)
    ranks = [r + 2 for r in range(targets)] if targets else [0]
    for rank in ranks:
        for restart in range(restarts):
            index = np.flatnonzero(~fooled)
            for s in batches(len(index)):
                part = index[s]
                x = tf.constant(images[part], tf.float32)
                target = compiled(model, _target_graph, rank=rank)(x) if rank else tf.zeros(len(part), tf.int64)
                run_seed = tf.constant(seed * 1009 + restart * 31 + rank, tf.int64)
                _, found = run(x, tf.constant(labels[part]), tf.cast(target, tf.int64),
                               tf.constant(eps, tf.float32), run_seed)
                examples[part] = found.numpy()
                fooled[part] = verified(model, images[part], labels[part], examples[part], norm, eps)
            if progress:
                progress()
    return AttackResult(examples, fooled)


def square(model: keras.Model, images: np.ndarray, labels: np.ndarray, norm: Norm, eps: float, *,
           queries: int = 5000, p_init: float = 0.8, seed: int = 0,
           progress: Callable[[int, int], None] | None = None) -> AttackResult:
    """Square (L-infinity) against ``model`` within ``queries`` steps; a digit's example is the one
    with the lowest margin found.

    Each digit costs at most ``queries + 1`` forward passes (the first is the
    starting point). ``progress(done, queries)`` is called after each part of
    :data:`SQUARE_PART` steps.
    """
    _check_norm(norm, "square")
    labels = np.asarray(labels, np.int64)
    n = len(labels)
    if n == 0 or eps <= 0:
        return AttackResult(np.asarray(images, np.float32).copy(), np.zeros(n, bool))
    height, features = images.shape[1], int(np.prod(images.shape[1:]))
    rng = np.random.default_rng(seed)
    # The reference's first point: vertical stripes of +-eps.
    stripes = rng.choice([-1.0, 1.0], size=(n, 1, images.shape[2], images.shape[3])).astype(np.float32)
    best = np.clip(images + np.float32(eps) * stripes, 0.0, 1.0).astype(np.float32)
    best_margin = np.concatenate([compiled(model, _margin_graph)(tf.constant(best[s]), tf.constant(labels[s])).numpy()
                                  for s in batches(n)])
    run = compiled(model, _square_graph)
    sides = [min(max(int(round(math.sqrt(square_fraction(q, p_init) * features))), 1), height)
             for q in range(queries)]
    for done in range(0, queries, SQUARE_PART):
        index = np.flatnonzero(best_margin > 0)
        if not len(index):
            break
        count = min(SQUARE_PART, queries - done)
        for s in batches(len(index), SQUARE_BATCH):
            chunk = index[s]
            new_best, new_margin = run(
                tf.constant(images[chunk]), tf.constant(labels[chunk]), tf.constant(best[chunk]),
                tf.constant(best_margin[chunk]), tf.constant(sides[done:done + count], tf.int32),
                tf.constant(count, tf.int32), tf.constant(eps, tf.float32),
                tf.constant(seed * 1_000_003 + done * 10_007 + int(chunk[0]), tf.int64))
            best[chunk], best_margin[chunk] = new_best.numpy(), new_margin.numpy()
        if progress:
            progress(done + count, queries)
    return AttackResult(best, verified(model, images, labels, best, norm, eps))


def _margin_graph(model, x, y):
    return margin(model(x, training=False), y)
