"""Typed, frozen configuration: the tutorial's HParams and the evaluation attack.

Nothing here imports TensorFlow, so the CLI can validate arguments and the app
can parse URLs without paying TensorFlow's start-up time.

Changing a value always goes through :func:`dataclasses.replace`, which re-runs
validation::

    cfg = dataclasses.replace(HParams(), adv_grad_norm=Norm.L2, adv_step_size=2.0)
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from advdemo.core.attack_methods import AttackMethod
from advdemo.core.norms import Norm


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and its valid range."""


class TrainingAttack(str, enum.Enum):
    """How the regularized model's adversarial neighbours are made during training.

    FGSM is the tutorial's single gradient step from the clean digit.
    FGSM_RS (Wong, Rice & Kolter 2020) takes that step from a random point of
    the epsilon ball; PGD (Madry et al. 2018) takes several projected steps.
    All three are NSL's own ``AdvNeighborConfig``; see :class:`HParams`.
    """

    FGSM = "fgsm"
    FGSM_RS = "fgsm-rs"
    PGD = "pgd"


class AdversarialLoss(str, enum.Enum):
    """What a training neighbour is scored against, by NSL's PGD and in the adversarial term of the loss.

    LABELS is NSL's own: cross-entropy against the true label (Madry et al.). CLEAN_PREDICTION is
    TRADES-like (Zhang et al. 2019): the KL divergence from the model's prediction on the clean digit
    (:mod:`advdemo.core.clean_prediction_loss`).
    """

    LABELS = "labels"
    CLEAN_PREDICTION = "clean-prediction"


class ModelKind(str, enum.Enum):
    """The two models of a pair.

    The regularized model's value stays ``"adv"``: it names the model files
    and manifest entries (``adv-<hash>``) of every store already written.
    In code it is always ``REGULARIZED``, because in this field "adv" means
    an adversarial *example*.
    """

    BASE = "base"
    REGULARIZED = "adv"


class EvalMode(str, enum.Enum):
    """How adversarial examples are crafted for evaluation.

    TRANSFER is the tutorial's: examples are crafted against the *base* model
    and fed to both models. WHITEBOX attacks each model through its own
    gradients. That should be the harder test; a model that does better
    against its own gradient is masking it (:mod:`advdemo.core.robustness`).
    """

    TRANSFER = "transfer"
    WHITEBOX = "white-box"


@dataclass(frozen=True)
class NormSpec:
    """What step sizes mean for one norm.

    Step sizes are not comparable across norms: an L-inf step of 0.2 moves every
    pixel by 0.2, an L2 step of 0.2 is spread over all 784 pixels (0.007 each
    if spread evenly), and NSL's L1 step moves only the pixel(s) with the
    largest gradient. Each norm therefore has its own range and defaults.
    """

    max_step: float
    default_step: float
    #: The app's standard attack strengths; the robustness curve uses them.
    strengths: tuple[float, ...]
    #: Training step sizes of the pretrained grid (empty: on-demand only).
    grid_steps: tuple[float, ...]
    #: The norm's short name in every language (``L∞``): a symbol, not a word.
    symbol: str
    supports_pgd: bool = True


NORM_SPECS: dict[Norm, NormSpec] = {
    Norm.INFINITY: NormSpec(
        max_step=0.5,
        default_step=0.2,
        strengths=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45),
        grid_steps=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
        symbol="L∞",
    ),
    Norm.L2: NormSpec(
        max_step=10.0,
        default_step=2.0,
        strengths=(0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5),
        grid_steps=(0.5, 1.0, 1.5, 2.0, 2.5, 3.0),
        symbol="L2",
    ),
    Norm.L1: NormSpec(
        # With pixels clipped to [0, 1], moving one pixel by more than 1 does nothing.
        max_step=1.0,
        default_step=1.0,
        strengths=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
        grid_steps=(),
        symbol="L1",
        # NSL can only project onto L-inf and L2 balls.
        supports_pgd=False,
    ),
}

