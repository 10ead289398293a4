"""What computes: library versions and the devices TensorFlow will use."""

from __future__ import annotations

import os
import platform

from advdemo.core.compat import keras, nsl, tf
from advdemo.i18n import Message, message


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tf_keras": keras.__version__,
        "neural_structured_learning": nsl.__version__,
    }


def describe_devices() -> list[Message]:
    """The devices TensorFlow computes on, GPUs first, as messages (``str()`` reads e.g.
    ``"GPU 0: NVIDIA H100 80GB HBM3"`` or ``"CPU (2 cores, no GPU visible)"``)."""
    names = []
    for i, gpu in enumerate(tf.config.list_physical_devices("GPU")):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(message("devices.gpu", index=i, name=details.get("device_name", gpu.name)))
    if not names:
        names.append(message("devices.cpu", cores=os.cpu_count()))
    return names
