"""What every session of this server shares: the model service, the rule that page reruns come first, and the
turns whole page runs take."""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from advdemo.i18n import Message
from advdemo.logs import LOGGER, configure_from_env
from advdemo.serving.service import Limits, ModelService
from advdemo.serving.turns import Turns

F = TypeVar("F", bound=Callable)


@st.cache_resource
def get_service() -> ModelService:
    """One per server process, shared by every session."""
    configure_from_env()
    service = ModelService(limits=Limits.from_env())
    # TensorFlow leaves ~400,000 long-lived Python objects, and a full garbage collection walks
    # them all (~0.5 s on 2 cores). Freezing them keeps Python's own full collections cheap; the
    # per-rerun one is off in .streamlit/config.toml (runner.postScriptGC).
    gc.freeze()
    return service


@st.cache_resource
def get_devices() -> list[Message]:
    from advdemo.core.devices import describe_devices  # noqa: PLC0415

    return describe_devices()


@st.cache_resource
def get_turns() -> Turns:
    """The turns the sessions' whole page runs take (one per server process)."""
    return Turns()


def interactive(fn: F) -> F:
    """Run ``fn`` (a fragment body) with on-demand training paused: a student's slider
    never waits for another student's job (:class:`advdemo.serving.gate.ForegroundGate`)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            with get_service().gate.interactive():
                return fn(*args, **kwargs)
        finally:  # the server's side of a rerun, apart from the browser's (bench/classroom.py reads it)
            LOGGER.debug("run %s took %.3f s", fn.__name__, time.perf_counter() - start)

    return run  # type: ignore[return-value]


def whole_page(fn: F) -> F:
    """:func:`interactive` for the whole page's run, which also waits for its turn: whole runs go one
    at a time, and fragments' reruns (a slider) never wait for one (:mod:`advdemo.serving.turns`)."""
    body = interactive(fn)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        with get_turns().turn() as waited:
            if waited > 0.05:
                LOGGER.debug("run %s waited %.3f s for its turn", fn.__name__, waited)
            return body(*args, **kwargs)

    return run  # type: ignore[return-value]