#: Adversarial loss multipliers of the pretrained grid.
GRID_MULTIPLIERS: tuple[float, ...] = (0.05, 0.2, 0.5, 1.0)
MAX_MULTIPLIER = 10.0
#: Most PGD steps per training batch; each costs a forward and backward pass.
MAX_TRAINING_PGD_ITERATIONS = 40
#: Most epochs of either model.
MAX_EPOCHS = 100
#: Fields added after the grid was built. They enter a model's id only when
#: they differ from their defaults, so every model trained before they existed
#: keeps its id and file name.
_KEYED_WHEN_CHANGED = ("adv_pgd_iterations", "adv_epsilon", "adv_random_init", "adv_clip", "adv_epochs",
                       "adv_cosine_decay", "adv_ema", "adv_batch_size", "adv_learning_rate", "adv_loss",
                       "adv_epsilon_ramp")


def _check_range(name: str, value: float, low: float, high: float, *, low_open: bool = False) -> None:
    ok = (low < value if low_open else low <= value) and value <= high
    if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
        bracket = "(" if low_open else "["
        raise ConfigError(f"{name}={value!r} is out of range: valid range is {bracket}{low:g}, {high:g}]")


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name}={value!r} is invalid: expected a whole number in [{low}, {high}]")


def _check_positive_ints(name: str, values: tuple[int, ...], high: int) -> None:
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= high for v in values):
        raise ConfigError(f"{name}={values!r} is invalid: expected whole numbers in [1, {high}]")


