"""Digit-conditioned VAEs: generate a chosen digit.

* :class:`ConditionalVAE` (CVAE, Sohn et al. 2015): the label, one-hot, is an input of both
  the encoder ``q(z | x, y)`` and the decoder ``p(x | z, y)``.
* :class:`AuxiliaryClassifierVAE`: a classifier sub-network predicts the digit from the image;
  its 10-way softmax output is concatenated with ``z`` into the decoder, and the loss is the
  VAE loss plus ``classification_weight`` times the classifier's cross-entropy. Labels are
  needed for training only; reconstruction uses the classifier's own prediction.

For both, generation sets the digit part to a one-hot vector and draws ``z ~ N(0, I)``;
:meth:`digit_style_grid` reuses the same ``z`` ("style") for all ten digits. Training data
are ``(images, labels)`` with images in ``[0, 1]`` and integer labels in ``[0, num_classes)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from .architectures import _activate, _check
from .losses import kl_divergence, reconstruction_log_likelihood
from .models import VAE, _as_float, _batched


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
    ``(batch, num_classes)``. ``arch`` as in :func:`vae_tf.build_encoder`."""
    _check(arch, 1, input_shape, filters)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    if arch == "conv":
        for i, f in enumerate(filters):
            x = keras.layers.Conv2D(f, 3, strides=2, padding="same", name=f"conv_{i}")(x)
            x = _activate(x, activation, False, f"conv_{i}")
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, name=f"dense_{i}")(x)
        x = _activate(x, activation, False, f"dense_{i}")
    logits = keras.layers.Dense(num_classes, name="class_logits")(x)
    return keras.Model(inputs, logits, name=name)


def _labels(y, num_classes: int):
    if y is None:
        raise ValueError(
            "this model needs labels: train on (images, labels), e.g. "
            "vae_tf.make_dataset(x, y) or model.fit(x, y)."
        )
    return ops.one_hot(ops.cast(ops.reshape(y, (-1,)), "int32"), num_classes)


