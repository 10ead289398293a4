"""The job queue on a shared server: single flight, per-session and total bounds, measurements first,
cancel, logged failures, forgotten finished jobs; and the engines that run jobs in a low-priority child process."""

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

from advdemo.core.config import Attack, ModelKind
from advdemo.serving.engines import ChildSettings, JobFailed, ProcessEngine
from advdemo.serving.gate import ForegroundGate
from advdemo.serving.jobs import Cancelled, JobQueue, JobState, QueueError, Steps
from advdemo.serving.tasks import MetricsTask, TrainTask
from advdemo.store.storage import ModelStore, model_id

CONFIGS = [dataclasses.replace(TINY, adv_multiplier=m) for m in (0.1, 0.2, 0.3, 0.4)]
TRAIN = [TrainTask(hp) for hp in CONFIGS]


def measure(i: int) -> MetricsTask:
    """A measurement task (never run for real here: the stub runners below only record it)."""
    return MetricsTask(TINY, 100, "digits", Attack(strength=0.01 * (i + 1)))


class Gate:
    """A stub runner that runs each task until released (or cancelled), recording what it ran."""

    def __init__(self):
        self.release, self.started, self.ran = threading.Event(), threading.Event(), []

    def __call__(self, task, progress, cancel):
        self.ran.append(task)
        self.started.set()
        while not self.release.wait(0.01):
            if cancel.is_set():
                raise Cancelled()


