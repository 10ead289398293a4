import dataclasses
import json

import pytest

from advdemo.core.config import (
    FAST_RECIPE,
    NORM_SPECS,
    TUTORIAL,
    Attack,
    AttackMethod,
    ConfigError,
    EvalMode,
    HParams,
    Norm,
    from_dict,
    to_dict,
)


def test_defaults_are_the_tutorials_hparams():
    hp = HParams()
    assert hp.input_shape == (28, 28, 1) and hp.num_classes == 10
    assert hp.conv_filters == (32, 64, 64) and hp.kernel_size == (3, 3) and hp.pool_size == (2, 2)
    assert hp.num_fc_units == (64,) and hp.batch_size == 32 and hp.epochs == 5
    assert (hp.adv_multiplier, hp.adv_step_size, hp.adv_grad_norm) == (0.2, 0.2, Norm.INFINITY)


def test_frozen_and_changed_only_through_replace():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TUTORIAL.epochs = 3  # type: ignore[misc]
    changed = dataclasses.replace(TUTORIAL, adv_grad_norm="l2", adv_step_size=2.0)
    assert changed.adv_grad_norm is Norm.L2 and TUTORIAL.adv_grad_norm is Norm.INFINITY


@pytest.mark.parametrize("norm", list(Norm))
def test_each_norm_has_its_own_step_range(norm):
    spec = NORM_SPECS[norm]
    HParams(adv_grad_norm=norm, adv_step_size=spec.max_step)
    with pytest.raises(ConfigError, match=rf"adv_step_size=.*norm '{norm.value}'.*\(0, {spec.max_step:g}\]"):
        HParams(adv_grad_norm=norm, adv_step_size=spec.max_step * 1.01)


def test_l2_accepts_steps_that_would_be_absurd_for_linf():
    HParams(adv_grad_norm=Norm.L2, adv_step_size=3.0)
    with pytest.raises(ConfigError, match="adv_step_size=3.0"):
        HParams(adv_grad_norm=Norm.INFINITY, adv_step_size=3.0)


@pytest.mark.parametrize("field,value,message", [
    ("adv_step_size", 0.0, "adv_step_size=0.0"),
    ("adv_step_size", float("nan"), "adv_step_size=nan"),
    ("adv_multiplier", -1.0, r"adv_multiplier=-1.0 is out of range: valid range is \(0, 10\]"),
    ("batch_size", 0, r"batch_size=0 .*\[1, 8192\]"),
    ("epochs", 2.5, "epochs=2.5"),
    ("epochs", True, "epochs=True"),
    ("learning_rate", 5.0, "learning_rate=5.0"),
    ("adv_grad_norm", "l3", "adv_grad_norm='l3' is invalid: expected one of 'infinity', 'l2', 'l1'"),
    ("conv_filters", (), "conv_filters"),
])
def test_invalid_values_name_the_field_and_range(field, value, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(TUTORIAL, **{field: value})


def test_attack_validation():
    assert Attack().strength == 0.2 and Attack().mode is EvalMode.TRANSFER
    Attack(strength=0.0)  # no attack is allowed
    with pytest.raises(ConfigError, match="strength=0.6 is out of range for norm 'infinity'"):
        Attack(strength=0.6)
    with pytest.raises(ConfigError, match="method='pgd' is not available for norm 'l1'"):
        Attack(method=AttackMethod.PGD, norm=Norm.L1, strength=0.5)
    with pytest.raises(ConfigError, match="pgd_iterations=0"):
        Attack(method="pgd", pgd_iterations=0)
    pgd = Attack(method="pgd", strength=0.2, pgd_iterations=10)
    assert pgd.step_per_iteration == pytest.approx(0.05) and pgd.iterations == 10
    assert Attack().step_per_iteration == 0.2 and Attack().iterations == 1


@pytest.mark.parametrize("config", [TUTORIAL, FAST_RECIPE, HParams(adv_grad_norm=Norm.L1, adv_step_size=0.5),
                                    Attack(), Attack(method="pgd", norm="l2", strength=1.5, mode="white-box")])
def test_round_trips_through_json(config):
    data = json.loads(json.dumps(to_dict(config)))
    assert from_dict(type(config), data) == config


def test_from_dict_rejects_unknown_and_mistyped_fields():
    with pytest.raises(ConfigError, match="unknown HParams field"):
        from_dict(HParams, {"epochz": 3})
    with pytest.raises(ConfigError, match="batch_size"):
        from_dict(HParams, {"batch_size": "32"})


def test_model_keys_separate_base_and_adv_settings():
    other_adv = dataclasses.replace(TUTORIAL, adv_multiplier=0.5)
    assert other_adv.base_key() == TUTORIAL.base_key()
    assert other_adv.adv_key() != TUTORIAL.adv_key()
    assert dataclasses.replace(TUTORIAL, seed=1).base_key() != TUTORIAL.base_key()
