"""What every session of this server shares: the model service, the rule that page reruns come first, and the
turns pages opening take."""

from __future__ import annotations

import functools
import gc
import threading
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


#: Session state: the page's first whole run has ended.
OPENED = "page_opened"
#: Per script thread: the whole page run going on, if any (a fragment then runs inside it, not on its own).
_RUNS = threading.local()


@st.cache_resource
def get_turns() -> Turns:
    """The turns the sessions' pages take to open (one per server process)."""
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
            within = getattr(_RUNS, "page", None) not in (None, fn.__name__)  # a fragment's first draw
            LOGGER.debug("run %s took %.3f s%s", fn.__name__, time.perf_counter() - start,
                         " in the page's run" if within else "")

    return run  # type: ignore[return-value]


def whole_page(fn: F) -> F:
    """:func:`interactive` for the whole page's run. A session's first run (a page opening) waits for
    its turn: openings go one at a time, so a class opening a link at once leaves other students'
    sliders their share of the server (:mod:`advdemo.serving.turns`). Later whole runs of an open page
    (a language switch, a number that arrives) and fragments' reruns never wait for a turn: a student's
    own click must not queue behind other students' openings."""
    body = interactive(fn)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        _RUNS.page = fn.__name__
        try:
            if st.session_state.get(OPENED):
                return body(*args, **kwargs)
            with get_turns().turn() as waited:
                if waited > 0.05:
                    LOGGER.debug("run %s waited %.3f s for its turn", fn.__name__, waited)
                result = body(*args, **kwargs)
            st.session_state[OPENED] = True
            return result
        finally:
            _RUNS.page = None

    return run  # type: ignore[return-value]
