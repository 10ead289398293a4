"""The gradient-masking detector: signs in a model's accuracies that its robustness is overstated.

Each sign compares two attacks where one should be at least as strong as the
other; a reversal beyond both 95% intervals (or far beyond the usual ratio)
is a sign that the gradients point the wrong way near the data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from advdemo.core.accuracies import Accuracies, PairAccuracies
from advdemo.core.config import NORM_SPECS, Norm
from advdemo.i18n import Catalogue, english, message


class MaskingKind(enum.StrEnum):
    """The kinds of gradient-masking sign; each names its sentence in the catalogue (``masking.<kind>``)."""

    #: The model's own gradient makes a weaker single step than the base model's.
    WHITEBOX_ABOVE_TRANSFER = "whitebox-above-transfer"
    #: The model resists one gradient step but not several.
    PGD_FAR_BELOW_FGSM = "pgd-far-below-fgsm"
    #: Square, which reads no gradient, fools more digits than every gradient attack.
    GRADIENT_FREE_BELOW_GRADIENT = "gradient-free-below-gradient"


@dataclass(frozen=True)
class MaskingSign:
    """One sign of gradient masking in a model's numbers at one strength (accuracies in [0, 1])."""

    kind: MaskingKind
    strength: float
    norm: Norm
    stronger: float  # the accuracy under the attack that should have been the stronger one
    weaker: float  # the accuracy under the attack that should have been the weaker one
    n: int

    @property
    def gap(self) -> float:
        return self.stronger - self.weaker


#: A white-box FGSM accuracy this much above the transfer one, *and* outside
#: both 95% intervals, is a masking sign.
MASKING_MIN_GAP = 0.02
#: PGD leaving this many times as many errors as FGSM, by at least
#: :data:`PGD_GAP_MIN` accuracy, is a masking sign. An undefended model's
#: errors roughly double from FGSM to PGD; a masked one's grow far more.
PGD_ERROR_RATIO = 3.0
PGD_GAP_MIN = 0.20


def masking_signs(accuracies: Accuracies, strength: float, norm: Norm) -> list[MaskingSign]:
    """The gradient-masking signs in one model's accuracies at ``strength`` (empty: none)."""
    signs = []
    white, transfer, pgd = accuracies.whitebox_fgsm, accuracies.transfer_fgsm, accuracies.whitebox_pgd
    if white.value - transfer.value >= MASKING_MIN_GAP and white.low > transfer.high:
        signs.append(MaskingSign(MaskingKind.WHITEBOX_ABOVE_TRANSFER, strength, norm, white.value, transfer.value,
                                 white.n))
    fgsm_errors, pgd_errors = 1.0 - white.value, 1.0 - pgd.value
    if white.value - pgd.value >= PGD_GAP_MIN and pgd_errors >= PGD_ERROR_RATIO * max(fgsm_errors, 1e-9):
        signs.append(MaskingSign(MaskingKind.PGD_FAR_BELOW_FGSM, strength, norm, white.value, pgd.value, white.n))
    free = accuracies.square
    if free is not None:
        # The strongest gradient attack: the one that leaves the fewest digits.
        gradient = min((r for r in (pgd, accuracies.apgd_ce, accuracies.apgd_t) if r is not None),
                       key=lambda r: r.value)
        if free.high < gradient.low:
            signs.append(MaskingSign(MaskingKind.GRADIENT_FREE_BELOW_GRADIENT, strength, norm, gradient.value,
                                     free.value, free.n))
    return signs


def pair_signs(pair: PairAccuracies) -> list[MaskingSign]:
    """The regularized model's gradient-masking signs in ``pair`` (at its strength)."""
    return masking_signs(pair.regularized, pair.strength, pair.norm)


def describe_sign(sign: MaskingSign, tr: Catalogue | None = None) -> str:
    """One or two plain sentences about ``sign``, with its numbers, in ``tr``'s language (default English)."""
    tr = tr or english()
    where = message("masking.where", norm=NORM_SPECS[sign.norm].symbol, strength=sign.strength, examples=sign.n)
    return tr(f"masking.{sign.kind.value}", where=where, stronger=sign.stronger, weaker=sign.weaker)
