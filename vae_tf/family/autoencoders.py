"""Deterministic autoencoders (plain, linear and denoising), for comparison with the VAE.

An autoencoder maps an image to a code and back, ``x -> h = f(x) -> x_hat = g(h)``, and is
trained on reconstruction alone: no prior on ``h``, no KL term. Use the same builders as the
VAE: ``build_encoder(variational=False)`` (one output, the code ``h``) and ``build_decoder``
(logits). A *denoising* autoencoder corrupts its input and reconstructs the clean image.

The loss, per example: ``-log p(x | g(f(x~)))`` in nats (Bernoulli or Gaussian pixels), or the
summed squared error for ``loss="squared_error"``, with ``x~`` the (corrupted) input; written in
:meth:`Autoencoder.per_example_loss` and trained by the family's shared step (:mod:`vae_tf.family.step`).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..core.inputs import ChecksImageArrays, InputError, as_finite, as_model_input, in_batches, pixels_of
from ..core.losses import bernoulli_log_likelihood, gaussian_log_likelihood
from ..core.networks import check_networks, deserialize_networks
from .step import SharedStep

AE_LOSSES = ("bernoulli", "gaussian", "squared_error")
CORRUPTIONS = (None, "gaussian", "masking")


def corrupt(x, kind: str | None, level: float, seed=None):
    """Corrupt images ``x`` in ``[0, 1]``, shape ``(batch, ...)``, same shape out.

    ``"gaussian"``: add ``N(0, level^2)`` noise and clip to ``[0, 1]``; ``"masking"``: set each
    pixel to 0 with probability ``level``; ``None``: return ``x``. ``seed``: an int or a
    ``keras.random.SeedGenerator``. Raises ``ValueError`` for an unknown kind or bad level.
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"corruption must be one of {CORRUPTIONS}, got {kind!r}.")
    if kind is None:
        return x
    if not 0 <= float(level) <= (1 if kind == "masking" else np.inf):
        raise ValueError(f"noise level for {kind!r} corruption out of range: {level!r}.")
    x = ops.convert_to_tensor(x, dtype="float32")
    if kind == "gaussian":
        return ops.clip(x + level * keras.random.normal(ops.shape(x), seed=seed), 0.0, 1.0)
    keep = ops.cast(keras.random.uniform(ops.shape(x), seed=seed) >= level, x.dtype)
    return x * keep


