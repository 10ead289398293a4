"""Reading the operator's settings from environment variables, one way for all of them.

A switch keeps its default unless set to a word that clearly means the
opposite; a number must be a plain whole number in its range, or the server
refuses to start with a message naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping

_ON = {"1", "true", "yes", "on"}
_OFF = {"0", "false", "no", "off"}


def switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """``env[name]`` as on/off: ``default`` unless it says the opposite (``on``/``off``, ``1``/``0``, …)."""
    raw = env.get(name, "").strip().lower()
    return raw not in _OFF if default else raw in _ON


def whole(env: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """``env[name]`` as a whole number in ``low..high``, None when unset; ValueError naming it otherwise."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise ValueError(f"{name}={raw!r} is invalid: expected a whole number in {low}..{high}")
    return int(raw)
