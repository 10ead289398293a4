"""URL state: round trips, and every kind of bad value yields a notice and the default."""

import dataclasses
import itertools
import sys

import pytest

from advdemo.core.config import (
    FAST_RECIPE,
    GRID_MULTIPLIERS,
    NORM_SPECS,
    ROBUST_EPSILONS,
    AttackMethod,
    EvalMode,
    Norm,
    TrainingAttack,
    robust_hparams,
)
from advdemo.i18n import Language, catalogue
from advdemo.page.viewstate import DEFAULT, PARAMS, ViewState, parse_query, to_query
from advdemo.store.storage import model_id


def test_empty_url_is_the_tutorials_view():
    assert parse_query({}) == (DEFAULT, [])
    assert to_query(DEFAULT) == {}
    assert DEFAULT.hparams().adv_grad_norm is Norm.INFINITY and DEFAULT.to_attack().strength == 0.2


VIEWS = [
    ViewState(norm=norm, step=step, multiplier=mult)
    for norm in (Norm.INFINITY, Norm.L2) for step in NORM_SPECS[norm].grid_steps[::2] for mult in GRID_MULTIPLIERS[::2]
] + [
    ViewState(norm=Norm.L1, step=0.35, multiplier=3.25, attack=AttackMethod.FGSM, attack_norm=Norm.L1, strength=0.7),
    ViewState(attack=AttackMethod.PGD, attack_norm=Norm.L2, strength=1.5, iterations=7, mode=EvalMode.WHITEBOX),
    ViewState(batch=311, digit=0, pick=31),
    ViewState(norm=Norm.L2, step=2.0),  # a norm whose default step is the step
    ViewState(train_attack=TrainingAttack.PGD, train_eps=0.2),
    ViewState(train_attack=TrainingAttack.PGD, train_eps=0.25, train_iters=12, attack=AttackMethod.PGD),
    ViewState(train_attack=TrainingAttack.FGSM_RS, train_eps=0.1, mode=EvalMode.WHITEBOX),
    ViewState(train_attack=TrainingAttack.PGD, train_eps=0.3, train_iters=5, train_epochs=6),
    ViewState(train_attack=TrainingAttack.FGSM_RS, train_eps=0.3, train_epochs=3),
    ViewState(train_attack=TrainingAttack.PGD, train_eps=0.3, train_iters=3, train_epochs=5, train_batch=256),
]


@pytest.mark.parametrize("view", VIEWS)
def test_round_trip(view):
    query = to_query(view)
    assert all(isinstance(v, str) for v in query.values())
    assert parse_query(query) == (view, [])
    assert parse_query({k: [v] for k, v in query.items()}) == (view, [])  # the list form Streamlit gives


BAD_VALUES = [
    "", " ", "abc", "nan", "NaN", "inf", "-inf", "-1", "1e309", "1e99", "99999999999999999999",
    "0x10", "½", "٣", "𝟘.𝟚", "Ω", "l∞", "0.2; DROP TABLE models", "<script>alert(1)</script>",
    "{{7*7}}", "${HOME}", "../../../etc/passwd", "/etc/passwd", "..\\..\\boot.ini", "file:///etc/passwd",
    "%00", "\x00", "\n", "A" * 10_000, "0.2" * 50, "[1,2]", "true", "None", "null",
]
CASES = list(itertools.product(PARAMS, BAD_VALUES))  # none of the values is valid anywhere


def test_there_are_hundreds_of_cases():
    assert len(CASES) >= 200


@pytest.mark.parametrize("name,value", CASES)
def test_bad_value_gives_notice_and_default(name, value):
    view, notices = parse_query({name: value})
    field = PARAMS[name]
    assert len(notices) == 1 and f"URL value {name}=" in str(notices[0]), notices
    assert getattr(view, field) == getattr(DEFAULT, field)
    assert len(str(notices[0])) < 300  # a huge value is quoted back shortened
    view.hparams()
    view.to_attack()  # the fallback view is always valid


@pytest.mark.parametrize("values", [["0.1", "0.2"], [], ["l2", "l2", "l2"]])
def test_repeated_parameters(values):
    view, notices = parse_query({"norm": values})
    assert view == DEFAULT and "given" in str(notices[0])


@pytest.mark.parametrize("query,expected", [
    ({"norm": "l2", "step": "0.9"}, ViewState(norm=Norm.L2, step=0.9)),  # an L2 step far below L-inf's
    ({"norm": "l2", "step": "5"}, ViewState(norm=Norm.L2, step=5.0)),
    ({"norm": "infinity", "step": "5"}, ViewState()),  # L-inf 5 is out of range
    ({"norm": "l2"}, ViewState(norm=Norm.L2, step=NORM_SPECS[Norm.L2].default_step)),
    ({"anorm": "l1", "attack": "pgd"}, ViewState(attack_norm=Norm.L1, strength=1.0)),  # no L1 PGD
])
def test_values_are_checked_against_each_other(query, expected):
    assert parse_query(query)[0] == expected


def test_unknown_parameters_are_reported():
    view, notices = parse_query({"x": "1", "__proto__": "y", "norm": "l2"})
    assert view.norm is Norm.L2 and len(notices) == 2 and "unknown URL parameter 'x'" in str(notices[0])


