"""The one place where TensorFlow, Keras 2 and NSL are imported.

Every other module gets ``tf``, ``keras`` and ``nsl`` from here, never by
importing them itself, because the order of these imports matters:

* neural-structured-learning 1.4.0 (its last release) is written for Keras 2.
  TensorFlow >= 2.16 ships Keras 3 as ``tf.keras`` unless the environment
  variable ``TF_USE_LEGACY_KERAS=1`` is set *before TensorFlow is first
  imported*; then ``tf.keras`` is the ``tf_keras`` package (Keras 2).
* NSL's ``__init__`` imports ``neural_structured_learning.estimator``, which
  imports ``tensorflow.estimator``; that was removed in TensorFlow 2.16, so
  the import fails. advdemo never uses the Estimator API, so an empty stand-in
  module is registered under that name before NSL is imported.

If TensorFlow was already imported without the variable (for example by a
host program), ``tf.keras`` would be Keras 3 and NSL's Keras wrapper would
fail in confusing ways; :func:`_check_legacy_keras` turns that into a clear
error instead.
"""

from __future__ import annotations

import os
import sys
import types

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter (CPU feature notes, missing CUDA) is noise
# for users of a demo; real errors still surface as Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_ESTIMATOR = "neural_structured_learning.estimator"
if _ESTIMATOR not in sys.modules:
    _stub = types.ModuleType(_ESTIMATOR)
    _stub.__doc__ = "Stand-in: tensorflow.estimator no longer exists (see advdemo.core.compat)."
    sys.modules[_ESTIMATOR] = _stub

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
import neural_structured_learning as nsl  # noqa: E402


def _check_legacy_keras() -> None:
    if not tf.keras.__name__.startswith("tf_keras"):
        raise ImportError(
            "advdemo needs Keras 2 (tf_keras) as tf.keras, but TensorFlow was imported "
            "before advdemo without TF_USE_LEGACY_KERAS=1. Set TF_USE_LEGACY_KERAS=1 in "
            "the environment, or import advdemo before TensorFlow."
        )


_check_legacy_keras()

__all__ = ["tf", "keras", "nsl"]
