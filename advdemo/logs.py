"""Messages from the library: it never prints, it logs.

Functions that report progress in words take a :data:`LogFn`; by default it
is :func:`log_info`, which hands the message to the ``advdemo`` logger. The
CLI passes its own, which writes to stderr.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

LOGGER = logging.getLogger("advdemo")

#: Receives one human-readable message.
LogFn = Callable[[str], None]


def log_info(message: str) -> None:
    """The default :data:`LogFn`: an INFO record on the ``advdemo`` logger."""
    LOGGER.info(message)


#: The operator's choice of how much the library logs on a server (``debug``, ``info``, ``warning``, ``error``).
LEVEL_ENV = "ADVDEMO_LOG_LEVEL"


def configure_from_env(environ=None) -> None:
    """Send the ``advdemo`` logger's records at ``$ADVDEMO_LOG_LEVEL`` and above to stderr, once.

    Unset, the library adds no handler: its warnings and errors reach stderr through Python's own
    last-resort handler, as before. ``info`` adds each job's key and duration (the classroom benchmark
    counts them). A value that names no level raises ValueError naming the variable.
    """
    import os  # noqa: PLC0415

    raw = (os.environ if environ is None else environ).get(LEVEL_ENV, "").strip().upper()
    if not raw:
        return
    level = logging.getLevelName(raw)
    if not isinstance(level, int):
        raise ValueError(f"{LEVEL_ENV}={raw.lower()!r} is invalid: expected debug, info, warning or error")
    LOGGER.setLevel(level)
    if not any(getattr(h, "_advdemo", False) for h in LOGGER.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s advdemo: %(message)s"))
        handler._advdemo = True  # type: ignore[attr-defined]
        LOGGER.addHandler(handler)
