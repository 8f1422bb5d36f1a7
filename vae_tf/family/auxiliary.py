"""The auxiliary-classifier VAE: a VAE whose decoder sees the digit a classifier predicts.

A classifier sub-network predicts the digit from the image; its softmax output is concatenated
with ``z`` into the decoder (and, optionally, with the image features into the encoder), and
the loss adds ``classification_weight`` times the classifier's cross-entropy. Labels are needed
for training only; reconstruction uses the classifier's own prediction.

The loss, per image, in nats: ``-log p(x | z, p) + beta KL(q(z | x[, p]) || N(0, I)) + w CE(y, p)``
with ``p`` the classifier's softmax and ``w = classification_weight``; written in
:meth:`AuxiliaryClassifierVAE.loss_terms` and trained by the family's shared step (:mod:`vae_tf.family.step`).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from ..core.architectures import check_architecture, encoder_trunk
from .conditional import DigitConditionedVAE, condition_width
from ..core.inputs import InputError, in_batches, pixels_of
from ..core.losses import kl_divergence, pixel_mean, reconstruction_log_likelihood


def build_classifier(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    arch: str = "mlp",
    hidden_units: Sequence[int] = (256,),
    filters: Sequence[int] = (32, 64),
    activation: str = "relu",
    name: str = "classifier",
) -> keras.Model:
    """A digit classifier: images ``(batch, *input_shape)`` to class **logits**
    ``(batch, num_classes)``: the encoder's trunk (:func:`vae_tf.core.architectures.encoder_trunk`,
    ``arch`` as in :func:`vae_tf.build_encoder`) and a ``Dense`` layer of ``num_classes``.

    Raises:
        ValueError: unknown ``arch``, a bad image shape, or ``num_classes < 2``.
    """
    check_architecture(arch, 1, input_shape, filters)
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes!r}.")
    inputs, x = encoder_trunk(input_shape, arch, tuple(hidden_units), filters, activation=activation)
    logits = keras.layers.Dense(int(num_classes), name="class_logits")(x)
    return keras.Model(inputs, logits, name=name)



@keras.saving.register_keras_serializable(package="vae_tf")
class AuxiliaryClassifierVAE(DigitConditionedVAE):
    """VAE whose decoder sees ``[z, softmax(classifier(x))]``; the loss adds the classifier's
    cross-entropy.

    Args:
        encoder: images to ``[z_mean, z_log_var, z]`` (:func:`vae_tf.build_encoder`). Built
            with ``condition_dim=num_classes`` it also receives the predicted class
            probabilities, ``q(z | x, softmax(classifier(x)))``, which makes it easier for
            ``z`` to keep only what the digit does not explain (the style).
        decoder: ``[z, class_probabilities]`` to logits (``build_decoder(condition_dim=10)``).
        classifier: images to class logits (:func:`build_classifier`).
        classification_weight: weight ``w`` of the cross-entropy.
        decoder_trains_classifier: if False (default), the class probabilities enter the
            encoder and decoder through ``stop_gradient``, so the classifier learns from the
            cross-entropy alone. If True, the reconstruction loss (hundreds of nats summed
            over pixels) also trains it; with a small ``w`` it then turns the probabilities
            into extra style code and its accuracy falls.

    Per image, in nats, with ``p = softmax(classifier(x))`` and ``z ~ q(z | x[, p])``::

        reconstruction_loss = -log p(x | z, p)
        kl_loss             = KL(q(z | x[, p]) || N(0, I))
        classification_loss = cross-entropy of the true label under p
        loss                = reconstruction_loss + beta * kl_loss + w * classification_loss

    and ``accuracy``, the fraction of correctly classified images. Training data must carry
    labels (:class:`vae_tf.InputError` otherwise); ``encode``/``reconstruct`` use the
    classifier's prediction when ``digits`` is None, the one-hot digits when given.
    """

    def __init__(
        self,
        encoder,
        decoder,
        classifier,
        classification_weight: float = 1.0,
        decoder_trains_classifier: bool = False,
        **kwargs,
    ):
        if not float(classification_weight) >= 0:
            raise ValueError(f"classification_weight must be >= 0, got {classification_weight!r}.")
        super().__init__(encoder, decoder, **kwargs)
        if int(classifier.outputs[0].shape[-1]) != self.num_classes:
            raise InputError(
                f"the classifier must output {self.num_classes} logits, got {classifier.outputs[0].shape[-1]}."
            )
        if condition_width(encoder, "encoder") not in (0, self.num_classes):
            raise InputError(
                f"the encoder's condition must have width num_classes={self.num_classes} (or no condition)."
            )
        self.classifier = classifier
        self.classification_weight = float(classification_weight)
        self.decoder_trains_classifier = bool(decoder_trains_classifier)
        self.classification_loss_tracker = keras.metrics.Mean(name="classification_loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")

    @property
    def metrics(self):
        return [*super().metrics, self.classification_loss_tracker, self.accuracy_tracker]

    @property
    def loss_weights(self) -> dict:
        return {**super().loss_weights, "classification_loss": self.classification_weight}

    def loss_terms(self, x, y=None, training=False) -> dict:
        """Per-image terms ``(batch,)`` in nats (class docstring); ``y``: the true labels."""
        class_logits = ops.cast(self.classifier(x, training=training), "float32")
        probs = ops.softmax(class_logits)
        if not self.decoder_trains_classifier:
            probs = ops.stop_gradient(probs)
        z_mean, z_log_var = self.encode_with(x, probs, training)
        z = self.sampling([z_mean, z_log_var])
        logits = ops.cast(self.decoder([z, probs], training=training), "float32")
        reconstruction_loss = -reconstruction_log_likelihood(x, logits, self.likelihood, self.sigma)
        kl_loss = kl_divergence(z_mean, z_log_var)
        one_hot = self.one_hot(y)
        classification_loss = keras.losses.categorical_crossentropy(one_hot, class_logits, from_logits=True)
        correct = ops.equal(ops.argmax(class_logits, axis=-1), ops.argmax(one_hot, axis=-1))
        loss = reconstruction_loss + self.beta * kl_loss + self.classification_weight * classification_loss
        return {
            "loss": loss,
            "reconstruction_loss": reconstruction_loss,
            "kl_loss": kl_loss,
            "classification_loss": classification_loss,
            "accuracy": ops.cast(correct, "float32"),
        }

    def encode_with(self, x, condition, training=False):
        """``(z_mean, z_log_var)`` of ``q(z | x)``, or of ``q(z | x, condition)`` for an encoder
        built with a condition input."""
        inputs = [x, condition] if len(self.encoder.inputs) == 2 else x
        z_mean, z_log_var = self.encoder(inputs, training=training)[:2]
        return ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32")

    def condition(self, x, digits=None, training=False):
        """The one-hot ``digits`` when given, else the classifier's class probabilities for ``x``."""
        if digits is not None:
            return self.one_hot(digits)
        return ops.softmax(ops.cast(self.classifier(x, training=training), "float32"))

    def posterior(self, x, digits=None, training=False):
        return self.encode_with(x, self.condition(x, digits, training), training)

    def call(self, inputs, training=False):
        """Reconstructions (pixel means) of images, decoded with the classifier's prediction, or
        with the given digits for ``(images, digits)``."""
        x, digits = inputs if isinstance(inputs, (list, tuple)) else (inputs, None)
        x = pixels_of(x, self.image_shape)
        condition = self.condition(x, digits, training)
        z_mean, _ = self.encode_with(x, condition, training)
        logits = ops.cast(self.decoder([z_mean, condition], training=training), "float32")
        return pixel_mean(logits, self.likelihood)

    def classify(self, x, *, batch_size: int = 512) -> np.ndarray:
        """Class probabilities for images ``x``: NumPy ``(n, num_classes)``."""
        return in_batches(lambda b: (self.condition(b),), self.as_model_input(x), batch_size=batch_size)[0]

    def get_config(self) -> dict:
        config = super().get_config()
        config["classifier"] = keras.saving.serialize_keras_object(self.classifier)
        config["classification_weight"] = self.classification_weight
        config["decoder_trains_classifier"] = self.decoder_trains_classifier
        return config
