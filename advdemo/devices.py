"""What computes: library versions and the devices TensorFlow will use."""

from __future__ import annotations

import os
import platform

from advdemo.compat import keras, nsl, tf


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "neural_structured_learning": nsl.__version__,
    }


def describe_devices() -> list[str]:
    """Human-readable names of the devices TensorFlow computes on, GPUs first.

    E.g. ``["GPU 0: NVIDIA H100 80GB HBM3"]`` or ``["CPU (2 cores, no GPU visible)"]``.
    """
    names = []
    for i, gpu in enumerate(tf.config.list_physical_devices("GPU")):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(f"GPU {i}: {details.get('device_name', gpu.name)}")
    if not names:
        names.append(f"CPU ({os.cpu_count()} cores, no GPU visible)")
    return names