def settle(q: JobQueue, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while q.busy() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert q.busy() == 0


def test_each_session_has_at_most_one_training_but_may_join_anothers():
    gate = Gate()
    q = JobQueue(gate)
    q.request(TRAIN[0], owner="ada")
    with pytest.raises(QueueError, match="already have a model in training"):
        q.request(TRAIN[1], owner="ada")
    q.request(TRAIN[1], owner="bob")
    assert q.request(TRAIN[1], owner="ada").owner == "bob"  # the same model: joined, not a new job
    assert q.busy() == 2
    gate.release.set()
    settle(q)
    q.request(TRAIN[2], owner="ada")  # done with the first: a new one is fine
    settle(q)
    assert gate.ran == TRAIN[:3]


def test_identical_requests_share_one_job_and_run_once():
    gate = Gate()
    q = JobQueue(gate)
    views = [q.request(measure(0), owner=f"student{i}") for i in range(8)]
    assert q.busy() == 1 and {v.owner for v in views} == {"student0"}
    gate.release.set()
    settle(q)
    assert gate.ran == [measure(0)]
    assert q.request(measure(0), owner="late").state is JobState.DONE  # finished: still one job


def test_a_session_has_a_bounded_number_of_jobs_and_the_queue_a_bounded_size():
    gate = Gate()
    q = JobQueue(gate, capacity=3, per_owner=2, training_capacity=1)
    q.request(measure(0), owner="ada")
    q.request(measure(1), owner="ada")
    with pytest.raises(QueueError, match="already have 2 measurements under way"):
        q.request(measure(2), owner="ada")
    assert q.request(measure(0), owner="ada").state.active  # joining a job costs nothing
    q.request(TRAIN[0], owner="bob")
    with pytest.raises(QueueError, match="queue is full"):
        q.request(measure(3), owner="cy")
    gate.release.set()
    settle(q)


def test_measurements_go_before_trainings_and_quoted_waits_add_up():
    gate = Gate()
    q = JobQueue(gate)
    q.request(TRAIN[0])
    assert gate.started.wait(10)  # a training runs
    long = dataclasses.replace(TRAIN[1], expected=600.0)
    q.request(long)
    first = q.request(measure(0))
    second = q.request(measure(1))
    assert (first.position, second.position, q.view(TRAIN[1].key()).position) == (1, 2, 3)
    expected = measure(0).expected_seconds()
    assert second.wait_seconds == pytest.approx(first.wait_seconds + expected, abs=0.5)
    gate.release.set()
    settle(q)
    assert gate.ran == [TRAIN[0], measure(0), measure(1), long]


def test_a_full_queue_refuses_with_the_estimated_wait():
    gate = Gate()
    q = JobQueue(gate, training_capacity=2)
    slow = [dataclasses.replace(t, expected=600.0) for t in TRAIN]  # ten minutes a job
    q.request(slow[0], owner="ada")
    assert gate.started.wait(10)
    queued = q.request(slow[1], owner="bob")
    assert queued.state is JobState.QUEUED and queued.position == 1 and 590 <= queued.wait_seconds <= 600
    with pytest.raises(QueueError, match=r"full \(2 models\); try again in about 20 minutes"):
        q.request(slow[2], owner="cy")
    gate.release.set()
    settle(q)
    q.request(slow[2], owner="cy")  # room again
    settle(q)


def test_owners_cancel_their_own_jobs_queued_or_running():
    gate = Gate()
    q = JobQueue(gate)
    a, b = TRAIN[0].key(), TRAIN[1].key()
    q.request(TRAIN[0], owner="ada")
    q.request(TRAIN[1], owner="bob")
    assert gate.started.wait(10)
    assert not q.cancel(b, owner="ada")  # not hers
    assert q.cancel(b, owner="bob")
    assert q.view(b).state is JobState.CANCELLED and q.view(a).position == 0
    assert q.cancel(a, owner="ada")  # running: the runner stops at its next check
    settle(q)
    assert q.view(a).state is JobState.CANCELLED
    assert gate.ran == [TRAIN[0]]  # the cancelled queued job never ran
    assert q.request(TRAIN[1], owner="bob").state in (JobState.QUEUED, JobState.RUNNING)  # may start again
    gate.release.set()
    settle(q)


def test_a_failed_job_shows_one_sentence_and_logs_its_traceback(caplog):
    def runner(task, progress, cancel):
        raise OSError("could not write x: the disk is full")

    q = JobQueue(runner)
    with caplog.at_level(logging.ERROR, logger="advdemo"):
        q.request(TRAIN[0], owner="ada")
        settle(q)
    view = q.view(TRAIN[0].key())
    assert view.state is JobState.FAILED and view.error == "OSError: could not write x: the disk is full"
    record = next(r for r in caplog.records if f"job {TRAIN[0].key()} failed" in r.getMessage())
    assert record.exc_info and "the disk is full" in caplog.text and "Traceback" in caplog.text


def test_finished_jobs_are_forgotten_and_an_idle_worker_releases_its_engine():
    released = threading.Event()
    q = JobQueue(lambda task, progress, cancel: progress(Steps(1, 1)), keep_seconds=0.2,
                 on_idle=released.set, idle_seconds=0.3)
    for i in range(20):
        q.request(measure(i))
    settle(q)
    assert len(q) == 20 and q.view(measure(0).key()).progress == Steps(1, 1)
    assert released.wait(5)  # nothing to do for a while: the engine's child may go
    time.sleep(0.3)
    q.request(measure(20))  # any request prunes what ended long enough ago
    settle(q)
    assert len(q) == 1


# -- the child process -----------------------------------------------------------------------------

@pytest.fixture
def tiny_data(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist_subset(folder, n_train=512, n_test=64)
    return folder


def engine(store: Path, data: Path | None) -> ProcessEngine:
    return ProcessEngine([ModelStore(store, writable=True)], None if data is None else str(data))


@pytest.mark.integration
def test_the_child_trains_both_models_into_the_store_and_reports_progress(tmp_path, tiny_data):
    store, reports = tmp_path / "store", []
    engine(store, tiny_data).run(TrainTask(TINY), reports.append, threading.Event())
    entries = ModelStore(store, writable=False).entries()
    assert set(entries) == {model_id(TINY, kind) for kind in ModelKind}
    assert {r.model for r in reports} == set(ModelKind) and reports[-1].fraction == 1.0


@pytest.mark.integration
def test_one_child_serves_measurement_after_measurement_and_a_cancel_replaces_it(tmp_path, tiny_data):
    store = tmp_path / "store"
    eng = engine(store, tiny_data)
    eng.run(TrainTask(TINY), lambda p: None, threading.Event())
    reports = []
    first = MetricsTask(TINY, 64, "digits", Attack(strength=0.1))
    result = first.decode(eng.run(first, reports.append, threading.Event()))
    assert result.examples == 64 and 0 <= result.attacked.regularized <= 1
    assert reports[-1] == Steps(3, 3)
    child = eng._child
    second = dataclasses.replace(first, attack=Attack(strength=0.2))
    assert second.decode(eng.run(second, lambda p: None, threading.Event())).examples == 64
    assert eng._child is child and child.alive  # TensorFlow loaded once for both
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        eng.run(dataclasses.replace(first, attack=Attack(strength=0.3)), lambda p: None, cancel)
    assert eng._child is None and not child.alive
    eng.release()


@pytest.mark.integration
def test_a_cancelled_child_is_stopped_and_stores_nothing(tmp_path, tiny_data):
    store, cancel = tmp_path / "store", threading.Event()
    slow = dataclasses.replace(TINY, epochs=50)  # far longer than the test waits

    def progress(p):
        cancel.set()  # the first report: training has begun

    with pytest.raises(Cancelled):
        engine(store, tiny_data).run(TrainTask(slow), progress, cancel)
    assert not list(store.glob("*.npz")) and not list(store.glob("*.tmp*"))


@pytest.mark.integration
def test_a_failing_child_gives_one_sentence_and_logs_its_traceback(tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="advdemo"), pytest.raises(JobFailed) as failed:
        engine(tmp_path / "store", tmp_path / "nowhere").run(TrainTask(TINY), lambda p: None, threading.Event())
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
def test_job_children_are_stopped_while_any_page_reruns():
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
        # 0.3 s either side of each look, so a busy machine's late wake-up does not decide it
        lingering = ForegroundGate(linger=1.0)
        lingering.attach(child.pid)
        with lingering.interactive():
            pass
        time.sleep(0.4)
        assert _state(child.pid) == "T"  # still stopped a moment after the rerun: the browser is drawing
        with lingering.interactive():  # the next move comes before the linger is over
            pass
        time.sleep(0.7)
        assert _state(child.pid) == "T"  # past the first linger: it started again with that move
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


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_in_a_class_that_never_stops_rerunning_jobs_still_get_their_turn():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        gate = ForegroundGate(linger=0.2, max_pause=0.4, grant=0.3)
        gate.attach(child.pid)
        states = []
        with gate.interactive():  # one long stretch of reruns
            assert _stopped(child.pid)  # the stop lands (on a busy machine, not at once)
            deadline = time.monotonic() + 1.6
            while time.monotonic() < deadline:
                states.append(_state(child.pid) == "T")
                time.sleep(0.02)
        # stopped, then a turn, then stopped again: never stopped for the whole stretch
        turns = sum(1 for a, b in zip(states, states[1:]) if a and not b)
        assert turns >= 2 and 0.15 < states.count(False) / len(states) < 0.6, states
        assert _stopped(child.pid, False, timeout=1.0)  # the linger after the last rerun, then it runs
        gate.detach(child.pid)
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
