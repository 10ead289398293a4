"""The typed manifest (:mod:`advdemo.store.manifest`) is the only code that reads a manifest key by name."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from advdemo.core.config import Norm
from advdemo.store import manifest
from advdemo.store.storage import PRETRAINED_DIR

ROOT = Path(__file__).resolve().parent.parent
OWNER = ROOT / "advdemo" / "store" / "manifest.py"


#: Manifest keys that other JSON the project reads also uses, for its own meaning: ``attack`` (the URL's
#: parameter, a chart row's field, a measurement task's record), ``kind`` and ``hparams`` (a measurement
#: task's record, :mod:`advdemo.serving.tasks`), ``strong`` (an AutoAttack record's own settings), ``probe`` (a
#: training job's progress report, :mod:`advdemo.serving.worker`).
SHARED_WORDS = {"attack", "kind", "hparams", "strong", "probe"}


def manifest_keys() -> set[str]:
    """The keys of the shipped manifest's entries and of their metrics, but :data:`SHARED_WORDS`."""
    models = json.loads((PRETRAINED_DIR / "manifest.json").read_text())["models"]
    keys = {key for entry in models.values() for key in entry}
    return (keys | {key for entry in models.values() for key in entry["metrics"]}) - SHARED_WORDS


def keyed_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants used to read by key: ``x["k"]``, ``x.get("k")`` and ``"k" in x``.

    (Writing one's own JSON with the same words, as ``advdemo reproduce --json`` does, is not reading
    the manifest; the store accepts only :class:`~advdemo.store.manifest.Metrics` to write.)
    """
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            found.append(node.slice)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args \
                and node.func.attr in ("get", "pop", "setdefault"):
            found.append(node.args[0])
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            found.append(node.left)
    return [(n.lineno, n.value) for n in found if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def sources() -> list[Path]:
    return [p for folder in ("advdemo", "ui", "bench") for p in (ROOT / folder).rglob("*.py")] + [ROOT / "app.py"]


@pytest.mark.skipif(not (PRETRAINED_DIR / "manifest.json").exists(), reason="no pretrained grid in this checkout")
def test_no_code_outside_the_manifest_module_reads_a_manifest_key_by_name():
    keys = manifest_keys()
    assert {"base_model", "train_history", "curves", "strong_full", "autoattack", "sha256"} <= keys  # seen
    offenders = [f"{path.relative_to(ROOT)}:{line}: {key!r}" for path in sources() if path != OWNER
                 for line, key in keyed_strings(ast.parse(path.read_text())) if key in keys]
    assert not offenders, "\n".join(offenders)


def test_a_manifest_entry_round_trips_and_keeps_keys_it_does_not_know():
    data = {"id": "adv-1", "kind": "adv", "file": "adv-1.weights.npz", "sha256": "ab" * 32, "size_bytes": 3,
            "hparams": {"seed": 0}, "train_seconds": 1.5, "metrics": {"future_measure": [1, 2]},
            "versions": {"tensorflow": "2.21.0"}, "created": "2026-12-03T12:00:00+00:00",
            "note": "from a newer version"}
    entry = manifest.ModelEntry.from_json(data)
    assert entry.to_json() == data
    assert entry.metrics.fgsm is None and entry.metrics.strong(Norm.INFINITY) is None
    with pytest.raises(manifest.ManifestError, match="adv-1"):
        manifest.ModelEntry.from_json({**data, "size_bytes": "three"})