def check_step(name: str, norm: Norm, value: float, *, allow_zero: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a valid step for ``norm``."""
    spec = NORM_SPECS[norm]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not (
        (0.0 <= value if allow_zero else 0.0 < value) and value <= spec.max_step
    ):
        bracket = "[" if allow_zero else "("
        raise ConfigError(
            f"{name}={value!r} is out of range for norm '{norm.value}': "
            f"valid range is {bracket}0, {spec.max_step:g}]"
        )


def _as_enum(enum_cls: type[enum.Enum] | type[AttackMethod], name: str, value: Any) -> Any:
    try:
        return enum_cls(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in enum_cls)
        raise ConfigError(f"{name}={value!r} is invalid: expected one of {choices}") from None


@dataclass(frozen=True)
class HParams:
    """The tutorial's hyperparameters plus the training recipe.

    The defaults are exactly the tutorial's ``HParams``; :data:`FAST_RECIPE`
    is the project's faster recipe that reaches the same quality.
    """

    input_shape: tuple[int, int, int] = (28, 28, 1)
    num_classes: int = 10
    conv_filters: tuple[int, ...] = (32, 64, 64)
    kernel_size: tuple[int, int] = (3, 3)
    pool_size: tuple[int, int] = (2, 2)
    num_fc_units: tuple[int, ...] = (64,)
    batch_size: int = 32
    epochs: int = 5
    adv_multiplier: float = 0.2
    adv_step_size: float = NORM_SPECS[Norm.INFINITY].default_step
    adv_grad_norm: Norm = Norm.INFINITY
    #: Adam's learning rate; the tutorial uses Keras' default, 0.001.
    learning_rate: float = 0.001
    seed: int = 0
    #: Train on the first N training examples only (None: all of them).
    train_examples: int | None = None
    # The training attack (NSL's ``pgd_iterations``, ``pgd_epsilon``,
    # ``random_init``, ``clip_value_min/max``). The defaults are the tutorial's
    # FGSM: one step of ``adv_step_size`` from the clean digit, no projection.
    #: Gradient steps per adversarial neighbour (1: FGSM).
    adv_pgd_iterations: int = 1
    #: Radius of the ball the neighbour is projected onto (None: no projection).
    adv_epsilon: float | None = None
    #: Start from a uniformly random point of the epsilon ball.
    adv_random_init: bool = False
    #: Clip neighbours to the valid pixel range [0, 1].
    adv_clip: bool = False
    #: Epochs of the regularized model (None: ``epochs``). Robust training
    #: needs more than the base model, which stays shared with the grid.
    adv_epochs: int | None = None
    #: Let the regularized model's learning rate fall to 0 along a cosine.
    adv_cosine_decay: bool = False
    #: Keep an exponential moving average of the regularized model's weights with this momentum
    #: (e.g. 0.999) and ship the average (None: the last weights).
    adv_ema: float | None = None
    #: The regularized model's own batch size and Adam learning rate (None: ``batch_size``, ``learning_rate``).
    #: A larger batch trains a robust model faster per digit on a CPU; the base model stays shared.
    adv_batch_size: int | None = None
    adv_learning_rate: float | None = None
    #: What the neighbours are scored against (:class:`AdversarialLoss`); ``adv_multiplier`` weighs the term.
    adv_loss: AdversarialLoss = AdversarialLoss.LABELS
    #: Let the training ball grow over the first N epochs, ``adv_epsilon`` × (epoch / N) with the step in
    #: proportion, then stay at ``adv_epsilon`` (None: the whole ball from the first epoch).
    adv_epsilon_ramp: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "adv_grad_norm", _as_enum(Norm, "adv_grad_norm", self.adv_grad_norm))
        object.__setattr__(self, "adv_loss", _as_enum(AdversarialLoss, "adv_loss", self.adv_loss))
        for name in ("input_shape", "conv_filters", "kernel_size", "pool_size", "num_fc_units"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.input_shape) != 3:
            raise ConfigError(f"input_shape={self.input_shape!r} is invalid: expected (height, width, channels)")
        _check_positive_ints("input_shape", self.input_shape, 4096)
        _check_int("num_classes", self.num_classes, 2, 1000)
        _check_positive_ints("conv_filters", self.conv_filters, 4096)
        _check_positive_ints("kernel_size", self.kernel_size, 64)
        _check_positive_ints("pool_size", self.pool_size, 64)
        _check_positive_ints("num_fc_units", self.num_fc_units, 65536)
        _check_int("batch_size", self.batch_size, 1, 8192)
        _check_int("epochs", self.epochs, 1, MAX_EPOCHS)
        _check_int("seed", self.seed, 0, 2**31 - 1)
        if self.train_examples is not None:
            _check_int("train_examples", self.train_examples, 1, 10**7)
        _check_range("adv_multiplier", self.adv_multiplier, 0.0, MAX_MULTIPLIER, low_open=True)
        _check_range("learning_rate", self.learning_rate, 0.0, 1.0, low_open=True)
        check_step("adv_step_size", self.adv_grad_norm, self.adv_step_size)
        _check_int("adv_pgd_iterations", self.adv_pgd_iterations, 1, MAX_TRAINING_PGD_ITERATIONS)
        if self.adv_epochs is not None:
            _check_int("adv_epochs", self.adv_epochs, 1, MAX_EPOCHS)
        if self.adv_ema is not None:
            _check_range("adv_ema", self.adv_ema, 0.0, 1.0, low_open=True)
        if self.adv_batch_size is not None:
            _check_int("adv_batch_size", self.adv_batch_size, 1, 8192)
        if self.adv_learning_rate is not None:
            _check_range("adv_learning_rate", self.adv_learning_rate, 0.0, 1.0, low_open=True)
        for name in ("adv_random_init", "adv_clip", "adv_cosine_decay"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}={getattr(self, name)!r} is invalid: expected true or false")
        if self.adv_epsilon is not None:
            if not NORM_SPECS[self.adv_grad_norm].supports_pgd:
                raise ConfigError(f"adv_epsilon is not available for norm '{self.adv_grad_norm.value}': "
                                  "NSL projects only onto infinity and l2 balls")
            check_step("adv_epsilon", self.adv_grad_norm, self.adv_epsilon)
        elif self.adv_pgd_iterations > 1 or self.adv_random_init:
            raise ConfigError("adv_epsilon is required when adv_pgd_iterations > 1 or adv_random_init is set: "
                              "PGD and random starts need the ball to project onto")
        if self.adv_epsilon_ramp is not None:
            _check_int("adv_epsilon_ramp", self.adv_epsilon_ramp, 1, self.adv_total_epochs)
            if self.adv_epsilon is None:
                raise ConfigError("adv_epsilon_ramp needs adv_epsilon: the ramp grows the ball the attack "
                                  "projects onto")
            if self.adv_ema is not None:
                raise ConfigError("adv_epsilon_ramp and adv_ema do not combine: the ramp trains in one Keras fit per "
                                  "phase, and Keras swaps the weight average in at the end of every fit")
        if self.adv_loss is AdversarialLoss.CLEAN_PREDICTION and not self.adv_random_init:
            raise ConfigError("adv_loss='clean-prediction' needs adv_random_init: at the clean digit the distance "
                              "from its own prediction is 0 and has no gradient, so the attack must start elsewhere")

    @property
    def training_attack(self) -> TrainingAttack:
        """Which of the three training attacks these fields describe."""
        if self.adv_pgd_iterations > 1:
            return TrainingAttack.PGD
        return TrainingAttack.FGSM_RS if self.adv_random_init else TrainingAttack.FGSM

    @property
    def adv_total_epochs(self) -> int:
        """Epochs the regularized model trains for."""
        return self.epochs if self.adv_epochs is None else self.adv_epochs

    def epsilon_phases(self) -> list[tuple[int, int, HParams]]:
        """The regularized model's training in phases of one training attack each, ``(first epoch, end epoch,
        hparams)`` with epochs counted from 0 and the end excluded: one phase, or one per epoch of the ε ramp
        (:attr:`adv_epsilon_ramp`) and then the rest at the full ε."""
        ramp, total = self.adv_epsilon_ramp, self.adv_total_epochs
        if ramp is None or self.adv_epsilon is None:
            return [(0, total, self)]
        phases = []
        for epoch in range(ramp):
            share = (epoch + 1) / ramp
            phases.append((epoch, epoch + 1 if epoch + 1 < ramp else total, dataclasses.replace(
                self, adv_epsilon=self.adv_epsilon * share, adv_step_size=self.adv_step_size * share,
                adv_epsilon_ramp=None)))
        return phases

    def batch(self, adversarial: bool) -> int:
        """The batch size the base (``adversarial`` False) or the regularized model trains with."""
        return (self.adv_batch_size or self.batch_size) if adversarial else self.batch_size

    def rate(self, adversarial: bool) -> float:
        """Adam's learning rate for the base (``adversarial`` False) or the regularized model."""
        return (self.adv_learning_rate or self.learning_rate) if adversarial else self.learning_rate

    def base_key(self) -> str:
        """A stable id of everything that determines the *base* model."""
        fields = {k: v for k, v in to_dict(self).items() if not k.startswith("adv_")}
        return _digest(fields)

    def adv_key(self) -> str:
        """A stable id of everything that determines the *regularized* model."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return _digest({k: v for k, v in to_dict(self).items()
                        if k not in _KEYED_WHEN_CHANGED or getattr(self, k) != defaults[k]})


#: The tutorial's HParams, unchanged.
TUTORIAL = HParams()

#: The project's default training recipe: the tutorial's model and adversarial
#: settings, trained with larger batches and fewer epochs so it reaches the
#: tutorial's quality in about a third of the time on a CPU (docs/benchmarks.md).
FAST_RECIPE = dataclasses.replace(TUTORIAL, batch_size=128, epochs=3, learning_rate=0.002)

#: The robust recipes' shared choices (docs/robustness.md measures them): most
#: of the loss on the adversarial neighbours, longer training with a cosine
#: learning-rate decay, neighbours clipped to [0, 1].
ROBUST_MULTIPLIER = 4.0
ROBUST_PGD_ITERATIONS = {0.1: 7, 0.2: 7, 0.3: 10}
#: Epsilon balls of the pretrained robust models (L-infinity).
ROBUST_EPSILONS: tuple[float, ...] = (0.1, 0.2, 0.3)


@dataclass(frozen=True)
class TrainingSpec:
    """What the page, the CLI, the sweep and the comparison need to know of one :class:`TrainingAttack`."""

    #: Trains within an L-infinity ball of ``epsilon`` from a random start (:func:`robust_hparams`); else it is
    #: the tutorial's FGSM, set by norm, step and multiplier.
    robust: bool
    #: Several projected steps per batch: the page and the CLI offer their number.
    iterative: bool = False
    #: Step per iteration, as a multiple of ``epsilon / iterations`` (Madry et al.'s 2.5 for PGD).
    step_factor: float = 1.0
    #: Epochs of the robust recipe, and of its largest epsilon (the hardest ball trains longest).
    epochs: int = 6
    epochs_largest: int = 6


#: Every training method; the comparison's rows, the sweep's robust grid and every choice of a method
#: read this. A new method adds its member to :class:`TrainingAttack`, its entry here, how its fields
#: are told apart in :attr:`HParams.training_attack`, and its catalogue strings.
TRAINING_SPECS: dict[TrainingAttack, TrainingSpec] = {
    TrainingAttack.FGSM: TrainingSpec(robust=False),
    TrainingAttack.FGSM_RS: TrainingSpec(robust=True),
    TrainingAttack.PGD: TrainingSpec(robust=True, iterative=True, step_factor=2.5, epochs=6, epochs_largest=20),
}


def robust_methods() -> list[TrainingAttack]:
    """The robust training methods, costliest first (a sweep that stops early has the most important)."""
    robust = [t for t in TrainingAttack if TRAINING_SPECS[t].robust]
    return sorted(robust, key=lambda t: not TRAINING_SPECS[t].iterative)


def robust_pgd_iterations(epsilon: float) -> int:
    """The robust recipe's PGD steps per training batch for an epsilon ball."""
    return ROBUST_PGD_ITERATIONS.get(epsilon, ROBUST_PGD_ITERATIONS[min(ROBUST_PGD_ITERATIONS)])


