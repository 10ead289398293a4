"""Does a folder keep the store's promises when several processes share it? (``advdemo check-store DIR``)

Replicas of the page and the nodes of a Ray cluster share one model store on a volume
(docs/deploy.md). The store stays whole only if that volume's filesystem gives it three things:

* **whole renames**: a reader sees the old file or the new one, never a mix (``atomic_write``);
* **a lock across processes**: ``flock`` keeps two writers of ``results.json`` from losing each
  other's entries (``file_lock``);
* **reads after writes**: what one process wrote and renamed, another reads back.

:func:`check_shared_store` tries each in a scratch folder inside the given one, with real processes,
and removes the scratch folder afterwards. Run it on the mount every replica uses, on each node that
mounts it. A pass on one node says nothing about locks between nodes on a filesystem that keeps
locks per client; docs/deploy.md names the filesystems where they hold. Weights are checked against
their SHA-256 on every load whatever the filesystem, so a torn weights file is refused, never used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from advdemo.core.config import ConfigError
from advdemo.store.storage import ModelStore, StoreError, atomic_write

#: Two payloads of this size alternate under one name while another process reads it.
_PAYLOAD_BYTES = 1 << 20


@dataclass(frozen=True)
class StoreCheck:
    """What :func:`check_shared_store` saw in ``folder``."""

    folder: str
    #: Results written by ``writers`` processes at once, ``updates_each`` each, and how many survived.
    writers: int
    updates_each: int
    results_kept: int
    #: Reads of a file being replaced over and over, and how many saw a mix of old and new (never > 0).
    reads: int
    torn_reads: int
    #: Temporary files left behind by the writers (none: every write cleaned up after itself).
    leftovers: tuple[str, ...]
    seconds: float

    @property
    def problems(self) -> list[str]:
        """What failed, one sentence each (empty: the folder keeps every promise this check tries)."""
        out = []
        expected = self.writers * self.updates_each
        if self.results_kept != expected:
            out.append(f"{expected - self.results_kept} of {expected} results written by {self.writers} processes "
                       "at once were lost: flock() does not exclude other processes here")
        if self.torn_reads:
            out.append(f"{self.torn_reads} of {self.reads} reads saw a file half replaced: renames are not atomic here")
        if self.reads == 0:
            out.append("the file being replaced could not be read at all")
        if self.leftovers:
            out.append(f"temporary files were left behind: {', '.join(self.leftovers[:3])}")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems


def _write_results(folder: str, writer: int, updates: int) -> None:
    """One writer process: ``updates`` results under its own keys, each through the store's lock."""
    store = ModelStore(folder, writable=True)
    for k in range(updates):
        store.put_result(f"check-{writer}-{k}", "check", {"writer": writer, "update": k}, seconds=0.0)


def _replace_over_and_over(path: str, seconds: float) -> None:
    """One writer process: replace ``path`` by one of two whole payloads, alternately, for ``seconds``."""
    payloads = (b"\x01" * _PAYLOAD_BYTES, b"\x02" * _PAYLOAD_BYTES)
    deadline, i = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        atomic_write(Path(path), payloads[i % 2])
        i += 1


def _child(role: str, *args: object) -> subprocess.Popen:
    """One of the check's processes, started like a replica: a fresh interpreter sharing only the folder."""
    return subprocess.Popen([sys.executable, "-m", "advdemo.store.shared_check", role, *map(str, args)])


def read_while(path: Path, writing: Callable[[], bool]) -> tuple[int, int]:
    """Read ``path`` over and over while ``writing()``; how many reads, and how many were not one whole payload."""
    reads = torn = 0
    while writing():
        reads += 1
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # a rename never leaves a moment without the file
            torn += 1
            continue
        if len(data) != _PAYLOAD_BYTES or data.count(data[:1]) != len(data):
            torn += 1
    return reads, torn


def check_shared_store(folder: str | os.PathLike[str], *, writers: int = 3, updates_each: int = 30,
                       replace_seconds: float = 3.0) -> StoreCheck:
    """Try the store's guarantees in a scratch folder inside ``folder`` (which must exist and be writable).

    ``writers`` processes (1-16) each add ``updates_each`` results (1-1,000) to one ``results.json`` at
    once; then one process replaces a 1 MB file for ``replace_seconds`` (0.5-60) while this one reads it.
    Raises :class:`StoreError` if ``folder`` is not a writable folder, :class:`ConfigError` for counts out of range.
    """
    if not 1 <= writers <= 16 or not 1 <= updates_each <= 1000 or not 0.5 <= replace_seconds <= 60:
        raise ConfigError(f"writers={writers}, updates_each={updates_each}, replace_seconds={replace_seconds}: "
                          "expected writers 1-16, updates_each 1-1,000 and replace_seconds 0.5-60")
    root = Path(folder)
    if not root.is_dir():
        raise StoreError(f"{root} is not a folder")
    scratch = root / f".advdemo-check-{uuid.uuid4().hex[:12]}"
    try:
        scratch.mkdir()
    except OSError as exc:
        raise StoreError(f"cannot write in {root}: {exc.strerror or exc}") from None
    start = time.perf_counter()
    try:
        procs = [_child("write", scratch, w, updates_each) for w in range(writers)]
        for proc in procs:
            proc.wait()
        if any(proc.returncode for proc in procs):
            raise StoreError(f"a writer process failed in {scratch} (exit codes {[p.returncode for p in procs]})")
        kept = len([k for k in ModelStore(scratch, writable=False).results() if k.startswith("check-")])

        target = scratch / "replaced.bin"
        atomic_write(target, b"\x01" * _PAYLOAD_BYTES)
        writer = _child("replace", target, replace_seconds)
        reads, torn = read_while(target, lambda: writer.poll() is None)
        if writer.returncode:
            raise StoreError(f"the replacing process failed in {scratch} (exit code {writer.returncode})")
        leftovers = tuple(sorted(p.name for p in scratch.iterdir() if p.name.endswith(".tmp")))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return StoreCheck(folder=str(root), writers=writers, updates_each=updates_each, results_kept=kept,
                      reads=reads, torn_reads=torn, leftovers=leftovers, seconds=time.perf_counter() - start)


__all__ = ["StoreCheck", "check_shared_store", "read_while"]


if __name__ == "__main__":  # the check's own processes (_child)
    role, folder_or_path, *numbers = sys.argv[1:]
    if role == "write":
        _write_results(folder_or_path, int(numbers[0]), int(numbers[1]))
    elif role == "replace":
        _replace_over_and_over(folder_or_path, float(numbers[0]))
    else:
        sys.exit(f"unknown role {role!r}")
