"""The variational autoencoder: a ``keras.Model`` whose ``train_step`` computes the ELBO.

Read it top to bottom: the constructor, the metrics, then ``train_step``, where one batch goes
encoder -> ``Sampling`` -> decoder -> reconstruction term -> KL term -> loss -> gradients.
After ``test_step`` come the hooks the family overrides and what users of a trained model call.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from .inputs import ChecksImageArrays, InputError, as_codes, as_model_input, check_count, in_batches, pixels_of
from .layers import Sampling
from .losses import check_likelihood, kl_divergence, pixel_mean, reconstruction_log_likelihood
from .networks import check_beta, check_networks, check_sigma, deserialize_networks
from .replicas import global_batch_mean, step_logs


@keras.saving.register_keras_serializable(package="vae_tf")
class VAE(ChecksImageArrays, keras.Model):
    """Variational autoencoder ``p(x|z) p(z)``, ``p(z) = N(0, I)``, with encoder ``q(z|x)``.

    Args:
        encoder: images ``(batch, *image_shape)`` to ``[z_mean, z_log_var, ...]``, each
            ``(batch, latent_dim)`` (:func:`vae_tf.build_encoder`); the first two outputs are used.
        decoder: codes ``(batch, latent_dim)`` to pixel **logits** ``(batch, *image_shape)``,
            no output activation (:func:`vae_tf.build_decoder`).
        beta: weight of the KL term (1: the ELBO; otherwise a beta-VAE).
        likelihood: ``"bernoulli"``, ``"continuous_bernoulli"`` or ``"gaussian"``
            (:func:`vae_tf.reconstruction_log_likelihood`).
        sigma: standard deviation of the Gaussian likelihood.
        seed: seed of the reparameterization noise.

    Every loss is per image, in nats (summed over pixels and latent dimensions); the logged
    ``loss``, ``reconstruction_loss`` and ``kl_loss`` are means over the images seen, so
    ``loss == reconstruction_loss + beta * kl_loss``. Raises ``ValueError`` for a bad
    argument, and :class:`vae_tf.InputError` for an encoder or decoder that does not fit.
    """

    conditions_on_digits = False  # True for the models that generate a chosen digit

    def __init__(self, encoder, decoder, beta=1.0, likelihood="bernoulli", sigma=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.beta = check_beta(beta)
        self.likelihood = check_likelihood(likelihood)
        self.sigma = check_sigma(sigma)
        self.seed = seed
        self.sampling = Sampling(seed=seed, name="sampling")
        check_networks(self)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.built = True  # the encoder and decoder are built: save/load need no first call

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        x = pixels_of(data, self.image_shape)  # float32 images in [0, 1]; labels, if any, unused
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(x, training=True)[:2]  # q(z|x), each (batch, latent_dim)
            z_mean, z_log_var = ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32")  # (mixed precision)
            z = self.sampling([z_mean, z_log_var])  # z = z_mean + exp(z_log_var / 2) * eps
            logits = ops.cast(self.decoder(z, training=True), "float32")
            # per image, in nats: -log p(x|z) for this one z, and KL(q(z|x) || N(0, I))
            reconstruction_loss = -reconstruction_log_likelihood(x, logits, self.likelihood, self.sigma)
            kl_loss = kl_divergence(z_mean, z_log_var)
            loss = reconstruction_loss + self.beta * kl_loss  # -ELBO when beta = 1
            # mean over the batch (all replicas' under tf.distribute); scaled under mixed precision
            scaled_loss = self.optimizer.scale_loss(global_batch_mean(loss))
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self.loss_tracker.update_state(loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return step_logs(self.metrics)  # {"loss": ..., "reconstruction_loss": ..., "kl_loss": ...}

    def test_step(self, data):
        _, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        terms = self.loss_terms(pixels_of(data, self.image_shape), y)
        for tracker in self.metrics:
            tracker.update_state(terms[tracker.name])
        return step_logs(self.metrics)

    def loss_terms(self, x, y=None, training=False) -> dict:
        """``train_step``'s terms without the gradient step (``test_step`` and the family use it):
        float32 tensors ``(batch,)`` in nats, one ``z ~ q(z|x)`` per image. ``y``: labels, the
        digits of :meth:`posterior` and :meth:`decoder_logits` (ignored here)."""
        z_mean, z_log_var = self.posterior(x, y, training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder_logits(z, y, training=training)
        reconstruction_loss = -reconstruction_log_likelihood(x, logits, self.likelihood, self.sigma)
        kl_loss = kl_divergence(z_mean, z_log_var)
        loss = reconstruction_loss + self.beta * kl_loss
        return {"loss": loss, "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}

    @property
    def loss_weights(self) -> dict:
        """Weight of each logged term in ``loss``: ``loss = sum(weight * term)``."""
        return {"reconstruction_loss": 1.0, "kl_loss": self.beta}

    # ------------------------------------------------------------ the networks, as the family calls them
    def posterior(self, x, digits=None, training=False):
        """``(z_mean, z_log_var)`` of ``q(z|x)``, float32 tensors ``(batch, latent_dim)``.
        ``digits`` (integer labels) are for the digit-conditioned models; this model ignores them."""
        z_mean, z_log_var = self.encoder(x, training=training)[:2]
        return ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32")

    def decoder_logits(self, z, digits=None, training=False):
        """The decoder's float32 logits ``(batch, *image_shape)`` for codes ``z``."""
        return ops.cast(self.decoder(z, training=training), "float32")

    def call(self, inputs, training=False):
        """Reconstructions: the pixel means ``E[x | z = z_mean]`` ``(batch, *image_shape)``;
        ``inputs``: images (``uint8`` 0-255 is divided by 255), or ``(images, digits)`` for a
        digit-conditioned model."""
        x, digits = inputs if isinstance(inputs, (list, tuple)) else (inputs, None)
        x = pixels_of(x, self.image_shape)
        z_mean, _ = self.posterior(x, digits, training=training)
        return pixel_mean(self.decoder_logits(z_mean, digits, training=training), self.likelihood)

    # ------------------------------------------------------------ using a trained model
    @property
    def latent_dim(self) -> int:
        return int(self.encoder.outputs[0].shape[-1])

    @property
    def image_shape(self) -> tuple:
        return tuple(int(d) for d in self.decoder.outputs[0].shape[1:])

    def encode(self, x, *, digits=None, batch_size: int = 512):
        """``(z_mean, z_log_var)`` of ``q(z|x)`` for images ``x`` ``(n, *image_shape)`` (pixel
        rule of :mod:`vae_tf.core.inputs`): NumPy, each ``(n, latent_dim)``. Raises :class:`vae_tf.InputError`."""
        x = self.as_model_input(x)
        labels = self.digit_array(digits, len(x))
        return tuple(in_batches(lambda xb, *lb: self.posterior(xb, *lb), x, *labels, batch_size=batch_size))

    def decode(self, z, *, digits=None, batch_size: int = 512) -> np.ndarray:
        """Pixel means in ``[0, 1]`` for codes ``z`` ``(n, latent_dim)``: NumPy ``(n, *image_shape)``.
        Raises :class:`vae_tf.InputError`."""
        z = as_codes(z, self.latent_dim)
        labels = self.digit_array(digits, len(z))
        fn = lambda zb, *lb: (pixel_mean(self.decoder_logits(zb, *lb), self.likelihood),)  # noqa: E731
        return in_batches(fn, z, *labels, batch_size=batch_size)[0]

    def reconstruct(self, x, *, digits=None, batch_size: int = 512) -> np.ndarray:
        """Decode the posterior mean of each image: pixel means, NumPy ``(n, *image_shape)``."""
        x = self.as_model_input(x)
        labels = self.digit_array(digits, len(x))
        fn = lambda xb, *lb: (self((xb, *lb) if lb else xb),)  # noqa: E731
        return in_batches(fn, x, *labels, batch_size=batch_size)[0]

    def sample(self, n: int, *, digits=None, seed: int | None = None) -> np.ndarray:
        """``n`` images ``z ~ N(0, I)`` decoded to pixel means, NumPy ``(n, *image_shape)``.
        Same ``seed``, same images."""
        n = check_count(n)
        seed = None if seed is None else check_count(seed, name="seed", minimum=0)
        z = ops.convert_to_numpy(keras.random.normal((n, self.latent_dim), seed=seed))
        return self.decode(z, digits=digits)

    def kl_per_dimension(self, x, *, digits=None, batch_size: int = 512) -> np.ndarray:
        """Mean over ``x`` of ``KL(q(z_i|x) || N(0, 1))`` per latent dimension ``i``: ``(latent_dim,)``,
        nats. Dimensions near 0 are unused (posterior collapse)."""
        z_mean, z_log_var = self.encode(x, digits=digits, batch_size=batch_size)
        return ops.convert_to_numpy(ops.mean(kl_divergence(z_mean, z_log_var, per_dimension=True), axis=0))

    def digit_array(self, digits, n: int) -> tuple:
        """``()``: this model takes no digits and refuses them (:class:`vae_tf.InputError`); the
        digit-conditioned models return ``(labels,)``, ``n`` class indices."""
        if digits is not None:
            raise InputError(
                f"{type(self).__name__} is not digit-conditioned: call it without digits= "
                "(ConditionalVAE and AuxiliaryClassifierVAE take them)."
            )
        return ()

    def as_model_input(self, x, *, name: str = "x") -> np.ndarray:
        """``x`` as the model's float32 batch ``(n, *image_shape)`` (:func:`vae_tf.core.inputs.as_model_input`)."""
        return as_model_input(x, self.image_shape, name=name)

    # ------------------------------------------------------------ saving
    def get_config(self) -> dict:
        networks = {"encoder": self.encoder, "decoder": self.decoder}
        return {**super().get_config(), **{k: keras.saving.serialize_keras_object(v) for k, v in networks.items()},
                "beta": self.beta, "likelihood": self.likelihood, "sigma": self.sigma, "seed": self.seed}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**deserialize_networks(config, custom_objects))
