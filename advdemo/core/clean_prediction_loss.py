"""A TRADES-like adversarial loss through NSL: neighbours scored against the clean prediction.

NSL's ``AdversarialRegularization`` scores an adversarial neighbour with the model's labeled loss,
cross-entropy against the true label (as Madry et al. train). TRADES (Zhang et al. 2019) instead scores
how far the neighbour's prediction moves from the clean digit's, KL(p(x) ‖ p(x')), and its PGD
maximizes that distance. NSL's public :func:`nsl.keras.adversarial_loss` takes the loss and the labels
its PGD attacks with as arguments, so this is NSL's own neighbour generation (its step, ball, random
start and clipping, from ``AdvRegConfig``) with two arguments changed: the labels are the clean
prediction, and the loss is the KL divergence from it. The total loss stays NSL's: the labeled loss plus
``multiplier`` × the adversarial one, so ``multiplier`` plays TRADES' β (1/λ).

One difference from TRADES, on purpose: the clean prediction is held fixed inside the KL term (its
gradient flows through the labeled loss only), because NSL hands labels to its PGD as constants.
"""

from __future__ import annotations

from advdemo.core.compat import nsl, tf


def kl_from_clean(clean: tf.Tensor, logits: tf.Tensor, sample_weight: tf.Tensor | None = None) -> tf.Tensor:
    """Mean over the batch of KL(clean ‖ softmax(logits)), in nats (≥ 0; 0 where they agree).

    ``clean`` ``(B, C)``: probabilities, rows summing to 1; ``logits`` ``(B, C)``; ``sample_weight``
    ``(B,)`` or ``(B, 1)``, weighting each digit's divergence (NSL passes ones for neighbours).
    """
    log_clean = tf.math.log(tf.maximum(clean, 1e-12))  # 0 · log 0 counts as 0
    divergence = tf.reduce_sum(clean * (log_clean - tf.nn.log_softmax(logits)), axis=-1)
    if sample_weight is not None:
        divergence *= tf.reshape(tf.cast(sample_weight, divergence.dtype), [-1])
    return tf.reduce_mean(divergence)


class CleanPredictionRegularization(nsl.keras.AdversarialRegularization):
    """NSL's ``AdversarialRegularization`` whose adversarial term is :func:`kl_from_clean`.

    Its ``call`` is NSL's own (the labeled loss and metrics of the forward pass, then
    ``multiplier`` × the adversarial loss), with the clean prediction as the labels that NSL's PGD
    attacks and scores. The base model must output logits. NSL's PGD needs ``random_init``: at the
    clean digit the divergence and its gradient are zero, so a first step from there goes nowhere.
    """

    def call(self, inputs, **kwargs):
        labels, sample_weights = self._extract_labels_and_weights(inputs)
        outputs, labeled_loss, metrics, _ = self._forward_pass(inputs, labels, sample_weights, kwargs)
        self.add_loss(labeled_loss)
        for value, aggregation, name in metrics:
            self.add_metric(value, aggregation=aggregation, name=name)
        clean = tf.stop_gradient(tf.nn.softmax(outputs))
        # The clean term is 0; passing it keeps NSL from recomputing it on a tape over the int labels.
        adv_loss = nsl.keras.adversarial_loss(inputs, clean, self._call_base_model, kl_from_clean,
                                              sample_weights=sample_weights, adv_config=self.adv_config,
                                              labeled_loss=kl_from_clean(clean, outputs), model_kwargs=kwargs)
        scaled = self.adv_config.multiplier * adv_loss
        self.add_loss(scaled)
        self.add_metric(scaled, name="scaled_adversarial_loss", aggregation="mean")
        return outputs
