"""One place per attack: a toy attack registered in one line is offered by the CLI and the URL, and runs."""

from __future__ import annotations

import numpy as np
import pytest

from advdemo.core.attack_methods import AttackMethod, AttackSpec, register, unregister
from advdemo.core.config import Attack, ConfigError, Norm
from advdemo.page.viewstate import parse_query


def sign_noise(model, images: np.ndarray, labels: np.ndarray, attack: Attack) -> np.ndarray:
    """Every pixel moved by exactly ±strength, at random: a gradient-free baseline (L-inf only)."""
    rng = np.random.default_rng(attack.seed)
    return images + attack.strength * rng.choice([-1.0, 1.0], size=images.shape).astype(np.float32)


@pytest.fixture
def noise():
    method = register(AttackSpec("noise", iterative=False, norms=(Norm.INFINITY,), craft=sign_noise))
    yield method
    unregister("noise")


def test_a_registered_attack_is_a_choice_of_the_cli_and_the_url(noise):
    from advdemo.cli.commands import build_parser

    assert noise in list(AttackMethod) and AttackMethod("noise") is noise and noise.value == "noise"
    args = build_parser().parse_args(["evaluate", "--attack", "noise"])
    assert args.attack == "noise"
    view, notices = parse_query({"attack": "noise", "anorm": "infinity"})
    assert view.attack is noise and notices == []
    # Under a norm it does not attack in, the URL falls back to the default attack and says so.
    view, notices = parse_query({"attack": "noise", "anorm": "l2"})
    assert view.attack is AttackMethod.FGSM and [n.key for n in notices] == ["url.method_norm"]
    with pytest.raises(ConfigError, match="noise"):
        Attack(method=noise, norm=Norm.L2)


def test_a_registered_attack_runs_through_perturb_within_its_budget(noise, rng):
    from conftest import linear_model

    from advdemo.core.attacks import perturb

    images = rng.random((6, 28, 28, 1)).astype(np.float32)
    model = linear_model(rng.normal(size=(784, 10)))
    examples = perturb(model, images, np.arange(6), Attack(method=noise, strength=0.1))
    assert examples.shape == images.shape and examples.min() >= 0.0 and examples.max() <= 1.0
    assert np.abs(examples - images).max() <= 0.1 + 1e-6
    inside = (images > 0.1) & (images < 0.9)  # not clipped: moved by exactly the strength
    assert np.allclose(np.abs(examples - images)[inside], 0.1, atol=1e-6)


def test_an_unknown_attack_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="'fgsm', 'pgd'"):
        Attack(method="noise")
    view, notices = parse_query({"attack": "noise"})
    assert view.attack is AttackMethod.FGSM and [n.key for n in notices] == ["url.invalid"]


def test_every_attack_has_its_name_and_help_in_both_catalogues():
    from advdemo.i18n import Language, catalogue

    for language in Language:
        tr = catalogue(language)
        for method in AttackMethod:
            assert tr(f"attack_method.{method.value}") and tr(f"attack_method_help.{method.value}")
