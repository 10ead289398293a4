"""The shipped pretrained grid: intact files, the tutorial's quality, reproducible metrics."""

import hashlib
import json

import pytest

from advdemo.config import FAST_RECIPE
from advdemo.storage import PRETRAINED_DIR, ModelStore, model_id

MANIFEST = PRETRAINED_DIR / "manifest.json"
pytestmark = pytest.mark.skipif(not MANIFEST.exists(), reason="no pretrained grid in this checkout")


def entries():
    return json.loads(MANIFEST.read_text())["models"]


def test_every_manifest_hash_matches_its_file():
    for mid, entry in entries().items():
        data = (PRETRAINED_DIR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], mid
        assert len(data) == entry["size_bytes"], mid
        assert set(entry["versions"]) == {"tensorflow", "tf_keras", "neural_structured_learning"}


def test_pretrained_folder_fits_the_budget():
    total = sum(p.stat().st_size for p in PRETRAINED_DIR.iterdir() if p.is_file())
    assert total <= 25 * 2**20


def test_the_tutorials_configuration_meets_the_tutorials_quality():
    models = entries()
    base = models[model_id(FAST_RECIPE, "base")]["metrics"]
    adv = models[model_id(FAST_RECIPE, "adv")]["metrics"]
    assert base["base_clean_acc"] >= 0.988
    assert adv["adv_clean_acc"] >= 0.988
    assert adv["adv_transfer_acc"] >= 0.93
    assert adv["attack"] == {"method": "fgsm", "norm": "infinity", "strength": 0.2}


@pytest.mark.integration
def test_reevaluating_the_tutorials_configuration_reproduces_the_manifest(mnist):
    from advdemo.experiment import fgsm_metrics

    store = ModelStore(PRETRAINED_DIR, writable=False)
    base, _ = store.load(model_id(FAST_RECIPE, "base"))
    adv, entry = store.load(model_id(FAST_RECIPE, "adv"))
    fresh = fgsm_metrics(base, adv, mnist.test_images, mnist.test_labels, FAST_RECIPE.adv_grad_norm, 0.2)
    for key, value in fresh.items():
        assert abs(value - entry["metrics"][key]) <= 0.002, key
