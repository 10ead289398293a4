"""Progress for the command line: a bar with an ETA on a terminal, plain lines elsewhere.

On a terminal one line is rewritten in place (``\\r``); in a log file or a CI
run each stage writes one plain line when it ends, so logs stay readable.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # importing advdemo.core.training would load TensorFlow, which `advdemo --help` must not wait for
    from advdemo.core.training import Progress

BAR_WIDTH = 24


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """``[#########.........]  45%`` for ``fraction`` in [0, 1] (clipped)."""
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}"


def eta_text(elapsed: float, fraction: float) -> str:
    """``"1:05 left"`` from the time so far and the fraction done (``"--:-- left"`` before any progress)."""
    if fraction <= 0 or not math.isfinite(elapsed):
        return "--:-- left"
    left = max(0.0, elapsed / fraction * (1 - fraction))
    return f"{int(left // 60)}:{int(left % 60):02d} left"


class TerminalProgress:
    """Progress on ``stream`` (stderr): callable with training :class:`~advdemo.core.training.Progress`,
    and :meth:`steps` for any other measurement."""

    def __init__(self, stream: TextIO | None = None, clock=time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self._clock = clock
        self._started: dict[object, float] = {}
        self._last: dict[object, float] = {}  # the last fraction reported per key
        self._printed: tuple[str, int] | None = None

    def log(self, message: str) -> None:
        self.stream.write(("\r\033[K" if self.tty else "") + message + "\n")
        self.stream.flush()

    def status(self, line: str, *, final: bool = False) -> None:
        """A progress line: rewritten in place on a terminal; elsewhere only the final one is written."""
        if self.tty:
            self.stream.write("\r\033[K" + line + ("\n" if final else ""))
        elif final:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _elapsed(self, key: object, fraction: float) -> float:
        """Seconds since ``key``'s run began; a fraction below the last one is a new run (the next model
        of a sweep), and starts the clock again."""
        if fraction < self._last.get(key, 0.0):
            self._started.pop(key, None)
        self._last[key] = fraction
        return self._clock() - self._started.setdefault(key, self._clock())

    def __call__(self, p: Progress) -> None:
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in sorted(p.metrics.items()))
        elapsed = self._elapsed(p.model, p.fraction)
        if self.tty:
            self.status(f"{p.model.value:>4} {bar(p.fraction)}  epoch {p.epoch}/{p.epochs}  "
                        f"{eta_text(elapsed, p.fraction)}  {metrics}", final=p.fraction >= 1.0)
        elif p.step == p.steps and self._printed != (p.model.value, p.epoch):
            self._printed = (p.model.value, p.epoch)  # the last batch and the epoch's end both report
            self.stream.write(f"{p.model.value:>4} epoch {p.epoch}/{p.epochs}  step {p.step}/{p.steps}  "
                              f"{elapsed:.0f} s  {metrics}\n")
            self.stream.flush()

    def steps(self, what: str, unit: str = "steps"):
        """A ``(done, total)`` callback that shows ``what`` as a bar with an ETA."""

        def report(done: int, total: int) -> None:
            fraction = done / total if total else 1.0
            elapsed = self._elapsed(what, fraction)
            self.status(f"{what} {bar(fraction)}  {done}/{total} {unit}  {elapsed:.0f} s, "
                        f"{eta_text(elapsed, fraction)}", final=done >= total)

        return report


__all__ = ["TerminalProgress", "bar", "eta_text"]
