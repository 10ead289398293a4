"""The training queue on a shared server: one job per session, a bounded queue, cancel, logged failures,
and training in a low-priority child process."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TINY, write_mnist_subset

from advdemo.config import ModelKind
from advdemo.jobs import Cancelled, JobState, QueueError, TrainingQueue
from advdemo.storage import ModelStore, model_id
from advdemo.training_process import ChildSettings, ForegroundGate, StoreSpec, TrainingFailed, train_in_child

CONFIGS = [dataclasses.replace(TINY, adv_multiplier=m) for m in (0.1, 0.2, 0.3, 0.4)]


class Gate:
    """A stub trainer that runs until released (or cancelled), recording what it ran."""

    def __init__(self):
        self.release, self.started, self.ran = threading.Event(), threading.Event(), []

    def __call__(self, hparams, progress, cancel):
        self.ran.append(hparams.adv_multiplier)
        self.started.set()
        while not self.release.wait(0.01):
            if cancel.is_set():
                raise Cancelled()


def settle(q: TrainingQueue, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while q.busy() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert q.busy() == 0


def test_each_session_has_at_most_one_active_job_but_may_join_anothers():
    gate = Gate()
    q = TrainingQueue(gate)
    q.request("a", CONFIGS[0], owner="ada")
    with pytest.raises(QueueError, match="already have a model in training"):
        q.request("b", CONFIGS[1], owner="ada")
    q.request("b", CONFIGS[1], owner="bob")
    assert q.request("b", CONFIGS[1], owner="ada").owner == "bob"  # the same model: joined, not a new job
    assert q.busy() == 2
    gate.release.set()
    settle(q)
    q.request("c", CONFIGS[2], owner="ada")  # done with the first: a new one is fine
    settle(q)
    assert gate.ran == [0.1, 0.2, 0.3]


def test_a_full_queue_refuses_with_the_estimated_wait():
    gate = Gate()
    q = TrainingQueue(gate, capacity=2, estimate=lambda hp: 600.0)  # ten minutes a job
    q.request("a", CONFIGS[0], owner="ada")
    assert gate.started.wait(10)
    queued = q.request("b", CONFIGS[1], owner="bob")
    assert queued.state is JobState.QUEUED and queued.position == 1 and 590 <= queued.wait_seconds <= 600
    with pytest.raises(QueueError, match=r"full \(2 models\); try again in about 20 minutes"):
        q.request("c", CONFIGS[2], owner="cy")
    gate.release.set()
    settle(q)
    q.request("c", CONFIGS[2], owner="cy")  # room again
    settle(q)


def test_owners_cancel_their_own_jobs_queued_or_running():
    gate = Gate()
    q = TrainingQueue(gate)
    q.request("a", CONFIGS[0], owner="ada")
    q.request("b", CONFIGS[1], owner="bob")
    assert gate.started.wait(10)
    assert not q.cancel("b", owner="ada")  # not hers
    assert q.cancel("b", owner="bob")
    assert q.view("b").state is JobState.CANCELLED and q.view("a").position == 0
    assert q.cancel("a", owner="ada")  # running: the trainer stops at its next check
    settle(q)
    assert q.view("a").state is JobState.CANCELLED
    assert gate.ran == [0.1]  # the cancelled queued job never ran
    assert q.request("b", CONFIGS[1], owner="bob").state in (JobState.QUEUED, JobState.RUNNING)  # may start again
    gate.release.set()
    settle(q)


def test_a_failed_job_shows_one_sentence_and_logs_its_traceback(caplog):
    def trainer(hparams, progress, cancel):
        raise OSError("could not write x: the disk is full")

    q = TrainingQueue(trainer)
    with caplog.at_level(logging.ERROR, logger="advdemo"):
        q.request("a", CONFIGS[0], owner="ada")
        settle(q)
    view = q.view("a")
    assert view.state is JobState.FAILED and view.error == "OSError: could not write x: the disk is full"
    record = next(r for r in caplog.records if "training job a failed" in r.getMessage())
    assert record.exc_info and "the disk is full" in caplog.text and "Traceback" in caplog.text


# -- the child process -----------------------------------------------------------------------------

@pytest.fixture
def tiny_data(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist_subset(folder, n_train=512, n_test=64)
    return folder


@pytest.mark.integration
def test_the_child_trains_both_models_into_the_store_and_reports_progress(tmp_path, tiny_data):
    store, reports = tmp_path / "store", []
    train_in_child(TINY, reports.append, threading.Event(), data_dir=str(tiny_data),
                   stores=[StoreSpec(str(store), True)])
    entries = ModelStore(store, writable=False).entries()
    assert set(entries) == {model_id(TINY, kind) for kind in ModelKind}
    assert {r.model for r in reports} == set(ModelKind) and reports[-1].fraction == 1.0


@pytest.mark.integration
def test_a_cancelled_child_is_stopped_and_stores_nothing(tmp_path, tiny_data):
    store, cancel = tmp_path / "store", threading.Event()
    slow = dataclasses.replace(TINY, epochs=50)  # far longer than the test waits

    def progress(p):
        cancel.set()  # the first report: training has begun

    with pytest.raises(Cancelled):
        train_in_child(slow, progress, cancel, data_dir=str(tiny_data), stores=[StoreSpec(str(store), True)])
    assert not list(store.glob("*.npz")) and not list(store.glob("*.tmp*"))


@pytest.mark.integration
def test_a_failing_child_gives_one_sentence_and_logs_its_traceback(tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="advdemo"), pytest.raises(TrainingFailed) as failed:
        train_in_child(TINY, lambda p: None, threading.Event(), data_dir=str(tmp_path / "nowhere"),
                       stores=[StoreSpec(str(tmp_path / "store"), True)])
    assert str(failed.value).startswith("DataError: MNIST folder") and "\n" not in str(failed.value)
    assert "Traceback" in caplog.text and "load_mnist" in caplog.text


# -- page reruns come first ------------------------------------------------------------------------

def _state(pid: int) -> str:
    """The process's state letter from /proc: 'T' stopped, 'S' sleeping, 'R' running."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _stopped(pid: int, want: bool = True, timeout: float = 2.0) -> bool:
    """Whether the process is (or, ``want=False``, is not) stopped, allowing the signal time to land."""
    deadline = time.monotonic() + timeout
    while (_state(pid) == "T") != want:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_training_children_are_stopped_while_any_page_reruns():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        gate = ForegroundGate(linger=0)
        gate.attach(child.pid)
        assert _stopped(child.pid, False)
        with gate.interactive():
            assert _stopped(child.pid) and gate.paused
            with gate.interactive():  # a second session's rerun at the same time
                pass
            assert _stopped(child.pid)  # still one page rerunning
        assert _stopped(child.pid, False) and not gate.paused
        with gate.interactive():
            assert _stopped(child.pid)
            gate.detach(child.pid)  # ending mid-rerun: it must not stay stopped
            assert _stopped(child.pid, False)
        lingering = ForegroundGate(linger=0.5)
        lingering.attach(child.pid)
        with lingering.interactive():
            pass
        time.sleep(0.2)
        assert _state(child.pid) == "T"  # still stopped a moment after the rerun: the browser is drawing
        with lingering.interactive():  # the next move comes before the linger is over
            pass
        time.sleep(0.35)
        assert _state(child.pid) == "T"  # the linger started again with that move
        assert _stopped(child.pid, False) and not lingering.paused
        lingering.detach(child.pid)
        off = ForegroundGate(enabled=False)
        off.attach(child.pid)
        with off.interactive():
            time.sleep(0.05)
            assert _state(child.pid) != "T"
    finally:
        child.kill()
        child.wait()


def test_child_settings_from_the_environment():
    assert ChildSettings.from_env({}) == ChildSettings(niceness=19, threads=None, idle_class=True, pause=True)
    custom = ChildSettings.from_env({"ADVDEMO_TRAINING_NICE": "5", "ADVDEMO_TRAINING_THREADS": "1",
                                     "ADVDEMO_TRAINING_IDLE_CLASS": "0", "ADVDEMO_TRAINING_PAUSE": "off"})
    assert custom == ChildSettings(niceness=5, threads=1, idle_class=False, pause=False)
    for name, bad in (("ADVDEMO_TRAINING_NICE", "20"), ("ADVDEMO_TRAINING_NICE", "-1"),
                      ("ADVDEMO_TRAINING_THREADS", "0"), ("ADVDEMO_TRAINING_THREADS", "many")):
        with pytest.raises(ValueError, match=name):
            ChildSettings.from_env({name: bad})
