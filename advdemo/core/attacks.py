"""Batched, compiled FGSM and PGD, numerically matching NSL's ``perturb_on_batch``.

NSL perturbs one small batch per eager call; these functions run a compiled
graph over large batches. The maths is NSL's (``nsl.lib.maximize_within_unit_norm``
and ``nsl.lib.project_to_ball``):

* FGSM: ``x' = clip(x + step * d(grad))``, with ``d`` the direction that
  maximizes the loss within a unit ball: ``sign(g)`` for L-inf, ``g / |g|_2``
  for L2, and for L1 a unit move on the pixel(s) with the largest ``|g|``.
* PGD: repeated steps from ``x`` (or a random point of the epsilon ball),
  projecting the total perturbation onto the epsilon ball after each step.

Every result is clipped to [0, 1]: NSL ignores scalar clip values when the
inputs are a dict, so the tutorial clips afterwards; here it is built in.

Gradients are per example (summed loss), so a perturbation never depends on
which other images share its batch.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from advdemo.core.compat import keras, tf
from advdemo.core.config import Attack, Norm
from advdemo.core.kernels import fast_pool_gradients

#: Images per compiled call. Measured fastest on a 2-core CPU (bench/): larger
#: batches spill the first conv layer's activations out of the caches.
BATCH = 256
_EPS = 1e-6  # NSL's floor on norms, to avoid dividing by zero


def unit_direction(grad: tf.Tensor, norm: Norm) -> tf.Tensor:
    """The per-example unit-norm direction maximizing ``<grad, d>``.

    ``grad`` ``(N, ...)``; returns the same shape. Matches NSL's
    ``maximize_within_unit_norm``.
    """
    axes = list(range(1, grad.shape.rank))
    if norm is Norm.INFINITY:
        return tf.sign(grad)
    if norm is Norm.L2:
        squared = tf.reduce_sum(tf.square(grad), axis=axes, keepdims=True)
        return grad * tf.math.rsqrt(tf.maximum(squared, _EPS**2))
    magnitude = tf.abs(grad)
    is_max = tf.cast(tf.equal(magnitude, tf.reduce_max(magnitude, axis=axes, keepdims=True)), grad.dtype)
    count = tf.reduce_sum(is_max, axis=axes, keepdims=True)
    return is_max * tf.sign(grad) / tf.maximum(count, _EPS)


def project(delta: tf.Tensor, radius: tf.Tensor, norm: Norm) -> tf.Tensor:
    """Project each example's perturbation onto the ``norm`` ball of ``radius`` (L-inf, L2)."""
    if norm is Norm.INFINITY:
        return tf.clip_by_value(delta, -radius, radius)
    axes = list(range(1, delta.shape.rank))
    length = tf.sqrt(tf.maximum(tf.reduce_sum(tf.square(delta), axis=axes, keepdims=True), _EPS**2))
    return delta * tf.minimum(1.0, radius / length)


def _random_in_ball(shape: tf.TensorShape, radius: tf.Tensor, norm: Norm, seed: tf.Tensor) -> tf.Tensor:
    if norm is Norm.INFINITY:
        return tf.random.stateless_uniform(shape, tf.stack([seed, 0]), -1.0, 1.0) * radius
    # L2: a uniform direction and a radius distributed as r^(1/d), as in NSL.
    gauss = tf.random.stateless_normal(shape, tf.stack([seed, 0]))
    axes = list(range(1, len(shape)))
    direction = gauss * tf.math.rsqrt(tf.reduce_sum(tf.square(gauss), axis=axes, keepdims=True))
    dims = tf.cast(tf.reduce_prod(shape[1:]), tf.float32)
    u = tf.random.stateless_uniform([shape[0]] + [1] * (len(shape) - 1), tf.stack([seed, 1]))
    return direction * radius * u ** (1.0 / dims)


