"""Digit-conditioned VAEs: generate a chosen digit.

* :class:`ConditionalVAE` (CVAE, Sohn et al. 2015): the label, one-hot, is an input of both
  the encoder ``q(z | x, y)`` and the decoder ``p(x | z, y)``.
* :class:`AuxiliaryClassifierVAE`: a classifier sub-network predicts the digit from the image;
  its 10-way softmax output is concatenated with ``z`` into the decoder (and, optionally, with
  the image features into the encoder), and the loss is the VAE loss plus
  ``classification_weight`` times the classifier's cross-entropy. Labels are needed for
  training only; reconstruction uses the classifier's own prediction.

For both, generation sets the digit part to a one-hot vector and draws ``z ~ N(0, I)``;
:meth:`digit_style_grid` reuses the same ``z`` ("style") for all ten digits,
:class:`StyleGridHistory` records such a grid after every training epoch and
:func:`vae_tf.plotting.plot_digit_style_grid` draws one (a row per style, a column per digit). Training data
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
    ``(batch, num_classes)``. ``arch`` as in :func:`vae_tf.build_encoder`.

    Raises:
        ValueError: unknown ``arch``, a bad image shape, or ``num_classes < 2``.
    """
    _check(arch, 1, input_shape, filters)
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes!r}.")
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
    logits = keras.layers.Dense(int(num_classes), name="class_logits")(x)
    return keras.Model(inputs, logits, name=name)


def _labels(y, num_classes: int):
    if y is None:
        raise ValueError(
            "this model needs labels: train on (images, labels), e.g. "
            "vae_tf.make_dataset(x, y) or model.fit(x, y)."
        )
    return ops.one_hot(ops.cast(ops.reshape(y, (-1,)), "int32"), num_classes)


def _condition_width(model: keras.Model, which: str) -> int:
    """Width of the second (conditioning) input of ``model``; 0 if it has one input."""
    if len(model.inputs) == 1:
        return 0
    if len(model.inputs) != 2:
        raise ValueError(f"the {which} must have one or two inputs, got {len(model.inputs)}.")
    return int(model.inputs[1].shape[-1])


