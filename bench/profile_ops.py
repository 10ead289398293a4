"""Where the time goes: each layer's forward and input-gradient ops, per 10,000 images.

Times the tutorial CNN's layers one by one at the evaluation batch size, and
TensorFlow's max-pool gradient next to advdemo's (``advdemo.core.kernels``). This
is the profile behind the choices in docs/benchmarks.md.

    python bench/profile_ops.py [--batch 256]
"""

from __future__ import annotations

import argparse
import time

from common import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    from advdemo.core.compat import tf
    from advdemo.core.kernels import fast_pool_gradients

    batch, calls = args.batch, args.calls
    per_10k = 10_000 / (batch * calls)
    rows: dict[str, float] = {}

    def bench(name, fn, *inputs):
        fn(*inputs).numpy()  # trace and warm up
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(*inputs)
        out.numpy()
        rows[name] = round((time.perf_counter() - start) * per_10k, 3)

    # (input side, in channels, out channels) of the three 3x3 convolutions
    for side, c_in, c_out in ((28, 1, 32), (13, 32, 64), (5, 64, 64)):
        x = tf.random.uniform([batch, side, side, c_in])
        w = tf.random.normal([3, 3, c_in, c_out])
        dy = tf.random.normal([batch, side - 2, side - 2, c_out])
        bench(f"conv {side}x{side}x{c_in}->{c_out} forward",
              tf.function(lambda x, w: tf.reduce_sum(tf.nn.relu(tf.nn.conv2d(x, w, 1, "VALID")))), x, w)
        bench(f"conv {side}x{side}x{c_in}->{c_out} input gradient",
              tf.function(lambda dy, w, s=side, c=c_in: tf.reduce_sum(
                  tf.nn.conv2d_transpose(dy, w, [batch, s, s, c], 1, "VALID"))), dy, w)
    for side, channels in ((26, 32), (11, 64)):
        x = tf.nn.relu(tf.random.normal([batch, side, side, channels]))
        dy = tf.random.normal([batch, side // 2, side // 2, channels])
        bench(f"max-pool {side}x{side}x{channels} forward",
              tf.function(lambda x: tf.reduce_sum(tf.nn.max_pool2d(x, 2, 2, "VALID"))), x)

        def pool_grad(x, dy, fast):
            with tf.GradientTape() as tape:
                tape.watch(x)
                if fast:
                    with fast_pool_gradients():
                        y = tf.nn.max_pool2d(x, 2, 2, "VALID")
                else:
                    y = tf.nn.max_pool2d(x, 2, 2, "VALID")
                loss = tf.reduce_sum(y * dy)
            return tf.reduce_sum(tape.gradient(loss, x))

        bench(f"max-pool {side}x{side}x{channels} gradient, TensorFlow's",
              tf.function(lambda x, dy: pool_grad(x, dy, False)), x, dy)
        bench(f"max-pool {side}x{side}x{channels} gradient, advdemo's",
              tf.function(lambda x, dy: pool_grad(x, dy, True)), x, dy)
    report("profile_ops", {"batch": batch, "seconds_per_10k_images": rows})


if __name__ == "__main__":
    main()