class _DigitConditioned(VAE):
    """Shared generation API of the digit-conditioned VAEs."""

    def __init__(self, encoder, decoder, num_classes: int = 10, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        self.num_classes = int(num_classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.decoder.outputs[0].shape[1:])

    def _one_hot(self, digits, n: int) -> np.ndarray:
        digits = np.broadcast_to(np.asarray(digits, dtype="int64"), (n,))
        if digits.min() < 0 or digits.max() >= self.num_classes:
            raise ValueError(f"digits must be integers in [0, {self.num_classes}), got {np.unique(digits)}.")
        return np.eye(self.num_classes, dtype="float32")[digits]

    def decode(self, z, digits=0, batch_size: int = 512) -> np.ndarray:
        """Pixel means for codes ``z`` ``(n, latent_dim)`` and digit(s) ``digits`` (an int or
        ``n`` ints): NumPy ``(n, *image_shape)`` in ``[0, 1]``."""
        z = _as_float(z)
        decode = lambda zb, cb: (ops.sigmoid(self.decoder([zb, cb], training=False)),)  # noqa: E731
        return _batched(decode, z, batch_size, self._one_hot(digits, len(z)))[0]

    def sample(self, n: int, digits=0, seed: int | None = None) -> np.ndarray:
        """``n`` images of the given digit(s), ``z ~ N(0, I)``: ``(n, *image_shape)`` in ``[0, 1]``."""
        z = ops.convert_to_numpy(keras.random.normal((int(n), self.latent_dim), seed=seed))
        return self.decode(z, digits)

    def digit_style_grid(self, n_styles: int = 8, seed: int | None = None) -> np.ndarray:
        """Images of shape ``(num_classes, n_styles, *image_shape)``: entry ``[d, s]`` decodes
        style ``z_s ~ N(0, I)`` with digit ``d``; each column shares one ``z`` across digits."""
        z = ops.convert_to_numpy(keras.random.normal((int(n_styles), self.latent_dim), seed=seed))
        return np.stack([self.decode(z, d) for d in range(self.num_classes)])

    def get_config(self) -> dict:
        config = super().get_config()
        config["num_classes"] = self.num_classes
        return config


@keras.saving.register_keras_serializable(package="vae_tf")
class ConditionalVAE(_DigitConditioned):
    """Conditional VAE: ``q(z | x, y)`` and ``p(x | z, y)`` with ``y`` one-hot.

    Build the networks with ``condition_dim=num_classes``:
    ``ConditionalVAE(build_encoder(condition_dim=10), build_decoder(condition_dim=10))``.
    Other arguments and the loss terms are those of :class:`vae_tf.VAE`.
    """

    def call(self, inputs, training: bool = False):
        """Reconstruction pixel means for ``(images, labels)``."""
        x, y = inputs
        c = _labels(y, self.num_classes)
        z_mean, _, _ = self.encoder([x, c], training=training)
        return ops.sigmoid(self.decoder([z_mean, c], training=training))

    def loss_terms(self, x, y=None, training: bool = False) -> dict[str, Any]:
        c = _labels(y, self.num_classes)
        z_mean, z_log_var, _ = self.encoder([x, c], training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder([z, c], training=training)
        reconstruction = -reconstruction_log_likelihood(x, logits, self.likelihood, self.sigma)
        kl = kl_divergence(z_mean, z_log_var)
        return {"loss": reconstruction + self.beta * kl, "reconstruction_loss": reconstruction, "kl_loss": kl}

    def encode(self, x, digits=None, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """``(z_mean, z_log_var)`` of ``q(z | x, y)``; ``digits`` are the labels of ``x``."""
        if digits is None:
            raise ValueError("ConditionalVAE.encode needs the labels: encode(x, digits).")
        x = _as_float(x)
        encode = lambda xb, cb: self.encoder([xb, cb], training=False)[:2]  # noqa: E731
        out = _batched(encode, x, batch_size, self._one_hot(digits, len(x)))
        return out[0], out[1]

    def reconstruct(self, x, digits=None, batch_size: int = 512) -> np.ndarray:
        return self.decode(self.encode(x, digits, batch_size)[0], digits, batch_size)

    def kl_per_dimension(self, x, digits=None, batch_size: int = 512) -> np.ndarray:
        z_mean, z_log_var = self.encode(x, digits, batch_size)
        return ops.convert_to_numpy(ops.mean(kl_divergence(z_mean, z_log_var, per_dimension=True), axis=0))


@keras.saving.register_keras_serializable(package="vae_tf")
class AuxiliaryClassifierVAE(_DigitConditioned):
    """VAE whose decoder sees ``[z, softmax(classifier(x))]``; loss adds the classifier's
    cross-entropy.

    Args:
        encoder: images to ``[z_mean, z_log_var, z]`` (:func:`vae_tf.build_encoder`).
        decoder: ``[z, class_probabilities]`` to logits (``build_decoder(condition_dim=10)``).
        classifier: images to class logits (:func:`build_classifier`).
        classification_weight: weight ``w`` of the cross-entropy.

    Per-example terms, in nats: ``reconstruction_loss``, ``kl_loss``, ``classification_loss``
    (cross-entropy of the true label) and ``loss = reconstruction_loss + beta * kl_loss +
    w * classification_loss``; ``accuracy`` is the fraction of correctly classified images.
    """

    def __init__(self, encoder, decoder, classifier, classification_weight: float = 1.0, **kwargs):
        if not float(classification_weight) >= 0:
            raise ValueError(f"classification_weight must be >= 0, got {classification_weight!r}.")
        super().__init__(encoder, decoder, **kwargs)
        self.classifier = classifier
        self.classification_weight = float(classification_weight)

    def _metric_names(self) -> tuple[str, ...]:
        return ("loss", "reconstruction_loss", "kl_loss", "classification_loss", "accuracy")

    def call(self, inputs, training: bool = False):
        """Reconstruction pixel means, decoding ``z_mean`` with the predicted class probabilities."""
        probs = ops.softmax(self.classifier(inputs, training=training))
        z_mean, _, _ = self.encoder(inputs, training=training)
        return ops.sigmoid(self.decoder([z_mean, probs], training=training))

    def loss_terms(self, x, y=None, training: bool = False) -> dict[str, Any]:
        c = _labels(y, self.num_classes)
        class_logits = self.classifier(x, training=training)
        z_mean, z_log_var, _ = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder([z, ops.softmax(class_logits)], training=training)
        reconstruction = -reconstruction_log_likelihood(x, logits, self.likelihood, self.sigma)
        kl = kl_divergence(z_mean, z_log_var)
        ce = keras.losses.categorical_crossentropy(c, class_logits, from_logits=True)
        correct = ops.cast(ops.equal(ops.argmax(class_logits, axis=-1), ops.argmax(c, axis=-1)), ce.dtype)
        return {
            "loss": reconstruction + self.beta * kl + self.classification_weight * ce,
            "reconstruction_loss": reconstruction,
            "kl_loss": kl,
            "classification_loss": ce,
            "accuracy": correct,
        }

    def classify(self, x, batch_size: int = 512) -> np.ndarray:
        """Class probabilities for images ``x``: NumPy ``(n, num_classes)``."""
        return _batched(lambda b: (ops.softmax(self.classifier(b, training=False)),), _as_float(x), batch_size)[0]

    def reconstruct(self, x, batch_size: int = 512) -> np.ndarray:
        """Decode ``z_mean`` with the classifier's predicted probabilities (no labels needed)."""
        return _batched(lambda b: (self(b, training=False),), _as_float(x), batch_size)[0]

    def get_config(self) -> dict:
        config = super().get_config()
        config["classifier"] = keras.saving.serialize_keras_object(self.classifier)
        config["classification_weight"] = self.classification_weight
        return config