def robust_epochs(attack: TrainingAttack, epsilon: float) -> int:
    """The robust recipe's epochs for an epsilon ball (the largest ball trains longest)."""
    spec = TRAINING_SPECS[attack]
    return spec.epochs_largest if epsilon >= max(ROBUST_EPSILONS) else spec.epochs


#: Batch sizes a robust model may train with (the page's choices); the recipe's is 128.
ROBUST_BATCH_SIZES: tuple[int, ...] = (64, 128, 256, 512)


def robust_hparams(recipe: HParams, attack: TrainingAttack, epsilon: float, *,
                   iterations: int | None = None, epochs: int | None = None, batch: int | None = None,
                   multiplier: float = ROBUST_MULTIPLIER) -> HParams:
    """An L-infinity robust-training configuration on top of ``recipe``.

    FGSM with a random start steps by ``epsilon`` (an early trial of Wong et
    al.'s 1.25 * epsilon collapsed; docs/robustness.md). PGD takes
    ``iterations`` steps of 2.5 * epsilon / iterations (Madry et al.'s rule),
    each from a random start. The tutorial's FGSM is ``recipe`` itself.
    ``batch`` (None: the recipe's) is the regularized model's own batch size,
    with the learning rate scaled in proportion (Goyal et al.'s linear rule).
    """
    spec = TRAINING_SPECS[attack]
    if not spec.robust:
        return recipe
    iterations = (iterations or robust_pgd_iterations(epsilon)) if spec.iterative else 1
    step = round(spec.step_factor * epsilon / iterations, 4)
    own_batch = batch is not None and batch != recipe.batch_size
    return dataclasses.replace(
        recipe, adv_grad_norm=Norm.INFINITY, adv_step_size=step, adv_multiplier=multiplier,
        adv_pgd_iterations=iterations, adv_epsilon=epsilon, adv_random_init=True, adv_clip=True,
        adv_epochs=epochs or robust_epochs(attack, epsilon), adv_cosine_decay=True,
        adv_batch_size=batch if own_batch else None,
        adv_learning_rate=round(recipe.learning_rate * batch / recipe.batch_size, 6) if own_batch and batch else None)


