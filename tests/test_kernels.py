import numpy as np
import pytest

from advdemo.core.compat import tf
from advdemo.core.kernels import fast_pool_gradients


def pool_gradient(x, dy, fast, **pool):
    @tf.function
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            if fast:
                with fast_pool_gradients():
                    y = tf.nn.max_pool2d(x, **pool)
            else:
                y = tf.nn.max_pool2d(x, **pool)
            loss = tf.reduce_sum(y * dy)
        return tape.gradient(loss, x)

    return grad(tf.constant(x)).numpy()


@pytest.mark.parametrize("size", [26, 11, 5])
def test_fast_pool_gradient_equals_tensorflows_after_relu(rng, size):
    """Post-ReLU inputs (many tied zeros, odd sizes) give exactly TF's gradient."""
    x = np.maximum(rng.normal(size=(8, size, size, 6)), 0).astype(np.float32)
    dy = rng.normal(size=(8, size // 2, size // 2, 6)).astype(np.float32)
    relu_mask = x > 0
    fast = pool_gradient(x, dy, True, ksize=2, strides=2, padding="VALID")
    slow = pool_gradient(x, dy, False, ksize=2, strides=2, padding="VALID")
    # Through the ReLU (as in the model) the two are identical; tied zeros are discarded.
    np.testing.assert_array_equal(fast * relu_mask, slow * relu_mask)
    np.testing.assert_array_equal(fast[relu_mask], slow[relu_mask])


def test_other_pooling_shapes_fall_back_to_tensorflow(rng):
    x = rng.normal(size=(2, 9, 9, 3)).astype(np.float32)
    dy = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    pool = dict(ksize=3, strides=2, padding="VALID")  # overlapping windows
    np.testing.assert_array_equal(pool_gradient(x, dy, True, **pool), pool_gradient(x, dy, False, **pool))