@keras.saving.register_keras_serializable(package="vae_tf")
class Autoencoder(SharedStep, ChecksImageArrays, keras.Model):
    """Deterministic autoencoder trained on reconstruction loss only.

    Args:
        encoder: model from images to a code ``(batch, code_dim)``
            (``vae_tf.build_encoder(..., variational=False)``), or to a list whose first
            element is the code (a VAE encoder's ``z_mean``).
        decoder: model from codes to decoder outputs of image shape.
        loss: ``"bernoulli"`` (``-log p(x | sigmoid(out))``, nats), ``"gaussian"`` (nats, with
            ``sigma``) or ``"squared_error"`` (sum of squared errors with a *linear* output,
            the loss PCA minimises).
        corruption: ``None``, ``"gaussian"`` or ``"masking"``: a denoising autoencoder sees
            corrupted inputs (in ``fit`` and ``evaluate``) and reconstructs the clean ones.
        noise_level: standard deviation (gaussian) or drop probability (masking).
        seed: seed of the corruption noise.

    The metric ``loss`` is the per-example loss averaged over every example seen. Inputs are
    images by the pixel rule of :mod:`vae_tf.core.inputs`, except for ``"squared_error"``, which
    takes any finite real values (it is PCA's loss). ``fit``/``evaluate`` check them first.
    """

    #: Capability flag shared with the VAE family: an autoencoder takes no digit.
    conditions_on_digits = False

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        loss: str = "bernoulli",
        sigma: float = 0.1,
        corruption: str | None = None,
        noise_level: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if loss not in AE_LOSSES:
            raise ValueError(f"loss must be one of {AE_LOSSES}, got {loss!r}.")
        if loss == "gaussian" and not float(sigma) > 0:
            raise ValueError(f"sigma must be a positive number, got {sigma!r}.")
        corrupt(np.zeros((1, 1), "float32"), corruption, noise_level)  # validates both
        if corruption is None and float(noise_level) != 0:
            raise ValueError(
                f"noise_level={noise_level!r} has no effect without a corruption; "
                f"pass corruption='gaussian' or 'masking' for a denoising autoencoder."
            )
        self.encoder = encoder
        self.decoder = decoder
        self.reconstruction = loss
        # the code is the encoder's first output, h (a VAE encoder's z_mean); logits unless squared_error
        check_networks(self, ({"h": ("code_dim",)}, ("code_dim",)), build="vae_tf.build_encoder(variational=False)",
                       logits=self.inputs_are_pixels)
        self.sigma = float(sigma)
        self.corruption = corruption
        self.noise_level = float(noise_level)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker]

    def loss_terms(self, x, y=None, training: bool = False) -> dict:
        """``{"loss": ...}``: the reconstruction loss of each example, float32 ``(batch,)`` (nats, or
        summed squared error), written in :meth:`per_example_loss`; ``y`` is ignored. The shared
        step (:mod:`vae_tf.family.step`) trains on it."""
        return {"loss": self.per_example_loss(x, training=training)}

    def images_of(self, data):
        """The batch's inputs as float32: pixels by the pixel rule, or any reals for ``"squared_error"``."""
        if self.inputs_are_pixels:
            return pixels_of(data, self.image_shape)
        return ops.cast(keras.utils.unpack_x_y_sample_weight(data)[0], "float32")

    def as_model_input(self, x, *, name: str = "x") -> np.ndarray:
        """``x`` as the float32 batch ``(n, *image_shape)`` (:func:`vae_tf.core.inputs.as_model_input`)."""
        return as_model_input(x, self.image_shape, pixels=self.inputs_are_pixels, name=name)

    @property
    def inputs_are_pixels(self) -> bool:
        """False for ``"squared_error"``: a linear autoencoder of any real data."""
        return self.reconstruction != "squared_error"

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.encoder.inputs[0].shape[1:])

    def _code(self, x, training: bool = False):
        h = self.encoder(x, training=training)
        return h[0] if isinstance(h, (list, tuple)) else h

    def _output(self, out):
        out = ops.cast(out, "float32")
        return out if self.reconstruction == "squared_error" else ops.sigmoid(out)

    def call(self, inputs, training: bool = False):
        """Reconstructions of ``inputs`` (no corruption), same shape; ``uint8`` pixels are divided by 255."""
        x = self.images_of(inputs)
        return self._output(self.decoder(self._code(x, training), training=training))

    def per_example_loss(self, x, training: bool = False):
        """Reconstruction loss of each example, shape ``(batch,)``; corrupts the input first
        if this is a denoising autoencoder."""
        x_in = corrupt(x, self.corruption, self.noise_level, self.seed_generator)
        return self._loss(x, self.decoder(self._code(x_in, training), training=training))

    def _loss(self, x, out):
        """Per-example loss ``(batch,)`` of targets ``x`` given decoder outputs ``out`` (float32)."""
        out = ops.cast(out, "float32")
        if self.reconstruction == "bernoulli":
            return -bernoulli_log_likelihood(x, out)
        if self.reconstruction == "gaussian":
            return -gaussian_log_likelihood(x, ops.sigmoid(out), self.sigma)
        axes = tuple(range(1, len(out.shape)))
        return ops.sum(ops.square(ops.cast(x, out.dtype) - out), axis=axes)

    def reconstruction_loss(self, x, x_input=None, *, batch_size: int = 512) -> np.ndarray:
        """Loss of reconstructing clean images ``x`` from inputs ``x_input`` (default ``x``),
        per example: NumPy ``(n,)``, nats (or summed squared error). Applies **no**
        corruption, so two models can be scored on the same noisy inputs.
        Raises :class:`vae_tf.InputError` for bad inputs or if ``x`` and ``x_input`` differ in shape."""
        x = self.as_model_input(x)
        x_input = x if x_input is None else self.as_model_input(x_input, name="x_input")
        if x_input.shape != x.shape:
            raise InputError(f"x_input must have the shape of x, {x.shape}, got {x_input.shape}.")

        def fn(inputs, target):
            return (self._loss(target, self.decoder(self._code(inputs, training=False), training=False)),)

        return in_batches(fn, x_input, x, batch_size=batch_size)[0]

    def encode(self, x, *, batch_size: int = 512) -> np.ndarray:
        """Codes of images ``x``: NumPy ``(n, code_dim)``."""
        return in_batches(lambda b: (self._code(b),), self.as_model_input(x), batch_size=batch_size)[0]

    def decode(self, h, *, batch_size: int = 512) -> np.ndarray:
        """Reconstructions (pixel means, or raw outputs for ``"squared_error"``) of codes ``h``
        ``(n, code_dim)``: NumPy ``(n, *image_shape)``."""
        h = as_finite(h, "h")
        return in_batches(lambda b: (self._output(self.decoder(b, training=False)),), h, batch_size=batch_size)[0]

    def reconstruct(self, x, *, batch_size: int = 512) -> np.ndarray:
        """``decode(encode(x))``; for a denoising autoencoder pass the noisy images to denoise."""
        return in_batches(lambda b: (self(b, training=False),), self.as_model_input(x), batch_size=batch_size)[0]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "loss": self.reconstruction,
                "sigma": self.sigma,
                "corruption": self.corruption,
                "noise_level": self.noise_level,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return cls(**deserialize_networks(config, custom_objects))