#: The robust recipe a class trains live (the lesson's "train it yourself"), found by measurement among
#: fast candidates (bench/fast_robust.py; docs/robustness.md lists every one tried): PGD with fewer
#: steps for fewer epochs in larger batches, L-infinity eps 0.3.
LIVE_ROBUST = robust_hparams(FAST_RECIPE, TrainingAttack.PGD, 0.3, iterations=3, epochs=5, batch=256)
#: What goes wrong: one FGSM step of the whole budget from the clean digit (no random start), eps 0.3. Its
#: FGSM accuracy climbs to 100% while PGD finds every digit: catastrophic overfitting. (Random-start FGSM did
#: not collapse on this network, even at 1.67 eps: docs/robustness.md.) Shipped with its live probe, so a class
#: sees the lines without waiting for a training.
OVERFITTING = dataclasses.replace(robust_hparams(FAST_RECIPE, TrainingAttack.FGSM_RS, 0.3), adv_random_init=False)


@dataclass(frozen=True)
class Attack:
    """The attack used to evaluate models.

    ``strength`` is the FGSM step size, or the radius of PGD's epsilon ball,
    in the units of ``norm``. 0 means no attack. With a ``target`` class
    (0..9) the attack is targeted: it pushes every digit towards being read
    as ``target`` ("make the model see a 3") instead of away from its label.
    """

    method: AttackMethod = AttackMethod.FGSM
    norm: Norm = Norm.INFINITY
    strength: float = NORM_SPECS[Norm.INFINITY].default_step
    mode: EvalMode = EvalMode.TRANSFER
    pgd_iterations: int = 10
    #: PGD's step per iteration; None picks 2.5 * strength / iterations (Madry et al.).
    pgd_step_size: float | None = None
    random_start: bool = False
    seed: int = 0
    #: Keyed only when set, so every untargeted measurement keeps the key it was stored under.
    target: int | None = dataclasses.field(default=None, metadata={"keyed_when_set": True})

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", _as_enum(AttackMethod, "method", self.method))
        if self.target is not None:
            _check_int("target", self.target, 0, 9)
        object.__setattr__(self, "norm", _as_enum(Norm, "norm", self.norm))
        object.__setattr__(self, "mode", _as_enum(EvalMode, "mode", self.mode))
        check_step("strength", self.norm, self.strength, allow_zero=True)
        _check_int("pgd_iterations", self.pgd_iterations, 1, 100)
        _check_int("seed", self.seed, 0, 2**31 - 1)
        if self.pgd_step_size is not None:
            check_step("pgd_step_size", self.norm, self.pgd_step_size)
        if self.norm not in self.method.spec.norms:
            raise ConfigError(f"method={self.method.value!r} is not available for norm '{self.norm.value}': it "
                              f"attacks under {', '.join(n.value for n in self.method.spec.norms)} only")

    @property
    def step_per_iteration(self) -> float:
        if not self.method.spec.iterative:
            return self.strength
        if self.pgd_step_size is not None:
            return self.pgd_step_size
        return 2.5 * self.strength / self.pgd_iterations

    @property
    def iterations(self) -> int:
        return self.pgd_iterations if self.method.spec.iterative else 1

    @property
    def shares_direction(self) -> bool:
        """Untargeted FGSM: one gradient direction per digit serves every strength (curves and the
        own-digit search reuse it, and the manifest's FGSM curves are of this attack)."""
        return self.method is AttackMethod.FGSM and self.target is None


