"""AutoAttack on many digits in parts, each kept on disk, so a long measurement survives being stopped.

A whole-test-set record of a robust model runs every attack on about 9,000 robust digits: an hour or
two on two cores. Measured in parts of ``part`` digits, each part's per-digit outcomes are written
(atomically) to a folder as soon as they are known; a rerun with the same settings reads the finished
parts back and measures only the rest. The outcomes are per digit and each part keeps its own seconds,
so the joined record is the same kind of record as one measured in one go: exact per-digit worst case,
each attack's seconds summed. Every random start is drawn per part from the configured seed.

The files are plain NumPy archives of boolean arrays, read with ``allow_pickle=False``; one that does not
read back whole (a different length, a missing attack) is measured again.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from advdemo.core.autoattack_eval import ATTACKS, AutoAttackOutcomes
from advdemo.core.config import AutoAttackEval, Norm, StrongEval, to_dict
from advdemo.logs import LOGGER
from advdemo.store.storage import atomic_write

#: Digits per part: the first part is the first 1,000 digits, the subset every other record is measured on.
PART = 1000

#: Measures one part: ``(start, end)`` digit indices → its outcomes and each attack's seconds.
MeasureFn = Callable[[int, int], tuple[AutoAttackOutcomes, dict[str, float]]]


def part_path(folder: Path, mid: str, norm: Norm, strength: float, start: int, end: int,
              how: tuple[AutoAttackEval, StrongEval], source: str = "") -> Path:
    """Where one part's outcomes live: named by the model, the attack's settings, the digits and ``source``
    (what else the outcomes depend on, e.g. the weights' hashes: a retrained model reads nothing back)."""
    settings = json.dumps([to_dict(how[0]), to_dict(how[1]), source], sort_keys=True)
    digest = hashlib.sha256(settings.encode()).hexdigest()[:12]
    return folder / f"{mid}_{norm.value}_{strength:g}_{start}-{end}_{digest}.npz"


def _write(path: Path, outcomes: AutoAttackOutcomes, seconds: dict[str, float]) -> None:
    arrays = {name: getattr(outcomes, name) for name in ("clean", *ATTACKS) if getattr(outcomes, name) is not None}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, seconds_names=np.array(list(seconds)), seconds=np.array(list(seconds.values())))
    atomic_write(path, buffer.getvalue())


def _read(path: Path, n: int, with_square: bool) -> tuple[AutoAttackOutcomes, dict[str, float]] | None:
    """The part stored at ``path``, or None where there is none or it does not read back whole."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            names = ("clean", *ATTACKS) if with_square else ("clean", *ATTACKS[:-1])
            arrays = {name: np.asarray(data[name]) for name in names}
            seconds = {str(k): float(v) for k, v in zip(data["seconds_names"], data["seconds"])}
    except (OSError, ValueError, KeyError) as exc:
        LOGGER.warning("measuring %s again: it does not read back (%s)", path.name, exc)
        return None
    if any(a.dtype != np.bool_ or a.shape != (n,) for a in arrays.values()):
        LOGGER.warning("measuring %s again: its arrays are not %d booleans each", path.name, n)
        return None
    return AutoAttackOutcomes(arrays["clean"], arrays["transfer_fgsm"], arrays["whitebox_fgsm"],
                              arrays["whitebox_pgd"], arrays["apgd_ce"], arrays["apgd_t"],
                              arrays["square"] if with_square else None), seconds


def part_paths(folder: Path, mid: str, norm: Norm, strength: float, examples: int,
               how: tuple[AutoAttackEval, StrongEval], part: int = PART, source: str = ""
               ) -> list[tuple[int, int, Path]]:
    """Each part of digits ``[0, examples)``: ``(start, end, where its outcomes are kept)``."""
    return [(start, min(examples, start + part),
             part_path(folder, mid, norm, strength, start, min(examples, start + part), how, source))
            for start in range(0, examples, part)]


def measure_in_parts(parts: list[tuple[int, int, Path]], with_square: bool, measure: MeasureFn, *,
                     log: Callable[[str], None] | None = None) -> tuple[AutoAttackOutcomes, dict[str, float]]:
    """The outcomes of every part of :func:`part_paths`, measured with ``measure`` where not already kept.
    Returns them joined in order, with each attack's seconds summed. The caller removes the files once the
    joined record is stored."""
    pieces: list[tuple[AutoAttackOutcomes, dict[str, float]]] = []
    examples = parts[-1][1]
    for start, end, path in parts:
        kept = _read(path, end - start, with_square)
        if kept is None:
            kept = measure(start, end)
            _write(path, *kept)
            if log:
                log(f"digits {start:,}-{end:,} of {examples:,} measured")
        elif log:
            log(f"digits {start:,}-{end:,} of {examples:,} read back from {path.name}")
        pieces.append(kept)
    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(outcomes, name) for outcomes, _ in pieces])

    outcomes = AutoAttackOutcomes(joined("clean"), joined("transfer_fgsm"), joined("whitebox_fgsm"),
                                  joined("whitebox_pgd"), joined("apgd_ce"), joined("apgd_t"),
                                  joined("square") if with_square else None)
    seconds = {name: round(sum(s.get(name, 0.0) for _, s in pieces), 2) for name in pieces[0][1]}
    return outcomes, seconds