def test_url_values_never_reach_the_file_system():
    """Every file the app could open is named by a hash of a validated configuration."""
    opened = []
    marker = "evil-marker"

    def hook(event, args):
        if event in {"open", "os.listdir", "os.scandir", "os.remove", "os.rename"} and marker in str(args):
            opened.append((event, args))

    sys.addaudithook(hook)
    for name in PARAMS:
        view, _ = parse_query({name: f"../../{marker}", "norm": f"/tmp/{marker}"})
        for kind in ("base", "adv"):
            assert marker not in model_id(view.hparams(), kind)
    assert opened == []


def test_robust_views_name_the_robust_models():
    view = ViewState(train_attack=TrainingAttack.PGD, train_eps=0.2)
    assert view.on_grid and view.hparams() == robust_hparams(FAST_RECIPE, TrainingAttack.PGD, 0.2)
    assert view.hparams().adv_pgd_iterations > 1 and view.hparams().adv_grad_norm is Norm.INFINITY
    assert not ViewState(train_attack=TrainingAttack.PGD, train_eps=0.25).on_grid
    assert not ViewState(train_attack=TrainingAttack.PGD, train_eps=ROBUST_EPSILONS[0], train_iters=3).on_grid
    fewer = ViewState(train_attack=TrainingAttack.PGD, train_eps=0.2, train_epochs=2)
    assert not fewer.on_grid and fewer.hparams() == dataclasses.replace(view.hparams(), adv_epochs=2)
    larger = ViewState(train_attack=TrainingAttack.PGD, train_eps=0.2, train_batch=256)
    # The regularized model's own batch, the learning rate scaled with it; the base model stays shared.
    assert not larger.on_grid and (larger.hparams().batch(True), larger.hparams().rate(True)) == (256, 0.004)
    assert model_id(larger.hparams(), "base") == model_id(view.hparams(), "base")
    # The FGSM fields do not matter for a robust model, and the robust ones not for FGSM.
    assert ViewState(train_attack=TrainingAttack.PGD, train_eps=0.2, step=0.1).hparams() == view.hparams()
    assert ViewState(train_eps=0.1).hparams() == DEFAULT.hparams()
    assert model_id(view.hparams(), "base") == model_id(DEFAULT.hparams(), "base")


@pytest.mark.parametrize("query,notice", [
    ({"tattack": "madry"}, "tattack='madry' is not one of fgsm, fgsm-rs, pgd"),
    ({"teps": "0"}, "teps='0' is not an epsilon in (0, 0.5]"),
    ({"teps": "0.7"}, "teps='0.7' is not an epsilon"),
    ({"titers": "1"}, "titers='1' is not a whole number in 2..40"),
    ({"tepochs": "0"}, "tepochs='0' is not a whole number in 1..100"),
    ({"tbatch": "200"}, "tbatch='200' is not one of 64, 128, 256, 512"),
])
def test_bad_training_attack_values(query, notice):
    view, notices = parse_query(query)
    assert view == DEFAULT and len(notices) == 1 and notice in str(notices[0])


def test_the_language_is_not_part_of_the_view():
    view, notices = parse_query({"lang": "zh", "norm": "l2"})
    assert view.norm is Norm.L2 and notices == []
    assert "lang" not in to_query(view)


def test_notices_read_in_chinese():
    _, notices = parse_query({"iters": "999"})
    assert catalogue(Language.ZH)(notices[0]) == "网址中的值 iters='999' 不是 1..40 范围内的整数；使用默认值。"


def test_a_language_that_is_none_gives_a_notice():
    view, notices = parse_query({"lang": ["klingon"]})
    assert view == DEFAULT and [str(n) for n in notices] == [
        "The URL value lang='klingon' is not one of en, zh; using the default."]


@pytest.mark.parametrize("query,strength", [
    ({"eps": "0.13"}, 0.15), ({"eps": "0.125"}, 0.1), ({"eps": "0.5"}, 0.45), ({"anorm": "l2", "eps": "1.2"}, 1.0),
])
def test_a_hosted_server_snaps_an_off_grid_strength_with_a_notice(query, strength):
    view, notices = parse_query(query, snap=True)
    assert view.strength == strength and [n.key for n in notices] == ["url.snapped"]
    assert f"became ε {strength:g}" in str(notices[0])
    local, none = parse_query(query)  # a local server measures any strength
    assert local.strength == float(query["eps"]) and not none


def test_standard_strengths_are_never_snapped():
    for norm, spec in NORM_SPECS.items():
        for s in spec.strengths:
            view, notices = parse_query({"anorm": norm.value, "eps": f"{s:g}"}, snap=True)
            assert view.strength == s and not notices


@pytest.mark.parametrize("train_attack", list(TrainingAttack))
@pytest.mark.parametrize("attack", list(AttackMethod))
def test_every_registered_method_round_trips_through_the_widgets_and_the_url(attack, train_attack):
    from advdemo.page.viewstate import from_widgets, to_widgets

    view = ViewState(attack=attack, train_attack=train_attack)
    widgets = to_widgets(view)
    assert from_widgets(lambda key, default: widgets.get(key, default)) == view
    assert parse_query(to_query(view)) == (view, [])
