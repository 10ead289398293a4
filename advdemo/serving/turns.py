"""Pages opening take turns, so a slider's rerun never shares the server with eight new pages.

A server runs every session's script in a thread of one Python process. A page's first run is
mostly Python: every section's widgets, text and charts, and sending them. Eight pages opening at
once are eight such threads, and a student's slider rerun (a fragment of a few milliseconds of
Python) shares the interpreter with all of them: a slider move the server answers within 28 ms at
p95 took up to 0.40 s while eight sessions opened links, and 0.06 s once they took turns
(docs/benchmarks.md). Taking turns, the openings go one at a time, at about the same total pace
(the interpreter ran their Python one at a time anyway), and the slider shares the interpreter with
one of them at most. The page decides who takes a turn (``ui/shared.py``: a session's first run;
never a fragment).
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
            LOGGER.warning("a page run waited %.1f s for its turn and runs beside the one before it", waited)
        try:
            yield waited
        finally:
            if held:
                self._lock.release()
