"""Two replicas of the page, one model store, one Ray instance: one job per request, nothing lost when one dies.

On one machine, the way a deployment with several replicas behind a load balancer runs them:

* a local Ray instance (this script is its first driver; ``--ray-cpus`` bounds it);
* two hosted servers (``streamlit run app.py`` on two ports), each with ``ADVDEMO_RAY_ADDRESS`` pointing at
  that instance and the **same** writable store (``ADVDEMO_CACHE_DIR``);
* real Chromium sessions spread over both.

Phases:

1. **the same links on both replicas**: each of ``--links`` links whose numbers nobody has stored is opened
   on replica A and on replica B at once. For each page: seconds until its grids and placeholder show,
   and until its numbers fill in by themselves. The cluster's job registry counts the tasks started per
   task key: one per distinct request is the goal, however many replicas asked.
2. **a replica killed mid-job**: replica A opens one more unstored link; once its task runs in the
   cluster, A is killed (SIGKILL, no shutdown). The task runs on and stores its numbers; a new replica
   A' started on the same store then shows them without a new task, and so does B.
3. **nothing half-written**: no temporary file is left in the store, both JSON documents read strictly,
   and every model's weights match their recorded SHA-256.

Reports the times above, the tasks started per key, each replica's peak memory and the Ray workers',
and the time the restarted replica took to show the killed one's numbers.

    python bench/two_replicas.py [--links 4] [--ray-cpus 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from classroom import UNSTORED, open_unstored
from common import CHROMIUM, CHROMIUM_ARGS, OUT, Server, machine, report


def started_tasks() -> dict[str, int]:
    """Tasks started in the cluster so far, by task key (from the job registry, if any replica made it)."""
    import ray

    from advdemo.serving.ray_engine import NAMESPACE, REGISTRY

    try:
        actor = ray.get_actor(REGISTRY, namespace=NAMESPACE)
    except ValueError:
        return {}
    return ray.get(actor.started.remote())


def ray_worker_rss_mb() -> float:
    """Resident memory of this machine's Ray worker processes (where the tasks run), in MB."""
    import psutil

    total = 0
    for proc in psutil.process_iter(["name", "cmdline", "memory_info"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "default_worker.py" in cmd or (proc.info["name"] or "").startswith("ray::"):
            total += proc.info["memory_info"].rss if proc.info["memory_info"] else 0
    return total / 2**20


async def same_links(a: Server, b: Server, links: list[str], errors: list[str], timeout_s: float) -> list[dict]:
    """Each link opened on A and on B at once; per page, seconds until grids and placeholder, and until numbers."""
    from playwright.async_api import async_playwright

    async def one(browser, server: Server, name: str, link: str) -> list[dict]:
        got: list[dict] = []
        await open_unstored(browser, f"{server.url}/{link}", got, errors, name, timeout_s)
        return [{"replica": name, **answer} for answer in got]

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pages = await asyncio.gather(*(one(browser, server, name, link)
                                           for link in links for name, server in (("A", a), ("B", b))))
            return [answer for page in pages for answer in page]
        finally:
            await browser.close()


async def kill_mid_job(a: Server, store: Path, link: str, errors: list[str]) -> tuple[list[str], float]:
    """Open ``link`` on A; once one of its tasks runs in the cluster (started, nothing stored yet), kill A with
    SIGKILL. Returns the keys of the tasks that were running, and the moment of the kill."""
    from playwright.async_api import async_playwright

    from advdemo.store.storage import ModelStore

    before = set(started_tasks())
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        shown = asyncio.Event()
        opening = asyncio.create_task(open_unstored(browser, f"{a.url}/{link}", [], [], "A", 600, shown))
        await shown.wait()
        deadline, running = time.monotonic() + 300, []
        while not running and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            shared = ModelStore(store, writable=False)
            running = sorted(k for k in set(started_tasks()) - before if shared.result(k) is None)
        if not running:
            errors.append("none of the killed replica's tasks was caught running in the cluster")
        os.kill(a.proc.pid, signal.SIGKILL)  # no shutdown: the replica's process is gone mid-job
        killed_at = time.perf_counter()
        opening.cancel()  # its page waits on a server that is gone
        await asyncio.gather(opening, return_exceptions=True)
        await browser.close()
    return running, killed_at


def wait_stored(store: Path, keys: list[str], start: float, timeout_s: float) -> float | None:
    """Seconds from ``start`` until every key's result is in the store (None: not within the timeout)."""
    from advdemo.store.storage import ModelStore

    while time.perf_counter() - start < timeout_s:
        if all(ModelStore(store, writable=False).result(k) is not None for k in keys):
            return time.perf_counter() - start
        time.sleep(0.5)
    return None


def whole_store(store: Path) -> dict:
    """Is anything half-written? Temporary files left, JSON documents unreadable, weights whose hash differs."""
    from advdemo.store.manifest import MODELS_SECTION
    from advdemo.store.storage import MANIFEST, RESULTS, JsonDocument, ModelStore

    temporary = sorted(p.name for p in store.iterdir() if p.name.endswith((".tmp", ".broken")))
    documents, unreadable = {}, []
    for name, section in ((MANIFEST, MODELS_SECTION), (RESULTS, "results")):
        try:
            documents[name] = len(JsonDocument(store / name, section, store / ".lock").read_strict())
        except Exception as exc:  # what the report counts
            unreadable.append(f"{name}: {type(exc).__name__}")
    models = ModelStore(store, writable=False)
    bad = []
    for mid in models.entries():
        try:
            models.read_weights(mid)
        except Exception as exc:  # what the report counts
            bad.append(f"{mid}: {type(exc).__name__}")
    return {"temporary_files": temporary, "unreadable_documents": unreadable, "entries": documents,
            "models_failing_their_hash": bad}


def main() -> None:
    import ray

    from advdemo.serving.ray_engine import NAMESPACE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=4, help="distinct unstored links, each opened on both replicas")
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900, help="seconds a page may wait for its numbers")
    args = parser.parse_args()
    links = UNSTORED[:max(1, min(args.links, len(UNSTORED) - 1))]
    kill_link = UNSTORED[len(links)]
    errors: list[str] = []
    ray_start = time.perf_counter()
    ray.init(num_cpus=args.ray_cpus, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
    ray_seconds = time.perf_counter() - ray_start
    address = ray.get_runtime_context().gcs_address
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "shared-store"
        env = {"ADVDEMO_HOSTED": "1", "ADVDEMO_CACHE_DIR": str(store), "ADVDEMO_RAY_ADDRESS": address,
               "ADVDEMO_LOG_LEVEL": "info"}
        a, b = Server(env, log=Path(tmp) / "a.log"), Server(env, log=Path(tmp) / "b.log")
        restarted = None
        try:
            a.wait_healthy()
            b.wait_healthy()
            t0 = time.perf_counter()
            answers = asyncio.run(same_links(a, b, links, errors, args.timeout))
            same_links_s = time.perf_counter() - t0
            after_same = started_tasks()
            peaks = {"A": round(a.peak_rss_mb, 1), "B": round(b.peak_rss_mb, 1)}
            workers_mb = round(ray_worker_rss_mb(), 1)

            killed, killed_at = asyncio.run(kill_mid_job(a, store, kill_link, errors))
            stored_after = wait_stored(store, killed, killed_at, args.timeout)
            if stored_after is None:
                errors.append("the killed replica's numbers never reached the store")
            restarted = Server(env, log=Path(tmp) / "a2.log")
            restarted.wait_healthy()
            again = asyncio.run(same_links(restarted, b, [kill_link], errors, args.timeout))
            for answer in again:
                answer["replica"] = {"A": "A (restarted)", "B": "B"}[answer["replica"]]
            final = started_tasks()
            integrity = whole_store(store)
        finally:
            for server in (a, b, restarted):
                if server is not None and server.proc.poll() is None:
                    server.stop()
            ray.shutdown()
            OUT.mkdir(parents=True, exist_ok=True)
            for name in ("a", "b", "a2"):  # each replica's log: its jobs, and those it read from the store
                if (Path(tmp) / f"{name}.log").exists():
                    shutil.copy(Path(tmp) / f"{name}.log", OUT / f"two_replicas_{name}.log")
    twice = {key: n for key, n in final.items() if n > 1}
    report("two_replicas", {
        "machine": machine(), "ray_cpus": args.ray_cpus, "ray_start_s": round(ray_seconds, 2),
        "errors": len(errors), "error_samples": errors[:8],
        "same_links": len(links), "pages_on_both_replicas": 2 * len(links), "answers": answers,
        "same_links_wall_s": round(same_links_s, 1),
        "tasks_after_same_links": sum(after_same.values()), "distinct_requests_after_same_links": len(after_same),
        "tasks_running_when_killed": killed,
        "killed_replica_numbers_stored_s_after_kill": None if stored_after is None else round(stored_after, 1),
        "after_restart_answers": again,
        "tasks_started_in_all": sum(final.values()), "distinct_requests_in_all": len(final),
        "tasks_started_more_than_once": twice,
        "store": integrity,
        "peak_rss_mb_replica_a_b": peaks, "peak_rss_mb_restarted_a": round(restarted.peak_rss_mb, 1)
        if restarted else None, "ray_workers_rss_mb": workers_mb,
    })


if __name__ == "__main__":
    main()