class _DigitConditioned(VAE):
    """Shared generation API of the digit-conditioned VAEs."""

    conditions_on_digits = True

    def __init__(self, encoder, decoder, num_classes: int = 10, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        self.num_classes = int(num_classes)
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes!r}.")
        if _condition_width(decoder, "decoder") != self.num_classes:
            raise ValueError(
                f"the decoder must take [z, condition] with a condition of width num_classes={self.num_classes}: "
                f"build it with build_decoder(..., condition_dim={self.num_classes})."
            )

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.decoder.outputs[0].shape[1:])

    def _one_hot(self, digits, n: int) -> np.ndarray:
        """One-hot rows ``(n, num_classes)`` for an int or ``n`` ints; ``ValueError`` otherwise."""
        arr = np.asarray(digits)
        if arr.size == 0 or not (np.issubdtype(arr.dtype, np.integer) or np.all(np.mod(arr, 1) == 0)):
            raise ValueError(f"digits must be integers in [0, {self.num_classes}), got {digits!r}.")
        try:
            arr = np.broadcast_to(arr.astype("int64"), (n,))
        except ValueError:
            raise ValueError(f"digits must be one integer or {n} integers, got shape {arr.shape}.") from None
        if arr.min() < 0 or arr.max() >= self.num_classes:
            raise ValueError(f"digits must be integers in [0, {self.num_classes}), got {np.unique(arr)}.")
        return np.eye(self.num_classes, dtype="float32")[arr]

    def decode(self, z, digits=0, batch_size: int = 512) -> np.ndarray:
        """Pixel means for codes ``z`` ``(n, latent_dim)`` and digit(s) ``digits`` (an int or
        ``n`` ints in ``[0, num_classes)``): NumPy ``(n, *image_shape)`` in ``[0, 1]``.
        Raises ``ValueError`` for digits out of range."""
        z = _as_float(z)
        decode = lambda zb, cb: (ops.sigmoid(self.decoder([zb, cb], training=False)),)  # noqa: E731
        return _batched(decode, z, batch_size, self._one_hot(digits, len(z)))[0]

    def sample(self, n: int, digits=0, seed: int | None = None) -> np.ndarray:
        """``n`` images of the given digit(s), ``z ~ N(0, I)``: ``(n, *image_shape)`` in ``[0, 1]``."""
        z = ops.convert_to_numpy(keras.random.normal((int(n), self.latent_dim), seed=seed))
        return self.decode(z, digits)

    def digit_style_grid(self, n_styles: int = 8, seed: int | None = None) -> np.ndarray:
        """Images of shape ``(num_classes, n_styles, *image_shape)``: entry ``[d, s]`` decodes
        style ``z_s ~ N(0, I)`` with digit ``d``; each style ``s`` shares one ``z`` across all
        digits. The same integer ``seed`` gives the same styles."""
        if int(n_styles) < 1:
            raise ValueError(f"n_styles must be a positive integer, got {n_styles!r}.")
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
    Other arguments and the loss terms are those of :class:`vae_tf.VAE`. Training data must
    carry labels; without them ``fit``/``evaluate`` raise ``ValueError``.
    """

    def __init__(self, encoder, decoder, num_classes: int = 10, **kwargs):
        super().__init__(encoder, decoder, num_classes=num_classes, **kwargs)
        if _condition_width(encoder, "encoder") != self.num_classes:
            raise ValueError(
                f"the encoder must take [images, condition] with a condition of width {self.num_classes}: "
                f"build it with build_encoder(..., condition_dim={self.num_classes})."
            )

    def call(self, inputs, training: bool = False):
        """Reconstruction pixel means for ``(images, labels)``."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("ConditionalVAE needs (images, labels) as input.")
        x, y = inputs
        c = _labels(y, self.num_classes)
        z_mean, _, _ = self.encoder([x, c], training=training)
        return ops.sigmoid(self.decoder([z_mean, c], training=training))

    def loss_terms(self, x, y=None, training: bool = False) -> dict[str, Any]:
        """Per-example ``loss``, ``reconstruction_loss``, ``kl_loss`` (nats, ``(batch,)``);
        ``y`` are the integer labels of ``x`` (``ValueError`` if missing)."""
        c = _labels(y, self.num_classes)
        z_mean, z_log_var, _ = self.encoder([x, c], training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder([z, c], training=training)
        reconstruction = -reconstruction_log_likelihood(x, logits, self.likelihood, self.sigma)
        kl = kl_divergence(z_mean, z_log_var)
        return {"loss": reconstruction + self.beta * kl, "reconstruction_loss": reconstruction, "kl_loss": kl}

    def encode(self, x, digits=None, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """``(z_mean, z_log_var)`` of ``q(z | x, y)``, each ``(n, latent_dim)``; ``digits`` are
        the labels of ``x`` (``ValueError`` if missing or out of range)."""
        if digits is None:
            raise ValueError("ConditionalVAE.encode needs the labels: encode(x, digits).")
        x = _as_float(x)
        encode = lambda xb, cb: self.encoder([xb, cb], training=False)[:2]  # noqa: E731
        out = _batched(encode, x, batch_size, self._one_hot(digits, len(x)))
        return out[0], out[1]

    def reconstruct(self, x, digits=None, batch_size: int = 512) -> np.ndarray:
        """Decode the posterior mean of each image with its label: pixel means like ``x``."""
        return self.decode(self.encode(x, digits, batch_size)[0], digits, batch_size)

    def kl_per_dimension(self, x, digits=None, batch_size: int = 512) -> np.ndarray:
        """Mean ``KL(q(z_i | x, y) || N(0, 1))`` per latent dimension: ``(latent_dim,)``, nats."""
        z_mean, z_log_var = self.encode(x, digits, batch_size)
        return ops.convert_to_numpy(ops.mean(kl_divergence(z_mean, z_log_var, per_dimension=True), axis=0))


@keras.saving.register_keras_serializable(package="vae_tf")
class AuxiliaryClassifierVAE(_DigitConditioned):
    """VAE whose decoder sees ``[z, softmax(classifier(x))]``; loss adds the classifier's
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

    Per-example terms, in nats: ``reconstruction_loss``, ``kl_loss``, ``classification_loss``
    (cross-entropy of the true label) and ``loss = reconstruction_loss + beta * kl_loss +
    w * classification_loss``; ``accuracy`` is the fraction of correctly classified images.
    Training data must carry labels (``ValueError`` otherwise).
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
            raise ValueError(
                f"the classifier must output {self.num_classes} logits, got {classifier.outputs[0].shape[-1]}."
            )
        if _condition_width(encoder, "encoder") not in (0, self.num_classes):
            raise ValueError(
                f"the encoder's condition must have width num_classes={self.num_classes} (or no condition)."
            )
        self.classifier = classifier
        self.classification_weight = float(classification_weight)
        self.decoder_trains_classifier = bool(decoder_trains_classifier)

    def _metric_names(self) -> tuple[str, ...]:
        return ("loss", "reconstruction_loss", "kl_loss", "classification_loss", "accuracy")

    @property
    def loss_weights(self) -> dict[str, float]:
        return {**super().loss_weights, "classification_loss": self.classification_weight}

    def _encoder_inputs(self, x, probs):
        return [x, probs] if len(self.encoder.inputs) == 2 else x

    def call(self, inputs, training: bool = False):
        """Reconstruction pixel means, decoding ``z_mean`` with the predicted class probabilities."""
        inputs = ops.convert_to_tensor(inputs)
        probs = ops.softmax(self.classifier(inputs, training=training))
        z_mean, _, _ = self.encoder(self._encoder_inputs(inputs, probs), training=training)
        return ops.sigmoid(self.decoder([z_mean, probs], training=training))

    def loss_terms(self, x, y=None, training: bool = False) -> dict[str, Any]:
        """Per-example terms (see the class docstring), each ``(batch,)``; ``y`` are the
        integer labels of ``x`` (``ValueError`` if missing)."""
        c = _labels(y, self.num_classes)
        class_logits = self.classifier(x, training=training)
        probs = ops.softmax(class_logits)
        if not self.decoder_trains_classifier:
            probs = ops.stop_gradient(probs)
        z_mean, z_log_var, _ = self.encoder(self._encoder_inputs(x, probs), training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder([z, probs], training=training)
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

    def encode(self, x, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """``(z_mean, z_log_var)``, each ``(n, latent_dim)``; a conditioned encoder receives the
        classifier's probabilities (no labels needed)."""

        def encode(b):
            b = ops.convert_to_tensor(b)
            probs = ops.softmax(self.classifier(b, training=False))
            return self.encoder(self._encoder_inputs(b, probs), training=False)[:2]

        out = _batched(encode, _as_float(x), batch_size)
        return out[0], out[1]

    def reconstruct(self, x, batch_size: int = 512) -> np.ndarray:
        """Decode ``z_mean`` with the classifier's predicted probabilities (no labels needed)."""
        return _batched(lambda b: (self(b, training=False),), _as_float(x), batch_size)[0]

    def get_config(self) -> dict:
        config = super().get_config()
        config["classifier"] = keras.saving.serialize_keras_object(self.classifier)
        config["classification_weight"] = self.classification_weight
        config["decoder_trains_classifier"] = self.decoder_trains_classifier
        return config


class StyleGridHistory(keras.callbacks.Callback):
    """Record ``model.digit_style_grid(n_styles, seed)`` before training and after every epoch.

    The seed is fixed, so every grid decodes the same styles: the sequence shows how the
    generator improves. After ``fit``, ``grids`` is a list of arrays of shape
    ``(num_classes, n_styles, *image_shape)`` and ``epochs`` the matching epoch numbers
    (0 = before training, if ``include_initial``). Works with :class:`ConditionalVAE` and
    :class:`AuxiliaryClassifierVAE`; other models raise ``TypeError`` when training starts.
    """

    def __init__(self, n_styles: int = 4, seed: int = 0, include_initial: bool = True):
        super().__init__()
        if int(n_styles) < 1:
            raise ValueError(f"n_styles must be a positive integer, got {n_styles!r}.")
        self.n_styles = int(n_styles)
        self.seed = int(seed)
        self.include_initial = bool(include_initial)
        self.grids: list[np.ndarray] = []
        self.epochs: list[int] = []

    def _record(self, epoch: int) -> None:
        self.grids.append(self.model.digit_style_grid(self.n_styles, seed=self.seed))
        self.epochs.append(epoch)

    def on_train_begin(self, logs=None):
        if not hasattr(self.model, "digit_style_grid"):
            raise TypeError(f"StyleGridHistory needs a digit-conditioned VAE, got {type(self.model).__name__}.")
        self.grids, self.epochs = [], []
        if self.include_initial:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)