@dataclass(frozen=True)
class StrongEval:
    """The strong white-box evaluation (:mod:`advdemo.core.robustness`).

    PGD with ``iterations`` steps of 2.5 * epsilon / iterations from
    ``restarts`` random starts, on the first ``examples`` test digits (a fixed
    subset; 10,000 is the whole test set).
    """

    iterations: int = 40
    restarts: int = 5
    examples: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int("iterations", self.iterations, 1, 100)
        _check_int("restarts", self.restarts, 1, 100)
        _check_int("examples", self.examples, 1, 10**7)
        _check_int("seed", self.seed, 0, 2**31 - 1)


@dataclass(frozen=True)
class AutoAttackEval:
    """AutoAttack's attacks as the reviewer's worst case runs them (:mod:`advdemo.core.autoattack`).

    Croce & Hein 2020's attacks without FAB-T: APGD-CE with ``apgd_iterations``
    steps from ``apgd_restarts`` random starts (5, as in AutoAttack's "plus"
    version: on the tutorial's model one start leaves 3 points more), APGD-T
    on the targeted DLR loss from one start towards each of the ``targets``
    classes ranked next after the first, and Square with ``square_queries``
    queries (L-infinity only) starting from windows of ``square_p_init`` of the
    pixels.
    """

    apgd_iterations: int = 100
    apgd_restarts: int = 5
    targets: int = 9
    square_queries: int = 5000
    square_p_init: float = 0.8
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int("apgd_iterations", self.apgd_iterations, 1, 1000)
        _check_int("apgd_restarts", self.apgd_restarts, 1, 100)
        _check_int("targets", self.targets, 1, 9)
        _check_int("square_queries", self.square_queries, 1, 100_000)
        _check_range("square_p_init", self.square_p_init, 0.0, 1.0, low_open=True)
        _check_int("seed", self.seed, 0, 2**31 - 1)


