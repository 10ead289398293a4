import gzip
import socket
import time

import numpy as np
import pytest
from conftest import idx_bytes

from advdemo.core import data
from advdemo.core.data import FILES, DataError, IdxError, load_idx_folder, read_idx


def write_mnist(folder, n_train=6, n_test=4, gz=True, **override):
    rng = np.random.default_rng(1)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)), "train_labels": rng.integers(0, 10, n_train),
        "test_images": rng.integers(0, 256, (n_test, 28, 28)), "test_labels": rng.integers(0, 10, n_test),
    }
    for key, name in FILES.items():
        raw = override.get(key, idx_bytes(arrays[key]))
        path = folder / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_reads_idx_folder_scaled_to_unit_range(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    m = load_idx_folder(tmp_path)
    assert m.train_images.shape == (6, 28, 28, 1) and m.train_images.dtype == np.float32
    assert m.test_images.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(m.train_images[..., 0], arrays["train_images"].astype(np.float32) / np.float32(255.0))
    np.testing.assert_array_equal(m.test_labels, arrays["test_labels"])
    assert 0.0 <= m.train_images.min() and m.train_images.max() <= 1.0


@pytest.mark.parametrize("raw,kind,message", [
    (idx_bytes(np.zeros((2, 28, 28)), magic=0x801), "images", "wrong magic number 0x00000801"),
    (idx_bytes(np.zeros((2, 28, 28)))[:-5], "images", "truncated: header promises 1568 data bytes, file has 1563"),
    (idx_bytes(np.zeros((2, 28, 28))) + b"xx", "images", "2 unexpected bytes"),
    (idx_bytes(np.zeros((2, 27, 28))), "images", "images are 27x28; expected 28x28"),
    (idx_bytes(np.array([1, 12, 3])), "labels", "label 12 is outside 0..9"),
    (b"\x00\x00", "labels", "too short for an IDX header"),
    (gzip.compress(idx_bytes(np.zeros(3)))[:-8], "labels", "cannot read"),
])
def test_malformed_idx_names_the_file(tmp_path, raw, kind, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(raw)
    with pytest.raises(IdxError, match=message) as err:
        read_idx(path, kind=kind)
    assert str(path) in str(err.value)


def test_counts_that_disagree(tmp_path):
    write_mnist(tmp_path, test_labels=idx_bytes(np.zeros(5)))
    with pytest.raises(IdxError, match=r"has 4 images but .*t10k-labels.* has 5 labels"):
        load_idx_folder(tmp_path)


def test_missing_files_say_how_to_fix(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="lacks t10k-images-idx3-ubyte .*ADVDEMO_MNIST_DIR"):
        load_idx_folder(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_idx_folder(tmp_path / "nowhere")


def test_env_var_selects_the_folder(tmp_path, monkeypatch):
    write_mnist(tmp_path, n_train=3)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.load_mnist().train_images.shape[0] == 3


def test_offline_without_local_files_fails_fast_with_instructions(tmp_path, monkeypatch):
    """Simulates a machine without network: connecting hangs, as it does offline."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))  # nothing prepared there

    def hang(*args, **kwargs):
        time.sleep(60)
        raise OSError("unreachable")

    monkeypatch.setattr(socket, "create_connection", hang)
    import tensorflow_datasets  # noqa: F401 - import time is not part of the bound

    start = time.monotonic()
    with pytest.raises(DataError, match=r"cannot be reached.*--data-dir DIR.*ADVDEMO_MNIST_DIR"):
        data.load_mnist()
    assert time.monotonic() - start < 10


def test_can_reach_reports_a_closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connection refused
        assert data.can_reach(("127.0.0.1", port), timeout=2) is False


# -- the test set shipped with the package ----------------------------------------------------------

def test_the_shipped_test_set_is_the_official_one(mnist):
    shipped = data.load_embedded_test_set()
    assert shipped.test_images.shape == (10_000, 28, 28, 1) and shipped.test_labels.shape == (10_000,)
    assert not shipped.has_training_data and shipped.train_images.shape == (0, 28, 28, 1)
    if mnist.source != data.EMBEDDED_SOURCE and len(mnist.test_labels) == 10_000:
        np.testing.assert_array_equal(shipped.test_images, mnist.test_images)
        np.testing.assert_array_equal(shipped.test_labels, mnist.test_labels)


def test_a_damaged_shipped_copy_is_refused_with_instructions(tmp_path, monkeypatch):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes((data.EMBEDDED_DIR / name).read_bytes())
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = labels.read_bytes()
    labels.write_bytes(raw[:-1] + bytes([raw[-1] ^ 0xFF]))
    monkeypatch.setattr(data, "EMBEDDED_DIR", tmp_path)
    with pytest.raises(DataError, match="damaged.*SHA-256.*reinstall advdemo"):
        data.load_embedded_test_set()
    labels.unlink()
    with pytest.raises(DataError, match="missing"):
        data.load_embedded_test_set()


def test_evaluation_without_a_data_option_uses_the_shipped_test_set(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    mnist = data.load_mnist(training=False)
    assert mnist.source == data.EMBEDDED_SOURCE and len(mnist.test_labels) == 10_000


def test_training_data_problem_is_one_sentence_when_there_is_no_way_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setattr(data, "can_reach", lambda *a, **k: False)
    monkeypatch.setattr(data, "_probe", {"at": -float("inf"), "ok": False})
    monkeypatch.setattr(data, "_cache", {})
    problem = str(data.training_data_problem())
    assert problem.count(". ") == 0 and data.ENV_VAR in problem
    assert data.training_data_problem(tmp_path) is None  # a local folder: its files are checked when loading
    assert "does not exist" in str(data.training_data_problem(tmp_path / "nowhere"))
    monkeypatch.setattr(data, "_probe", {"at": -float("inf"), "ok": False})
    monkeypatch.setattr(data, "can_reach", lambda *a, **k: True)
    assert data.training_data_problem() is None  # tensorflow_datasets can download it
