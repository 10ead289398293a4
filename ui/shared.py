"""What every session of this server shares: the model service, and the rule that page reruns come first."""

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


def interactive(fn: F) -> F:
    """Run ``fn`` (a page or fragment body) with on-demand training paused: a student's slider
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
