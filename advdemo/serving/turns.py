"""Whole page runs take turns, so a slider's rerun never shares the server with eight new pages.

A server runs every session's script in a thread of one Python process. A page's whole run (a new
page, a link, a language switch) is mostly Python: the widgets, the text, the charts, sending them.
Eight pages opening at once are eight such threads, and a student's slider rerun (a fragment of a
few milliseconds of Python) gets the interpreter one time in nine: measured with
``bench/classroom.py``, a slider move the server answers in 15 ms took up to 0.5 s while eight links
opened. Taking turns, the whole runs go one at a time, at the same total pace (the interpreter ran
them one at a time anyway), and the slider shares the interpreter with one of them at most.
Fragment reruns never take a turn.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from advdemo.logs import LOGGER

#: Seconds a whole run waits for its turn before it runs anyway: a run that hangs (a stuck model
#: load, a debugger) must not stop every new page of the class.
PATIENCE_S = 10.0


class Turns:
    """One holder at a time; a waiter that has waited ``patience`` seconds goes ahead anyway."""

    def __init__(self, patience: float = PATIENCE_S) -> None:
        self.patience = patience
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def turn(self) -> Iterator[float]:
        """Hold the turn for the body; yields the seconds waited for it."""
        start = time.perf_counter()
        held = self._lock.acquire(timeout=self.patience)
        waited = time.perf_counter() - start
        if not held:
            LOGGER.warning("a whole page run waited %.1f s for its turn and runs beside the one before it", waited)
        try:
            yield waited
        finally:
            if held:
                self._lock.release()
