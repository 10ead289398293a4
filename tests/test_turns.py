"""Whole page runs take turns (advdemo.serving.turns)."""

from __future__ import annotations

import logging
import threading

from advdemo.serving.turns import Turns


def _hold(turns: Turns, inside: threading.Event, leave: threading.Event, log: list[str], name: str) -> None:
    with turns.turn():
        log.append(f"{name} in")
        inside.set()
        leave.wait(10)
        log.append(f"{name} out")


def test_whole_runs_go_one_at_a_time_in_turn():
    turns, log = Turns(patience=30), []
    first_in, first_leave, second_in = threading.Event(), threading.Event(), threading.Event()
    first = threading.Thread(target=_hold, args=(turns, first_in, first_leave, log, "first"))
    first.start()
    assert first_in.wait(10)
    leave_at_once = threading.Event()
    leave_at_once.set()
    second = threading.Thread(target=_hold, args=(turns, second_in, leave_at_once, log, "second"))
    second.start()
    assert not second_in.wait(0.3)  # the second run waits while the first holds its turn
    first_leave.set()
    assert second_in.wait(10)
    second.join(15)
    first.join(10)
    assert log == ["first in", "first out", "second in", "second out"]


def test_a_run_that_holds_its_turn_too_long_does_not_stop_the_others(caplog):
    turns, log = Turns(patience=0.05), []
    first_in, first_leave = threading.Event(), threading.Event()
    first = threading.Thread(target=_hold, args=(turns, first_in, first_leave, log, "first"))
    first.start()
    assert first_in.wait(10)
    with caplog.at_level(logging.WARNING, logger="advdemo"), turns.turn() as waited:
        log.append("impatient in")  # runs beside the stuck one, after waiting its patience
    assert waited >= 0.05
    assert "waited" in caplog.text
    first_leave.set()
    first.join(10)
    # The impatient run did not release the turn it never held: the turn is free once, not twice.
    with turns.turn():
        assert not turns._lock.acquire(blocking=False)
    assert log == ["first in", "impatient in", "first out"]
