"""The command line's progress: a bar with an ETA on a terminal, plain lines in a log."""

from __future__ import annotations

import io

from advdemo.cli.terminal import TerminalProgress, bar, eta_text
from advdemo.core.config import ModelKind
from advdemo.core.training import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bar_and_eta():
    assert bar(0.0, 10) == "[..........]   0%"
    assert bar(0.5, 10) == "[#####.....]  50%"
    assert bar(1.7, 10) == "[##########] 100%"
    assert eta_text(30.0, 0.25) == "1:30 left"  # 30 s for a quarter: 90 s to go
    assert eta_text(5.0, 0.0) == "--:-- left"


def test_a_terminal_gets_one_rewritten_line_with_bar_and_eta():
    out, clock = Terminal(), Clock()
    progress = TerminalProgress(out, clock)
    progress(Progress(ModelKind.BASE, 1, 2, 1, 10, {"loss": 0.5}))  # starts the clock
    clock.now = 10.0
    progress(Progress(ModelKind.BASE, 1, 2, 10, 10, {"loss": 0.4}))  # half of two epochs in 10 s
    last = out.getvalue().split("\r\033[K")[-1]
    assert "[############............]  50%" in last and "0:10 left" in last and "loss 0.4000" in last
    assert "\n" not in out.getvalue()  # rewritten in place until the end
    clock.now = 20.0
    progress(Progress(ModelKind.BASE, 2, 2, 10, 10, {}))
    assert out.getvalue().endswith("\n")


def test_a_log_gets_one_plain_line_per_epoch_and_stage():
    out, clock = io.StringIO(), Clock()
    progress = TerminalProgress(out, clock)
    for epoch in (1, 2):
        for step in range(1, 11):
            clock.now += 1
            progress(Progress(ModelKind.REGULARIZED, epoch, 2, step, 10, {"loss": 0.1}))
    report = progress.steps("evaluation", "parts")
    for done in (1, 2, 3):
        report(done, 3)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in out.getvalue() and "#" not in lines[0]
    assert lines[0].startswith(" adv epoch 1/2  step 10/10") and lines[2].startswith("evaluation [")


def test_a_new_model_of_a_sweep_starts_its_own_eta():
    out, clock = Terminal(), Clock()
    progress = TerminalProgress(out, clock)
    progress(Progress(ModelKind.REGULARIZED, 1, 1, 10, 10, {}))  # the first model ends
    clock.now = 100.0
    progress(Progress(ModelKind.REGULARIZED, 1, 1, 1, 10, {}))  # the next begins: not 100 s old
    clock.now = 101.0
    progress(Progress(ModelKind.REGULARIZED, 1, 1, 2, 10, {}))
    assert "0:04 left" in out.getvalue().split("\r\033[K")[-1]  # 1 s for the first 20%: 4 s to go
