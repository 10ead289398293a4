"""The targeted attack ("make the model see a 3"): exact on a linear model, in the URL, the CLI and the page."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import linear_model

from advdemo.core.config import Attack, AttackMethod, ConfigError, from_dict, to_dict
from advdemo.core.evaluation import evaluate, predict
from advdemo.core.results import Evaluation, PairAccuracy
from advdemo.i18n import english
from advdemo.page.viewstate import ViewState, parse_query, to_query


def test_a_target_is_a_class_and_keyed_only_when_set():
    assert "target" not in to_dict(Attack())  # every untargeted measurement keeps the key it was stored under
    assert to_dict(Attack(target=3))["target"] == 3 and from_dict(Attack, to_dict(Attack(target=3))).target == 3
    for bad in (-1, 10, 2.5, True):
        with pytest.raises(ConfigError, match="target"):
            Attack(target=bad)
    assert Attack().shares_direction and not Attack(target=3).shares_direction


def test_hits_are_the_share_of_other_classes_read_as_the_target(rng):
    images, labels = rng.random((60, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, 60)
    base, reg = linear_model(rng.normal(size=(784, 10))), linear_model(rng.normal(size=(784, 10)))
    attack = Attack(strength=0.3, target=4)
    ev = evaluate(base, reg, images, labels, attack)
    from advdemo.core.attacks import perturb

    others = labels != 4
    expected = [float(np.mean(predict(m, perturb(base, images, labels, attack))[others] == 4)) for m in (base, reg)]
    assert ev.hits == PairAccuracy(*expected)  # transfer mode: both models see the base model's examples
    assert Evaluation.from_json(ev.to_json()) == ev
    assert evaluate(base, reg, images, labels, Attack(strength=0.3)).hits is None


def test_the_target_is_in_the_url_and_the_cli():
    from advdemo.cli.commands import attack_from_args, build_parser
    from advdemo.core.config import FAST_RECIPE

    view, notices = parse_query({"target": "3", "attack": "pgd"})
    assert (view.target, view.attack, notices) == (3, AttackMethod.PGD, [])
    assert view.to_attack().target == 3 and to_query(view) == {"target": "3", "attack": "pgd"}
    assert parse_query({"target": "12"})[0].target is None  # out of range: the default, with a notice
    args = build_parser().parse_args(["evaluate", "--target", "3"])
    assert attack_from_args(args, FAST_RECIPE).target == 3
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--target", "11"])


def test_the_figures_show_the_share_read_as_the_target():
    from advdemo.page.presentation import accuracy_caption, accuracy_figures

    view = ViewState(target=3)
    ev = Evaluation(PairAccuracy(0.99, 0.99), PairAccuracy(0.4, 0.9), 10_000, PairAccuracy(0.55, 0.02))
    figures = accuracy_figures(english(), ev, view)
    assert [label for label, _, _ in figures] == ["Base, clean", "Base, FGSM ε 0.2 → 3", "Regularized, clean",
                                                  "Regularized, FGSM ε 0.2 → 3"]
    assert [value for _, value, _ in figures] == ["99.0%", "55.0%", "99.0%", "2.0%"]
    assert "read as a 3" in accuracy_caption(english(), ev, view)


def test_the_own_digit_search_finds_where_a_model_reads_the_target(rng):
    from advdemo.serving.own_digit import smallest_flip

    image = rng.random((28, 28, 1)).astype(np.float32)
    model = linear_model(rng.normal(size=(784, 10)))
    first = int(predict(model, image[np.newaxis])[0])
    already = smallest_flip(model, model, image, (first + 1) % 10, Attack(target=first))
    assert (already.strength, already.target) == (0.0, first)  # it reads the target before any attack
    from advdemo.core.attacks import perturb

    other = (first + 5) % 10
    found = smallest_flip(model, model, image, first, Attack(target=other))
    assert found.target == other and found.searched_to == 0.45 and found.strength is not None

    def reads(strength: float) -> int:
        attacked = perturb(model, image[np.newaxis], np.array([first]), Attack(strength=strength, target=other))
        return int(predict(model, attacked)[0])

    assert reads(found.strength) == other  # where the search says the model reads the target, it does
    if found.strength > found.resolution:
        assert reads(round(found.strength - found.resolution, 6)) != other  # and one step earlier it does not
