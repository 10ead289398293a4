"""The attacks the page, the command line and the evaluations offer: one registry entry each.

Adding an attack is one :class:`AttackSpec` and one :func:`register` line
here, its crafting function (any module; named here as ``"module:function"``
so that this module stays light to import), and its name and help in the
catalogues (``attack_method.<name>`` and ``attack_method_help.<name>``). The URL parser,
the CLI's ``--attack`` choices, the sidebar and the evaluations read the
registry; see docs/architecture.md for a worked example.

FGSM and PGD are built in: :func:`advdemo.core.attacks.perturb` runs them as
compiled graphs, and the curves and the own-digit search take FGSM's
shortcut (one direction per digit serves every strength).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advdemo.core.norms import Norm

#: ``craft(model, images, labels, attack) -> examples``: ``images`` ``(N, 28, 28, 1)`` float32 in [0, 1],
#: ``labels`` ``(N,)``; examples of the same shape, within ``attack.strength`` of ``images`` in ``attack.norm``.
CraftFn = Callable[[Any, Any, Any, Any], Any]


@dataclass(frozen=True)
class AttackSpec:
    """One attack: its name (the URL's and the CLI's value) and what the page and the evaluations need to know."""

    name: str
    #: Several projected steps: the page shows its iterations control, and measurements use fewer digits.
    iterative: bool
    #: The norms it attacks under.
    norms: tuple[Norm, ...]
    #: None for the built-in FGSM and PGD; else a ``CraftFn`` or its ``"module:function"`` path.
    craft: CraftFn | str | None = None

    def crafter(self) -> CraftFn | None:
        """The crafting function, imported on first use (None: built in)."""
        if isinstance(self.craft, str):
            module, _, function = self.craft.partition(":")
            return getattr(importlib.import_module(module), function)
        return self.craft


_REGISTRY: dict[str, AttackSpec] = {}


class _Registered(type):
    """Iterating over :class:`AttackMethod` gives every registered attack, as over an enum."""

    def __iter__(cls):
        return iter(AttackMethod.all())


class AttackMethod(str, metaclass=_Registered):
    """A registered attack's name, as the URL and the CLI spell it (``"fgsm"``, ``"pgd"``).

    It behaves like an enum member: ``AttackMethod("pgd") is AttackMethod.PGD``,
    ``.value`` is the name, iterating over the class (or :meth:`all`) lists
    every registered attack in the order registered, and an unknown name
    raises ValueError.
    """

    __slots__ = ()
    FGSM: AttackMethod
    PGD: AttackMethod
    _interned: dict[str, AttackMethod] = {}

    def __new__(cls, value: str) -> AttackMethod:
        name = str(value)
        if name not in _REGISTRY:
            raise ValueError(f"{value!r} is not a registered attack ({', '.join(_REGISTRY)})")
        if name not in cls._interned:
            cls._interned[name] = super().__new__(cls, name)
        return cls._interned[name]

    def __repr__(self) -> str:
        return f"AttackMethod({str(self)!r})"

    @property
    def value(self) -> str:
        return str(self)

    @property
    def spec(self) -> AttackSpec:
        return _REGISTRY[str(self)]

    @classmethod
    def all(cls) -> list[AttackMethod]:
        """Every registered attack, in the order registered."""
        return [cls(name) for name in _REGISTRY]

    @classmethod
    def for_norm(cls, norm: Norm) -> list[AttackMethod]:
        """The registered attacks that attack under ``norm``."""
        return [m for m in cls.all() if norm in m.spec.norms]


def register(spec: AttackSpec) -> AttackMethod:
    """Offer ``spec`` everywhere attacks are chosen; returns its :class:`AttackMethod`."""
    _REGISTRY[spec.name] = spec
    return AttackMethod(spec.name)


def unregister(name: str) -> None:
    """Take an attack out of the registry again (tests register toy attacks)."""
    _REGISTRY.pop(name, None)
    AttackMethod._interned.pop(name, None)


# -- the attacks -------------------------------------------------------------------

#: The tutorial's attack: one step of the strength along the gradient's sign (L-inf), its direction (L2)
#: or its largest coordinate (L1).
AttackMethod.FGSM = register(AttackSpec("fgsm", iterative=False, norms=(Norm.INFINITY, Norm.L2, Norm.L1)))
#: Many small steps, each projected back into the ball (NSL projects onto L-inf and L2 balls only).
AttackMethod.PGD = register(AttackSpec("pgd", iterative=True, norms=(Norm.INFINITY, Norm.L2)))
