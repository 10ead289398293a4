"""The tutorial's base CNN."""

from __future__ import annotations

from advdemo.core.compat import keras
from advdemo.core.config import HParams

IMAGE_KEY = "image"
LABEL_KEY = "label"


def build_base_model(hparams: HParams) -> keras.Model:
    """The tutorial's ``build_base_model``: conv layers with max pooling between
    them, then dense layers; input named ``image``, logits out.

    Input ``(N, 28, 28, 1)`` float32 in [0, 1]; output ``(N, 10)`` logits. With
    the tutorial's HParams it has 93,322 parameters.
    """
    inputs = keras.Input(shape=hparams.input_shape, dtype="float32", name=IMAGE_KEY)
    x = inputs
    for i, filters in enumerate(hparams.conv_filters):
        x = keras.layers.Conv2D(filters, hparams.kernel_size, activation="relu")(x)
        if i < len(hparams.conv_filters) - 1:
            x = keras.layers.MaxPooling2D(hparams.pool_size)(x)
    x = keras.layers.Flatten()(x)
    for units in hparams.num_fc_units:
        x = keras.layers.Dense(units, activation="relu")(x)
    logits = keras.layers.Dense(hparams.num_classes)(x)
    return keras.Model(inputs=inputs, outputs=logits)


def architecture(hparams: HParams) -> tuple:
    """What :func:`build_base_model` builds from ``hparams``: two configurations with the same value
    build networks that take each other's weights."""
    return (tuple(hparams.input_shape), tuple(hparams.conv_filters), hparams.kernel_size, hparams.pool_size,
            tuple(hparams.num_fc_units), hparams.num_classes)
