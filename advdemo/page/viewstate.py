"""The app's whole view as one frozen value, and its round trip through a URL.

A shared link carries every control. Reading a URL never raises: each
unknown, repeated, malformed or out-of-range parameter falls back to its
default and yields a notice for the page to show. URL values are only ever
compared with known options or parsed as numbers; none reaches the file
system (model files are named by hashes of validated configurations).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from advdemo.core.config import (
    FAST_RECIPE,
    GRID_MULTIPLIERS,
    MAX_EPOCHS,
    MAX_MULTIPLIER,
    MAX_TRAINING_PGD_ITERATIONS,
    NORM_SPECS,
    ROBUST_BATCH_SIZES,
    ROBUST_EPSILONS,
    TRAINING_SPECS,
    Attack,
    AttackMethod,
    ConfigError,
    EvalMode,
    HParams,
    Norm,
    StrongEval,
    TrainingAttack,
    default_of,
    robust_epochs,
    robust_hparams,
    robust_pgd_iterations,
)
from advdemo.i18n import LANG_PARAM, Language, Message, Verbatim, message, parse_language

#: Digits shown per grid, as in the tutorial's batch of 32.
GRID_SIZE = 32
TEST_SIZE = 10_000
MAX_BATCH = TEST_SIZE // GRID_SIZE - 1
#: The PGD slider reaches the strong evaluation's step count.
MAX_PGD_ITERATIONS = default_of(StrongEval, "iterations")
_MAX_SHOWN = 40  # characters of a bad value quoted back in a notice


@dataclass(frozen=True)
class ViewState:
    """Every control of the page. Defaults: the tutorial's configuration and attack."""

    # The defaults come from the configuration: the tutorial's model and attack.
    norm: Norm = default_of(HParams, "adv_grad_norm")  # training norm of the regularized model
    step: float = default_of(HParams, "adv_step_size")  # its adversarial step size
    multiplier: float = default_of(HParams, "adv_multiplier")  # its adversarial loss multiplier
    attack: AttackMethod = default_of(Attack, "method")
    attack_norm: Norm = default_of(Attack, "norm")
    strength: float = default_of(Attack, "strength")
    iterations: int = default_of(Attack, "pgd_iterations")  # PGD only
    mode: EvalMode = default_of(Attack, "mode")
    target: int | None = default_of(Attack, "target")  # a targeted attack's class (None: untargeted)
    batch: int = 0  # which 32 test digits
    digit: int | None = None  # show only this true class
    pick: int = 0  # the digit shown in detail, index into the grid
    #: How the regularized model was trained. FGSM uses ``norm``, ``step`` and
    #: ``multiplier``; the robust recipes use ``train_eps`` (L-infinity) and,
    #: for PGD, ``train_iters``, and ``train_epochs`` and ``train_batch`` (None: the recipe's for that epsilon).
    train_attack: TrainingAttack = TrainingAttack.FGSM
    train_eps: float = ROBUST_EPSILONS[-1]
    train_iters: int | None = None
    train_epochs: int | None = None
    train_batch: int | None = None

    def hparams(self, recipe: HParams = FAST_RECIPE) -> HParams:
        spec = TRAINING_SPECS[self.train_attack]
        if not spec.robust:
            return dataclasses.replace(recipe, adv_grad_norm=self.norm, adv_step_size=self.step,
                                       adv_multiplier=self.multiplier)
        iterations = self.train_iters if spec.iterative else None
        return robust_hparams(recipe, self.train_attack, self.train_eps, iterations=iterations,
                              epochs=self.train_epochs, batch=self.train_batch)

    def digit_indices(self, labels: np.ndarray) -> np.ndarray:
        """Which test digits the grids show: up to :data:`GRID_SIZE` indices into ``labels`` ``(N,)``.

        Batch ``batch`` of the test set, or of the digits of class ``digit``;
        a batch past the end wraps around.
        """
        pool = np.arange(len(labels)) if self.digit is None else np.flatnonzero(labels == self.digit)
        n_batches = max(1, len(pool) // GRID_SIZE)
        return pool[(self.batch % n_batches) * GRID_SIZE:][:GRID_SIZE]

    def to_attack(self) -> Attack:
        return Attack(method=self.attack, norm=self.attack_norm, strength=self.strength, mode=self.mode,
                      pgd_iterations=self.iterations, target=self.target)

    @property
    def on_grid(self) -> bool:
        """Whether the training configuration is one of the pretrained models'."""
        if TRAINING_SPECS[self.train_attack].robust:
            own = (self.train_iters, self.train_epochs, self.train_batch)
            return self.train_eps in ROBUST_EPSILONS and all(value is None for value in own)
        return self.step in NORM_SPECS[self.norm].grid_steps and self.multiplier in GRID_MULTIPLIERS


DEFAULT = ViewState()

# URL parameter names, short enough to keep links readable.
PARAMS = {
    "norm": "norm", "step": "step", "mult": "multiplier", "attack": "attack", "anorm": "attack_norm",
    "eps": "strength", "iters": "iterations", "mode": "mode", "batch": "batch", "digit": "digit", "pick": "pick",
    "target": "target",
    "tattack": "train_attack", "teps": "train_eps", "titers": "train_iters", "tepochs": "train_epochs",
    "tbatch": "train_batch",
}


# -- the page's widgets ---------------------------------------------------------
# Each widget's key is its URL parameter's name; "custom" (the "Custom values"
# checkbox) is the one widget without a parameter: a view on the grid snaps to it.
CUSTOM = "custom"
_ALL_DIGITS = "all"
#: The target widget's value for an untargeted attack.
UNTARGETED = "none"
#: The types of choices: widgets hold their ``.value``.
_CHOICES = (enum.Enum, AttackMethod)


def to_widgets(view: ViewState) -> dict[str, Any]:
    """The widget values that show ``view``: ``{widget key: value}``, enums as their values."""
    out: dict[str, Any] = {}
    for name, field in PARAMS.items():
        value = getattr(view, field)
        out[name] = value.value if isinstance(value, _CHOICES) else value
    out["digit"] = _ALL_DIGITS if view.digit is None else str(view.digit)
    out["target"] = UNTARGETED if view.target is None else str(view.target)
    out["titers"] = view.train_iters or robust_pgd_iterations(view.train_eps)
    out["tepochs"] = view.train_epochs or robust_epochs(view.train_attack, view.train_eps)
    out["tbatch"] = view.train_batch or FAST_RECIPE.batch_size
    out[CUSTOM] = not view.on_grid
    return out


def from_widgets(get: Callable[[str, Any], Any]) -> ViewState:
    """The view the widgets show, from ``get(key, default)`` (e.g. ``session_state.get``).

    A widget that was not drawn in the last run (PGD iterations under FGSM,
    say) has no value left, and counts as its default. PGD training steps
    and epochs count only for custom values (on the grid they are the recipe's).
    """
    fields: dict[str, Any] = {}
    for name, field in PARAMS.items():
        kind = type(getattr(DEFAULT, field))
        raw = get(name, WIDGET_DEFAULTS[name])
        if name == "digit":
            fields[field] = None if raw == _ALL_DIGITS else int(raw)
        elif name == "target":
            fields[field] = None if raw == UNTARGETED else int(raw)
        elif name in ("titers", "tepochs", "tbatch"):
            continue
        elif issubclass(kind, _CHOICES):
            fields[field] = kind(raw)
        elif kind is float:
            fields[field] = round(float(raw), 4)
        else:
            fields[field] = int(raw)
    method, epsilon, custom = fields["train_attack"], fields["train_eps"], get(CUSTOM, False)

    def custom_value(key: str, applies: bool, recipes: int) -> int | None:
        # The recipe's own value for the ball counts as None, so a link names only what differs.
        value = int(get(key, 0))
        return value if custom and applies and value and value != recipes else None

    fields["train_iters"] = custom_value("titers", TRAINING_SPECS[method].iterative, robust_pgd_iterations(epsilon))
    fields["train_epochs"] = custom_value("tepochs", TRAINING_SPECS[method].robust, robust_epochs(method, epsilon))
    fields["train_batch"] = custom_value("tbatch", TRAINING_SPECS[method].robust, FAST_RECIPE.batch_size)
    return ViewState(**fields)


#: Every widget key of the view and its default value (computed once: the page reads it on every rerun).
WIDGET_DEFAULTS: dict[str, Any] = to_widgets(DEFAULT)


def nearest_on_grid(view: ViewState) -> ViewState:
    """``view`` with its training values moved to the nearest pretrained ones.

    L1 has no grid: its step stays as it is.
    """
    steps = NORM_SPECS[view.norm].grid_steps
    step = min(steps, key=lambda s: abs(s - view.step)) if steps else view.step
    multiplier = min(GRID_MULTIPLIERS, key=lambda m: abs(m - view.multiplier))
    epsilon = min(ROBUST_EPSILONS, key=lambda e: abs(e - view.train_eps))
    return dataclasses.replace(view, step=step, multiplier=multiplier, train_eps=epsilon, train_iters=None,
                               train_epochs=None, train_batch=None)


def quote(raw: str) -> Verbatim:
    """A URL value as a notice quotes it: in quotes, cut short when long, marked as text from outside."""
    text = raw if len(raw) <= _MAX_SHOWN else raw[:_MAX_SHOWN] + "…"
    return Verbatim(repr(text))


def _number(raw: str) -> float:
    raw = raw.strip()
    if not raw.isascii():  # float() would accept e.g. Arabic-Indic or mathematical digits
        raise ValueError("not an ASCII number")
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def _whole(raw: str, low: int, high: int) -> int:
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise ValueError("not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"outside {low}..{high}")
    return value


def _batch(raw: str) -> int:
    value = _whole(raw, min(ROBUST_BATCH_SIZES), max(ROBUST_BATCH_SIZES))
    if value not in ROBUST_BATCH_SIZES:
        raise ValueError("not a batch size on offer")
    return value


def _choice(raw: str, enum_cls):
    return enum_cls(raw.strip().lower())


def parse_query(params: Mapping[str, str | Sequence[str]], *,
                snap: bool = False) -> tuple[ViewState, list[Message]]:
    """The view a URL's query parameters describe, and notices about what was ignored.

    ``params`` maps names to a value or a list of values (repeated
    parameters). The page's language (``lang``) is not part of the view: it is
    only checked here, for a notice when it names no language
    (:func:`advdemo.i18n.choose_language` reads it). With ``snap`` (a hosted
    server) an attack strength off the norm's standard strengths moves to the
    nearest one, with a notice, so a link cannot ask the server for work
    nobody else would share. Never raises.
    """
    notices: list[Message] = []
    values: dict[str, str] = {}
    for name, raw in params.items():
        if name == LANG_PARAM:
            given = str(raw if isinstance(raw, str) else ([*raw] or [""])[-1])
            if parse_language(given) is None:
                languages = message("url.one_of", choices=", ".join(lang.value for lang in Language))
                notices.append(message("url.invalid", name=name, value=quote(given), expected=languages))
            continue
        if name not in PARAMS:
            notices.append(message("url.unknown", name=quote(str(name))))
            continue
        if not isinstance(raw, str):
            raw = list(raw)
            if len(raw) != 1:
                notices.append(message("url.repeated", name=name, count=len(raw)))
                continue
            raw = raw[0]
        values[name] = str(raw)

    fields: dict[str, Any] = {}

    def take(name: str, parse, describe: Message) -> None:
        if name not in values:
            return
        try:
            fields[PARAMS[name]] = parse(values[name])
        except (ValueError, ConfigError, OverflowError):
            notices.append(message("url.invalid", name=name, value=quote(values[name]), expected=describe))

    norms = message("url.one_of", choices=", ".join(n.value for n in Norm))
    take("norm", lambda r: _choice(r, Norm), norms)
    norm = fields.get("norm", DEFAULT.norm)
    take("step", lambda r: _checked_step(norm, _number(r)),
         message("url.step", maximum=NORM_SPECS[norm].max_step, norm=norm.value))
    take("mult", lambda r: _checked_multiplier(_number(r)), message("url.multiplier", maximum=MAX_MULTIPLIER))
    take("attack", lambda r: _choice(r, AttackMethod),
         message("url.one_of", choices=", ".join(m.value for m in AttackMethod)))
    take("anorm", lambda r: _choice(r, Norm), norms)
    attack_norm = fields.get("attack_norm", DEFAULT.attack_norm)
    take("eps", lambda r: _checked_strength(attack_norm, _number(r)),
         message("url.strength", maximum=NORM_SPECS[attack_norm].max_step, norm=attack_norm.value))
    take("iters", lambda r: _whole(r, 1, MAX_PGD_ITERATIONS), message("url.whole", low=1, high=MAX_PGD_ITERATIONS))
    take("mode", lambda r: _choice(r, EvalMode), message("url.one_of", choices=", ".join(m.value for m in EvalMode)))
    take("batch", lambda r: _whole(r, 0, MAX_BATCH), message("url.whole", low=0, high=MAX_BATCH))
    take("digit", lambda r: _whole(r, 0, 9), message("url.digit"))
    take("target", lambda r: _whole(r, 0, 9), message("url.digit"))
    take("pick", lambda r: _whole(r, 0, GRID_SIZE - 1), message("url.whole", low=0, high=GRID_SIZE - 1))
    take("tattack", lambda r: _choice(r, TrainingAttack),
         message("url.one_of", choices=", ".join(t.value for t in TrainingAttack)))
    take("teps", lambda r: _checked_strength(Norm.INFINITY, _number(r), positive=True),
         message("url.epsilon", maximum=NORM_SPECS[Norm.INFINITY].max_step))
    take("titers", lambda r: _whole(r, 2, MAX_TRAINING_PGD_ITERATIONS),
         message("url.whole", low=2, high=MAX_TRAINING_PGD_ITERATIONS))
    take("tepochs", lambda r: _whole(r, 1, MAX_EPOCHS), message("url.whole", low=1, high=MAX_EPOCHS))
    take("tbatch", _batch, message("url.one_of", choices=", ".join(map(str, ROBUST_BATCH_SIZES))))

    # Values that are fine alone can still clash: the step belongs to the norm.
    if "norm" in fields and "step" not in fields:
        fields["step"] = NORM_SPECS[fields["norm"]].default_step
    if "attack_norm" in fields and "strength" not in fields:
        fields["strength"] = NORM_SPECS[fields["attack_norm"]].default_step
    method = fields.get("attack")
    if method is not None and method not in AttackMethod.for_norm(attack_norm):
        notices.append(message("url.method_norm", method=message(f"attack_method.{method.value}"),
                               norm=attack_norm.value, fallback=message(f"attack_method.{DEFAULT.attack.value}")))
        fields["attack"] = DEFAULT.attack
    standard = NORM_SPECS[attack_norm].strengths
    if snap and "strength" in fields and fields["strength"] not in standard:
        nearest = min(standard, key=lambda s: (abs(s - fields["strength"]), s))
        notices.append(message("url.snapped", asked=fields["strength"], strength=nearest))
        fields["strength"] = nearest
    return ViewState(**fields), notices


def _checked_step(norm: Norm, value: float) -> float:
    HParams(adv_grad_norm=norm, adv_step_size=value)
    return value


def _checked_multiplier(value: float) -> float:
    HParams(adv_multiplier=value)
    return value


def _checked_strength(norm: Norm, value: float, *, positive: bool = False) -> float:
    Attack(norm=norm, strength=value)
    if positive and value <= 0:
        raise ValueError("not positive")
    return value


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(getattr(value, "value", value))


def to_query(state: ViewState) -> dict[str, str]:
    """The query parameters that describe ``state``: only those that differ from the defaults."""
    out = {}
    for name, field in PARAMS.items():
        value = getattr(state, field)
        if value != getattr(DEFAULT, field):
            out[name] = _format(value)
    # A norm change implies its own default step; say the step explicitly anyway.
    if state.norm is not DEFAULT.norm:
        out["step"] = _format(state.step)
    if state.attack_norm is not DEFAULT.attack_norm:
        out["eps"] = _format(state.strength)
    return out
