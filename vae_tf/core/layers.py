"""The reparameterization trick, as a function and as the layer the VAE models use."""

from __future__ import annotations

import keras
from keras import ops


def reparameterize(z_mean, z_log_var, eps):
    """``z = z_mean + exp(z_log_var / 2) * eps``: a draw from ``N(z_mean, exp(z_log_var))`` for
    ``eps ~ N(0, I)``, differentiable in ``z_mean`` and ``z_log_var``. Shapes broadcast."""
    return z_mean + ops.exp(0.5 * z_log_var) * eps


class SeededLayer(keras.layers.Layer):
    """A layer that draws noise from ``self.seed_generator`` (a ``keras.random.SeedGenerator(seed)``)
    and saves the generator's state with the model: after ``save``/``load_model`` the next draw
    equals the one the original would make next. Files saved before the state was stored start
    again from ``seed``. Subclassed by :class:`Sampling` and the family's noisy layers."""

    STATE_KEY = "seed_generator_state"

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def save_own_variables(self, store) -> None:
        super().save_own_variables(store)
        store[self.STATE_KEY] = self.seed_generator.state

    def load_own_variables(self, store) -> None:
        if self.STATE_KEY in store.keys():
            self.seed_generator.state.assign(store[self.STATE_KEY])
        super().load_own_variables({k: store[k] for k in store.keys() if k != self.STATE_KEY})

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="vae_tf")
class Sampling(SeededLayer):
    """Reparameterization trick: draw ``z ~ N(z_mean, exp(z_log_var))``.

    Call with ``[z_mean, z_log_var]`` (two tensors of shape ``(batch, latent_dim)``) and get
    ``z = z_mean + exp(0.5 * z_log_var) * eps`` with ``eps ~ N(0, I)`` of the same shape.
    ``z`` is a differentiable function of ``z_mean`` and ``z_log_var``, so gradients flow
    through the sample. The noise comes from ``keras.random.SeedGenerator(seed)``, whose state
    is saved with the model (:class:`SeededLayer`).
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        # Nothing to build (no weights): marked built so that `fit` under a tf.distribute
        # strategy does not first call the whole model symbolically to build it.
        self.built = True

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return reparameterize(z_mean, z_log_var, eps)

    def compute_output_shape(self, input_shape):
        return input_shape[0]
