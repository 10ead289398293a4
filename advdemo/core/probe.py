"""Robustness as a model learns: a quick measurement on a fixed probe of test digits after every epoch.

A class watching a model train sees three lines grow: clean accuracy, and
accuracy under white-box FGSM and white-box PGD at the training's own norm and
strength. PGD training climbs slowly on all three. Random-start FGSM at too
large a step shows catastrophic overfitting: its FGSM line stays high while its
PGD line falls to zero within an epoch. The probe is small (a few hundred
digits, PGD from one random start) so that it costs about a second an epoch;
the strong evaluation and AutoAttack's measure the finished model.
"""

from __future__ import annotations

import numpy as np

from advdemo.core.attack_methods import AttackMethod
from advdemo.core.attacks import perturb
from advdemo.core.compat import keras
from advdemo.core.config import Attack, HParams, LiveProbe, Norm
from advdemo.core.evaluation import accuracy
from advdemo.core.results import ProbeHistory, ProbePoint


def probe_attack(hparams: HParams) -> tuple[Norm, float]:
    """The norm and strength a training is probed at: its ε ball where it has one, else its step."""
    return hparams.adv_grad_norm, float(hparams.adv_epsilon or hparams.adv_step_size)


def measure(model: keras.Model, images: np.ndarray, labels: np.ndarray, norm: Norm, strength: float,
            cfg: LiveProbe = LiveProbe()) -> tuple[float, float, float | None]:
    """Clean, white-box FGSM and white-box PGD accuracy of ``model`` on ``images`` ``(N, 28, 28, 1)`` in
    [0, 1] with ``labels`` ``(N,)`` (PGD None where ``norm`` has none)."""
    clean = accuracy(model, images, labels)
    fgsm = accuracy(model, perturb(model, images, labels, Attack(norm=norm, strength=strength)), labels)
    pgd = None
    if norm in AttackMethod.PGD.spec.norms:
        attack = Attack(method=AttackMethod.PGD, norm=norm, strength=strength, pgd_iterations=cfg.pgd_iterations,
                        random_start=True, seed=cfg.seed)
        pgd = accuracy(model, perturb(model, images, labels, attack), labels)
    return clean, fgsm, pgd


class ProbeEachEpoch(keras.callbacks.Callback):
    """Measures ``model`` (the network being trained, not NSL's wrapper) after every epoch; the progress
    reports carry the points to the page."""

    def __init__(self, model: keras.Model, images: np.ndarray, labels: np.ndarray, hparams: HParams,
                 cfg: LiveProbe = LiveProbe()):
        super().__init__()
        self._network, self._cfg = model, cfg
        self._images, self._labels = images[:cfg.examples], np.asarray(labels[:cfg.examples])
        self.norm, self.strength = probe_attack(hparams)
        self.points: list[ProbePoint] = []

    def on_epoch_end(self, epoch, logs=None):
        point = ProbePoint(epoch + 1, *measure(self._network, self._images, self._labels, self.norm, self.strength,
                                               self._cfg))
        self.points.append(point)

    def history(self) -> ProbeHistory:
        return ProbeHistory(self.norm, self.strength, len(self._labels), tuple(self.points))
