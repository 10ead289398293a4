"""The norms an attack's budget is measured in (its own module so that the attack registry,
:mod:`advdemo.core.attack_methods`, and the configuration can both use it)."""

from __future__ import annotations

import enum


class Norm(str, enum.Enum):
    """The gradient norms NSL supports (``nsl.configs.NormType``)."""

    INFINITY = "infinity"
    L2 = "l2"
    L1 = "l1"
