"""A student's session without a browser: Streamlit's own websocket protocol, spoken from Python.

In a class every student's browser runs on the student's own machine. On the one machine these
benchmarks run on, thirty Chromium tabs would take most of the server's two cores and measure the
browsers instead of the server. A :class:`ProtocolSession` asks the server for exactly what a page
asks for (the first run with its link's query string, widget changes, button clicks, the
``run_every`` fragments' reruns), receives every message the page would draw, and draws nothing.
So the server does a real session's work, and the machine's cores stay with the server.

A new student's browser first downloads Streamlit's front end (about 5 MB in 145 files) from the
server, which costs the server more CPU than the page's own run. Given ``front_end`` (the addresses a
real page fetched, :func:`record_front_end`), a session downloads them too before it connects, as a
browser with an empty cache does.

What it does not do: draw (the browser's own time, measured apart by the Chromium sessions),
upload files (an HTTP request of its own, left to Chromium sessions), or keep more of the page than
the benchmarks ask about (the text of each run's elements, and its widgets).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import websockets
from common import SETTLED
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState


@dataclass
class Widget:
    """One control as the server last drew it: its kind (``slider``, ``selectbox``, ``button`` ...),
    id, label and, for choices, the options as the page shows them."""

    kind: str
    id: str
    label: str
    options: list[str] = field(default_factory=list)
    fragment_id: str = ""  #: the fragment it sits in: changing it reruns only that fragment


@dataclass
class Run:
    """One script run (the whole page, or fragments): the text of every element it wrote, in order."""

    fragment_ids: tuple[str, ...]
    texts: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    finished: bool = False
    status: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def count(self, kind: str) -> int:
        return self.kinds.count(kind)


def element_text(element) -> str:
    """The words (or HTML) one element shows: enough to tell the page's grids, figures and placeholders."""
    kind = element.WhichOneof("type")
    inner = getattr(element, kind)
    for name in ("body", "label", "text"):
        value = getattr(inner, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


async def record_front_end(browser, url: str) -> list[str]:
    """What a browser with an empty cache fetches from the server to show the page at ``url``
    (``browser``: Playwright's; a new page has a new, empty cache), the websocket left out."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    fetched: list[str] = []
    page = await browser.new_page()
    page.on("request", lambda r: fetched.append(r.url)
            if r.url.startswith(origin) and r.resource_type != "websocket" and r.method == "GET" else None)
    await page.goto(url, timeout=300_000)
    await page.wait_for_selector(SETTLED, timeout=300_000)
    await page.close()
    return list(dict.fromkeys(fetched))


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=120) as answer:
        return len(answer.read())


async def download(urls: Sequence[str]) -> int:
    """Fetch ``urls`` six at a time (as a browser does from one server); the bytes received."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(6, thread_name_prefix="front-end") as pool:
        return sum(await asyncio.gather(*(loop.run_in_executor(pool, _get, u) for u in urls)))


class ProtocolSession:
    """One page's session on a Streamlit server, driven from Python (see the module's docstring).

    ``url``: the server's address with the page's query string, as a browser opens it.
    ``front_end``: the files to download first, as a new browser does (:func:`record_front_end`).
    Call :meth:`open` first, then :meth:`set_widget` / :meth:`click` and :meth:`wait_for`.
    """

    def __init__(self, url: str, front_end: Sequence[str] = ()):
        parts = urlsplit(url)
        self.url = url
        self.front_end = front_end
        self.query = parts.query
        self.ws_url = f"ws://{parts.netloc}/_stcore/stream"
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.address = f"{self.origin}{parts.path or '/'}"  #: the page's address without its query, as pages send it
        self.widgets: dict[str, Widget] = {}
        self.runs: list[Run] = []
        self.last_full: Run | None = None  #: the last whole-page run that finished
        self.errors: list[str] = []
        self._values: dict[str, WidgetState] = {}
        self._page = ""  #: the page's script hash, once the server has named it
        self._auto: dict[str, asyncio.Task] = {}
        self._changed = asyncio.Event()
        self._ws = None
        self._reader: asyncio.Task | None = None

    # -- connection ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and ask for the page's first run, as a browser does on opening the link."""
        if self.front_end:
            await download(self.front_end)
        self._ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], origin=self.origin,
                                            max_size=None, open_timeout=120)
        self._reader = asyncio.create_task(self._read())
        await self._rerun()

    async def close(self) -> None:
        for task in self._auto.values():
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def __aenter__(self) -> ProtocolSession:
        await self.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- what a student does --------------------------------------------------------------------

    async def set_widget(self, label: str, value) -> None:
        """Change the control called ``label`` to ``value`` (an option as the page shows it, or a
        number), as a browser does: one rerun with the new value."""
        widget = self.widget(label)
        state = WidgetState(id=widget.id)
        if widget.kind == "slider" and widget.options:
            state.string_array_value.data.append(str(value))
        elif widget.kind == "slider":
            state.double_array_value.data.append(float(value))
        elif widget.kind == "number_input" and isinstance(value, int):
            state.int_value = value
        elif widget.kind == "number_input":
            state.double_value = float(value)
        elif widget.kind in ("selectbox", "radio"):
            state.string_value = str(value)
        else:
            raise ValueError(f"cannot set a {widget.kind}")
        self._values[widget.id] = state
        await self._rerun(fragment_id=widget.fragment_id)

    async def click(self, label: str) -> None:
        """Press the button called ``label`` (a trigger: sent with this one rerun only)."""
        widget = self.widget(label)
        await self._rerun(WidgetState(id=widget.id, trigger_value=True), fragment_id=widget.fragment_id)

    @property
    def timers(self) -> set[str]:
        """The fragments whose ``run_every`` reruns this session asks for now, as a page would."""
        return {fragment for fragment, task in self._auto.items() if not task.done()}

    def widget(self, label: str) -> Widget:
        """The control whose label is ``label`` (else the first whose label contains it, or that offers
        ``label`` as an option: a language menu keeps its options when its own label changes language)."""
        widgets = list(self.widgets.values())
        found = [w for w in widgets if w.label == label] or [w for w in widgets if label in w.label] or \
                [w for w in widgets if label in w.options]
        if not found:
            raise LookupError(f"no control called {label!r} on the page")
        return found[0]

    async def wait_for(self, ready, timeout: float) -> float:
        """Wait until ``ready(self)`` holds (checked after every message); the seconds it took."""
        start = time.perf_counter()
        end = start + timeout
        while not ready(self):
            if self._reader is not None and self._reader.done():
                raise ConnectionError("the server closed the session")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), max(0.0, end - time.perf_counter()))
            except TimeoutError:
                raise TimeoutError(f"not ready within {timeout:.0f} s") from None
        return time.perf_counter() - start

    async def wait_idle(self, after: int, timeout: float = 120) -> float:
        """Wait until the runs started after the first ``after`` have finished, the last of them not
        cut short for another (a callback's ``st.rerun`` ends a run early and starts the next)."""
        def idle(s: ProtocolSession) -> bool:
            new = s.runs[after:]
            return bool(new) and all(r.finished for r in new) and new[-1].status != "FINISHED_EARLY_FOR_RERUN"

        return await self.wait_for(idle, timeout)

    # -- the protocol ---------------------------------------------------------------------------

    async def _rerun(self, *once: WidgetState, fragment_id: str = "", auto: bool = False) -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.widget_states.widgets.extend([*self._values.values(), *once])
        state.page_script_hash = self._page
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = auto
        state.context_info.url = self.address
        state.context_info.locale = "en-US"
        state.context_info.timezone = "UTC"
        await self._ws.send(msg.SerializeToString())

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self._changed.set()

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            fragments = tuple(msg.metadata.run.fragment_ids)
            self._page = msg.new_session.page_script_hash
            if not fragments:  # a whole-page run: the page's timers start again from what it draws
                for task in self._auto.values():
                    task.cancel()
                self._auto.clear()
            self.runs.append(Run(fragments))
        elif kind == "delta" and self.runs and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            element_kind = element.WhichOneof("type")
            run = self.runs[-1]
            run.kinds.append(element_kind)
            run.texts.append(element_text(element))
            if element_kind == "exception":
                self.errors.append(f"an exception on the page: {element.exception.message[:160]}")
            inner = getattr(element, element_kind)
            if getattr(inner, "id", "") and element_kind != "html":
                self.widgets[inner.id] = Widget(element_kind, inner.id, getattr(inner, "label", ""),
                                                list(getattr(inner, "options", [])), msg.delta.fragment_id)
        elif kind == "script_finished" and self.runs:
            run = self.runs[-1]
            run.finished = True
            run.status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            if not run.fragment_ids and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                self.last_full = run
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            fragment = msg.auto_rerun.fragment_id
            if fragment not in self._auto:
                self._auto[fragment] = asyncio.create_task(self._every(msg.auto_rerun.interval, fragment))
        elif kind == "stop_auto_rerun":
            stopped = list(msg.stop_auto_rerun.fragment_ids) or list(self._auto)
            for fragment in stopped:
                task = self._auto.pop(fragment, None)
                if task is not None:
                    task.cancel()

    async def _every(self, interval: float, fragment_id: str) -> None:
        """A ``run_every`` fragment: the page asks for its rerun every ``interval`` seconds."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self._rerun(fragment_id=fragment_id, auto=True)
            except websockets.ConnectionClosed:
                return
