"""The load tests' browserless student (bench/protocol_client.py) against the real server: it must
ask for what a page asks for, or the classroom benchmark measures something else."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from browser_support import streamlit_server
from conftest import ROOT, write_mnist_subset

sys.path.insert(0, str(ROOT / "bench"))
from protocol_client import ProtocolSession  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory, stored_models):
    """The page as the browser tests serve it (tests/conftest.py's ``app_env``), with the real job engine."""
    data = tmp_path_factory.mktemp("protocol-mnist")
    write_mnist_subset(data, n_train=256, n_test=128)
    env = {**{k: v for k, v in os.environ.items() if k != "ADVDEMO_JOB_ENGINE"},
           "ADVDEMO_MNIST_DIR": str(data), "ADVDEMO_PRETRAINED_DIR": str(stored_models),
           "ADVDEMO_CACHE_DIR": str(tmp_path_factory.mktemp("protocol-cache"))}
    with streamlit_server(env, timeout_s=60) as (url, _):
        yield url


def test_a_session_is_filled_in_moves_its_sliders_and_switches_language(server):
    async def student() -> None:
        async with ProtocolSession(f"{server}/?eps=0.1&batch=2", front_end=[f"{server}/"]) as s:  # as a new browser
            await s.wait_for(lambda s: s.last_full is not None, 60)
            first = s.last_full
            assert first.status == "FINISHED_SUCCESSFULLY" and not first.fragment_ids
            assert first.text.count("advdemo-grid") >= 2  # both models' grids
            assert s.widget("Attack strength").options[:2] == ["0.0", "0.05"]
            # These test models store no curves: the page shows placeholders that poll, and the session
            # asks for the polling fragment's reruns as a page does, until the page redraws whole with
            # the numbers.
            assert "measured on the server" in first.text and s.timers
            await s.wait_for(lambda s: s.last_full is not first and "measured on the server" not in s.last_full.text,
                             240)
            assert any(r.fragment_ids and r.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY" for r in s.runs)
            page = s.last_full
            assert page.count("metric") == 8  # the tutorial's four figures, then the worst case and PGD of both

            runs = len(s.runs)
            await s.set_widget("Digit", 3)
            await s.wait_idle(runs)
            assert all(run.fragment_ids for run in s.runs[runs:])  # the detail view alone reruns
            assert "pick=3" in s.query and s.last_full is page

            runs = len(s.runs)
            await s.set_widget("Attack strength", "0.3")
            await s.wait_idle(runs)
            drawn = next(r for r in s.runs[runs:] if r.texts)  # new jobs may poll and redraw after it
            assert drawn.fragment_ids and drawn.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"
            assert "advdemo-grid" in drawn.text and "eps=0.3" in s.query  # the results alone redrew

            runs = len(s.runs)
            await s.set_widget("简体中文", "简体中文")  # found by its option: the label changes language
            await s.wait_idle(runs)
            assert "对抗正则化" in s.last_full.text and "lang=zh" in s.query
            assert not s.errors

    asyncio.run(student())
