import errno
import json
import os
import threading

import numpy as np
import pytest
from conftest import TINY

from advdemo.core.config import TUTORIAL
from advdemo.core.model import build_base_model
from advdemo.store import storage
from advdemo.store.manifest import Metrics
from advdemo.store.storage import IntegrityError, ModelStore, StoreError, atomic_write, model_id


@pytest.fixture
def store(tmp_path):
    return ModelStore(tmp_path / "store", writable=True)


@pytest.fixture(scope="module")
def tiny_model():
    return build_base_model(TINY)


def test_round_trip_rebuilds_from_config_and_loads_weights(store, tiny_model, synthetic):
    metrics = Metrics().with_base_clean(0.5, 100)
    entry = store.put(TINY, "base", tiny_model.get_weights(), train_seconds=1.5, metrics=metrics)
    assert entry.id == model_id(TINY, "base") and entry.size_bytes == os.path.getsize(store.root / entry.file)
    manifest = json.loads((store.root / "manifest.json").read_text())
    assert manifest["models"][entry.id]["hparams"]["conv_filters"] == [4, 8, 8]
    assert set(entry.versions) == {"tensorflow", "tf_keras", "neural_structured_learning"}
    loaded, loaded_entry = ModelStore(store.root, writable=False).load(entry.id)
    images, _ = synthetic
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), tiny_model.predict(images, verbose=0))
    assert loaded_entry == entry and loaded_entry.metrics.base_clean == 0.5


def corrupt(path, how):
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 3]))
    elif how == "foreign":
        path.write_bytes(b"PK\x03\x04 definitely not the weights")
    elif how == "delete":
        path.unlink()


@pytest.mark.parametrize("how", ["flip", "truncate", "foreign", "delete"])
def test_hash_mismatch_is_rejected(store, tiny_model, how):
    entry = store.put(TINY, "base", tiny_model.get_weights(), train_seconds=1)
    corrupt(store.root / entry.file, how)
    with pytest.raises(IntegrityError, match=entry.file):
        store.load(entry.id)


def test_entry_claiming_another_model_is_rejected(store, tiny_model):
    entry = store.put(TINY, "base", tiny_model.get_weights(), train_seconds=1)
    manifest = json.loads((store.root / "manifest.json").read_text())
    manifest["models"][entry.id]["hparams"]["seed"] = 7  # the id no longer matches its config
    (store.root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="different model"):
        store.load(entry.id)


def test_entry_file_names_cannot_leave_the_store(store, tiny_model, tmp_path):
    entry = store.put(TINY, "base", tiny_model.get_weights(), train_seconds=1)
    outside = tmp_path / "outside.npz"
    outside.write_bytes((store.root / entry.file).read_bytes())
    (store.root / entry.file).unlink()
    manifest = json.loads((store.root / "manifest.json").read_text())
    manifest["models"][entry.id]["file"] = "../outside.npz"
    (store.root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="cannot read"):
        store.load(entry.id)


def test_pickled_arrays_are_refused():
    import io

    buffer = io.BytesIO()
    np.savez(buffer, w000=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(IntegrityError, match="not a weights archive"):
        storage.weights_from_bytes(buffer.getvalue())


def test_crash_mid_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "model.weights.npz"
    target.write_bytes(b"old complete content")

    def crash(src, dst):
        raise KeyboardInterrupt("power cut before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new content that never lands")
    assert target.read_bytes() == b"old complete content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.weights.npz"]


def test_full_disk_gives_a_clear_error_and_changes_nothing(store, tiny_model, monkeypatch):
    first = store.put(TINY, "base", tiny_model.get_weights(), train_seconds=1)
    manifest_before = (store.root / "manifest.json").read_bytes()
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    other = TUTORIAL.__class__(**{**TINY.__dict__, "seed": 1})
    with pytest.raises(StoreError, match="the disk is full; nothing was changed"):
        store.put(other, "base", tiny_model.get_weights(), train_seconds=1)
    assert (store.root / "manifest.json").read_bytes() == manifest_before
    assert not list(store.root.glob("*.tmp")) and not list(store.root.glob(".*.tmp"))
    store.load(first.id)  # still intact


def test_concurrent_writers_keep_every_entry(tmp_path, tiny_model):
    weights = tiny_model.get_weights()
    configs = [TINY.__class__(**{**TINY.__dict__, "seed": s}) for s in range(6)]

    def write(hp):
        ModelStore(tmp_path / "shared", writable=True).put(hp, "base", weights, train_seconds=1)

    threads = [threading.Thread(target=write, args=(hp,)) for hp in configs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = ModelStore(tmp_path / "shared", writable=False)
    assert set(store.entries()) == {model_id(hp, "base") for hp in configs}
    for hp in configs:
        store.load(model_id(hp, "base"))


def test_read_only_store_refuses_writes(tmp_path, tiny_model):
    with pytest.raises(StoreError, match="read-only"):
        ModelStore(tmp_path, writable=False).put(TINY, "base", tiny_model.get_weights(), train_seconds=1)


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ADVDEMO_CACHE_DIR", str(tmp_path / "c"))
    assert storage.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ADVDEMO_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert storage.default_cache_dir() == tmp_path / "xdg" / "advdemo" / "models"


def test_an_unreadable_manifest_entry_is_left_out_and_named(store, tiny_model):
    good = store.put(TINY, "base", tiny_model.get_weights(), train_seconds=1)
    manifest = json.loads((store.root / "manifest.json").read_text())
    manifest["models"]["adv-broken"] = {"id": "adv-broken", "kind": "adv"}  # no file, no hash
    (store.root / "manifest.json").write_text(json.dumps(manifest))
    reader = ModelStore(store.root, writable=False)
    assert set(reader.entries()) == {good.id}  # the page keeps working with what it can read
    assert "adv-broken" in reader.problem
    reader.load(good.id)