@dataclass(frozen=True)
class LiveProbe:
    """The robustness a regularized model shows while it trains (:mod:`advdemo.core.probe`): after every
    epoch, clean, white-box FGSM and white-box PGD accuracy on the first ``examples`` test digits, at the
    training's own norm and strength (its ε, else its step). PGD takes ``pgd_iterations`` steps from one
    random start: a quick look, not the strong evaluation."""

    examples: int = 300
    pgd_iterations: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int("examples", self.examples, 1, 10_000)
        _check_int("pgd_iterations", self.pgd_iterations, 1, 100)
        _check_int("seed", self.seed, 0, 2**31 - 1)


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls``: where CLI and page defaults come from."""
    return {f.name: f.default for f in dataclasses.fields(cls)}[name]


def to_dict(config: HParams | Attack | StrongEval | AutoAttackEval) -> dict[str, Any]:
    """A plain, JSON-able dict: enums become their values, tuples become lists."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None and f.metadata.get("keyed_when_set"):
            continue
        if isinstance(value, (enum.Enum, AttackMethod)):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def from_dict(cls: type[HParams] | type[Attack] | type[StrongEval] | type[AutoAttackEval],
              data: Mapping[str, Any]) -> Any:
    """Inverse of :func:`to_dict`. Missing keys take defaults; unknown keys are an error."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping for {cls.__name__}, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(map(str, unknown))}")
    try:
        return cls(**data)
    except TypeError as exc:  # e.g. a list where a number belongs
        raise ConfigError(f"invalid {cls.__name__}: {exc}") from None


def _digest(data: Mapping[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


__all__ = [
    "AdversarialLoss",
    "Attack",
    "AttackMethod",
    "AutoAttackEval",
    "ConfigError",
    "EvalMode",
    "ModelKind",
    "FAST_RECIPE",
    "GRID_MULTIPLIERS",
    "HParams",
    "LIVE_ROBUST",
    "OVERFITTING",
    "LiveProbe",
    "NORM_SPECS",
    "Norm",
    "NormSpec",
    "TUTORIAL",
    "StrongEval",
    "TRAINING_SPECS",
    "TrainingAttack",
    "TrainingSpec",
    "MAX_EPOCHS",
    "ROBUST_BATCH_SIZES",
    "ROBUST_EPSILONS",
    "robust_epochs",
    "robust_hparams",
    "robust_methods",
    "robust_pgd_iterations",
    "check_step",
    "default_of",
    "from_dict",
    "to_dict",
]