def _input_gradient(model: keras.Model, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-example gradient of the cross-entropy w.r.t. ``x``, and the logits at ``x``."""
    with tf.GradientTape(watch_accessed_variables=False) as tape, fast_pool_gradients():
        tape.watch(x)
        logits = model(x, training=False)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    grad = tape.gradient(loss, x)
    # As NSL does: a non-finite gradient entry contributes no perturbation.
    return tf.where(tf.math.is_finite(grad), grad, tf.zeros_like(grad)), logits


def _perturb_graph(model, x, y, step, radius, iterations, seed, start, from_start, random_start, *, norm: Norm,
                   projected: bool):
    """One compiled batch of FGSM (one step, not ``projected``) or PGD (``iterations`` projected steps).

    The first iterate is ``start`` when ``from_start`` (an earlier result, to go on from), else a random
    point of the ball when ``random_start``, else ``x``. Everything that varies between calls is a tensor,
    so each model has one graph per norm and method, whatever the batch size, step count, strength,
    seed or start (:func:`compiled`).
    """

    def initial():
        if not projected:  # FGSM steps from the image itself
            return x
        return tf.cond(random_start,
                       lambda: tf.clip_by_value(x + _random_in_ball(tf.shape(x), radius, norm, seed), 0.0, 1.0),
                       lambda: x)

    adv = tf.cond(from_start, lambda: start, initial)

    def one(adv):
        grad, _ = _input_gradient(model, adv, y)
        delta = adv + step * unit_direction(grad, norm) - x
        if projected:
            delta = project(delta, radius, norm)
        return tf.clip_by_value(x + delta, 0.0, 1.0)

    if not projected:  # no loop: it would cost FGSM a quarter of its single step's time
        return one(adv)
    for _ in tf.range(iterations):
        adv = one(adv)
    return adv


def _perturb_signature(images: tf.TensorSpec) -> tuple[tf.TensorSpec, ...]:
    """x, y, step, radius, iterations, seed, start, from_start, random_start."""
    scalar = functools.partial(tf.TensorSpec, [])
    return (images, _LABELS, scalar(tf.float32), scalar(tf.float32), scalar(tf.int32), scalar(tf.int64), images,
            scalar(tf.bool), scalar(tf.bool))


def _direction_graph(model, x, y, *, norm: Norm):
    grad, logits = _input_gradient(model, x, y)
    return unit_direction(grad, norm), tf.argmax(logits, axis=-1)


def _probabilities_graph(model, x):
    return tf.nn.softmax(model(x, training=False), axis=-1)


#: The compiled graphs of one model, kept on the model itself. A ``tf.function`` that took the model as an
#: argument would keep a graph, and the model with it, for every model it ever saw: a server that loads and
#: drops pairs would never free them. Here the graphs go when the model goes. Each has a fixed signature
#: (any batch size), so a model holds at most one graph per function, norm and method: a server's memory
#: stops growing once its models have met each kind of attack, instead of a graph for every batch size and
#: way of starting (about 1.5 MB each, docs/benchmarks.md).
_GRAPHS = "_advdemo_attack_graphs"


def compiled(model: keras.Model, fn, signature: Sequence[tf.TensorSpec] = (),
             **options) -> tf.types.experimental.PolymorphicFunction:
    """``fn(model, ...)`` compiled for ``model`` with the static ``options`` (hashable), made once.

    ``signature``: the arguments' specs, so one graph serves whatever they hold; without it the function
    is traced per kind of arguments, as TensorFlow's ``reduce_retracing`` allows.
    """
    graphs = model.__dict__.setdefault(_GRAPHS, {})  # not setattr: Keras would track the dict as state
    key = (fn.__name__, tuple(sorted(options.items())), tuple(signature))
    if key not in graphs:
        bound = functools.partial(fn, model, **options)
        graphs[key] = (tf.function(bound, input_signature=list(signature)) if signature else
                       tf.function(bound, reduce_retracing=True))
    return graphs[key]


def _images_spec(images: np.ndarray) -> tf.TensorSpec:
    """Any number of images shaped like ``images``' ``(N, ...)``."""
    return tf.TensorSpec([None, *np.shape(images)[1:]], tf.float32)


_LABELS = tf.TensorSpec([None], tf.int64)


def graph_count(model: keras.Model) -> int:
    """How many graphs ``model``'s attacks hold (for the memory benchmark and the tests)."""
    return sum(f.experimental_get_tracing_count() for f in model.__dict__.get(_GRAPHS, {}).values())


def batches(n: int, size: int = BATCH):
    """Slices that cover ``range(n)`` in consecutive chunks of at most ``size``."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def perturb(model: keras.Model, images: np.ndarray, labels: np.ndarray, attack: Attack, *,
            start: np.ndarray | None = None, iterations: int | None = None) -> np.ndarray:
    """Adversarial examples against ``model``.

    ``images`` ``(N, 28, 28, 1)`` float32 in [0, 1]; ``labels`` ``(N,)`` int.
    Returns ``(N, 28, 28, 1)`` float32 in [0, 1], within ``attack.strength`` of
    ``images`` in ``attack.norm`` (for PGD; for FGSM the single step has that length
    before clipping).

    PGD can run in parts: ``iterations`` overrides the number of steps, and
    ``start`` (an earlier result for the same images and attack) continues
    from there instead of from ``images`` or a random start.

    A targeted attack (``attack.target``) steps *down* the cross-entropy of the
    target class, the same graph with the step's sign turned.
    """
    if attack.strength == 0.0 or len(images) == 0:
        return np.asarray(images, dtype=np.float32).copy()
    spec = attack.method.spec
    craft = spec.crafter()
    if craft is not None:  # a registered attack of its own (advdemo.core.attack_methods)
        crafted = np.asarray(craft(model, np.asarray(images, np.float32), np.asarray(labels), attack), np.float32)
        if crafted.shape != np.shape(images):
            raise ValueError(f"attack {attack.method.value!r} returned shape {crafted.shape}, not {np.shape(images)}")
        return np.clip(crafted, 0.0, 1.0)
    out = np.empty(np.shape(images), dtype=np.float32)
    if attack.target is not None:  # down the loss of the target class instead of up the label's
        labels = np.full(len(images), attack.target, np.int64)
    step = tf.constant(-attack.step_per_iteration if attack.target is not None else attack.step_per_iteration,
                       tf.float32)
    radius = tf.constant(attack.strength, tf.float32)
    run = compiled(model, _perturb_graph, _perturb_signature(_images_spec(images)), norm=attack.norm,
                   projected=spec.iterative)
    # Tensors, so a new step count, strength, seed (each PGD restart) or start does not retrace the graph.
    seed = tf.constant(attack.seed, tf.int64)
    steps = tf.constant(iterations or attack.iterations, tf.int32)
    random_start = tf.constant(spec.iterative and attack.random_start)
    from_start = tf.constant(start is not None)
    for s in batches(len(images)):
        x = tf.constant(images[s], tf.float32)
        out[s] = run(x, tf.constant(labels[s], tf.int64), step, radius, steps, seed,
                     x if start is None else tf.constant(start[s], tf.float32), from_start, random_start).numpy()
    return out


def fgsm_directions(model: keras.Model, images: np.ndarray, labels: np.ndarray,
                    norm: Norm) -> tuple[np.ndarray, np.ndarray]:
    """FGSM's unit directions for ``images`` and ``model``'s clean predictions.

    The FGSM direction does not depend on the step size, so one gradient serves
    every strength: ``clip(images + s * direction, 0, 1)``. Returns directions
    ``(N, 28, 28, 1)`` float32 and predictions ``(N,)`` int64.
    """
    directions = np.empty(np.shape(images), dtype=np.float32)
    predictions = np.empty(len(images), dtype=np.int64)
    run = compiled(model, _direction_graph, (_images_spec(images), _LABELS), norm=norm)
    for s in batches(len(images)):
        d, p = run(tf.constant(images[s], tf.float32), tf.constant(labels[s], tf.int64))
        directions[s], predictions[s] = d.numpy(), p.numpy()
    return directions, predictions


def probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Class probabilities ``(N, classes)`` float32 for images ``(N, 28, 28, 1)`` in [0, 1]."""
    out = np.empty((len(images), model.output_shape[-1]), dtype=np.float32)
    run = compiled(model, _probabilities_graph, (_images_spec(images),))
    for s in batches(len(images)):
        out[s] = run(tf.constant(images[s], tf.float32)).numpy()
    return out
