"""A faster gradient for the CNN's 2x2 max pooling, used in training and attacks.

The max-pool gradients are the most expensive ops of an input gradient on the
CPU: on a 2-core machine, TensorFlow's ``MaxPoolGrad`` after the first conv
layer costs about 12 times the pooling itself (bench/profile_ops.py). For
non-overlapping windows (kernel == stride, VALID padding, NHWC), the gradient
has a simple closed form: each window's upstream gradient goes to the
position(s) holding the window's maximum, a compare and a select on a
reshaped tensor. Measured, that is 7-9% faster than TensorFlow's kernel
(docs/benchmarks.md): a small, exact gain.

It is the same gradient as TensorFlow's except when a window holds its maximum
more than once: TensorFlow picks one position, this gives it to each. In this
model pooling follows a ReLU, so ties are between zeros, whose gradient the
ReLU discards either way; the tests check the two agree exactly.

The gradient is opt-in, through :func:`fast_pool_gradients`, and only for
graphs that advdemo builds. Any other pooling shape falls back to
TensorFlow's own kernel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from advdemo.core.compat import tf

_NAME = "AdvdemoNonOverlappingMaxPoolGrad"


@tf.RegisterGradient(_NAME)
def _max_pool_grad(op, dy):
    x, y = op.inputs[0], op.outputs[0]
    ksize, strides = list(op.get_attr("ksize")), list(op.get_attr("strides"))
    padding, layout = op.get_attr("padding"), op.get_attr("data_format")
    if ksize != strides or ksize[0] != 1 or ksize[3] != 1 or padding != b"VALID" or layout != b"NHWC":
        return tf.raw_ops.MaxPoolGrad(orig_input=x, orig_output=y, grad=dy, ksize=ksize, strides=strides,
                                      padding=padding, data_format=layout)
    kh, kw = ksize[1], ksize[2]
    _, out_h, out_w, channels = y.shape
    _, in_h, in_w, _ = x.shape
    batch = tf.shape(x)[0]
    # VALID pooling ignores trailing rows/columns that do not fill a window.
    windows = tf.reshape(x[:, : out_h * kh, : out_w * kw, :], [batch, out_h, kh, out_w, kw, channels])
    is_max = tf.equal(windows, y[:, :, None, :, None, :])
    grad = tf.where(is_max, dy[:, :, None, :, None, :], tf.zeros((), dy.dtype))
    grad = tf.reshape(grad, [batch, out_h * kh, out_w * kw, channels])
    return tf.pad(grad, [[0, 0], [0, in_h - out_h * kh], [0, in_w - out_w * kw], [0, 0]])


@contextlib.contextmanager
def fast_pool_gradients() -> Iterator[None]:
    """Within a graph being traced, MaxPool ops created here use the fast gradient."""
    with tf.compat.v1.get_default_graph().gradient_override_map({"MaxPool": _NAME}):
        yield


def with_fast_pool_gradients(train_step):
    """Wrap a Keras ``train_step`` so the graph it traces uses the fast gradient."""

    def step(data):
        with fast_pool_gradients():
            return train_step(data)

    return step
