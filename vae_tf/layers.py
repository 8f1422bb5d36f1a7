"""Keras layers used by the VAE models."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="vae_tf")
class Sampling(keras.layers.Layer):
    """Reparameterization trick: draw ``z ~ N(z_mean, exp(z_log_var))``.

    Call with ``[z_mean, z_log_var]`` (two tensors of shape ``(batch, latent_dim)``) and get
    ``z = z_mean + exp(0.5 * z_log_var) * eps`` with ``eps ~ N(0, I)`` of the same shape.
    ``z`` is a differentiable function of ``z_mean`` and ``z_log_var``, so gradients flow
    through the sample. Randomness comes from a ``keras.random.SeedGenerator(seed)``: the same
    seed gives the same sequence of draws.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"seed": self.seed})
        return config
