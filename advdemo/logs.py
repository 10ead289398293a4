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
