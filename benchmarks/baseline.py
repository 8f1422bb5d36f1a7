"""The plain Keras baseline: the keras.io VAE example's model, written the straightforward way
(a ``keras.Model`` subclass with a ``GradientTape`` ``train_step``, compiled with Keras's
defaults). Both benchmarks train it; importing this module imports Keras and TensorFlow."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


def keras_io_encoder(encoder: keras.Model, seed: int | None = None) -> keras.Model:
    """The keras.io example's encoder: ``encoder``'s ``[z_mean, z_log_var]`` and a third output ``z``
    drawn inside it by a sampling layer (vae_tf's encoders leave the draw to the model)."""
    import vae_tf

    z = vae_tf.Sampling(seed=seed, name="z")(encoder.outputs[:2])
    return keras.Model(encoder.inputs, [*encoder.outputs[:2], z], name=encoder.name)


class PlainVAE(keras.Model):
    """``encoder`` maps images to ``[z_mean, z_log_var, z]``; ``decoder`` maps ``z`` to pixel
    logits. Loss: Bernoulli cross-entropy summed over pixels plus the closed-form KL, in nats
    per image (mean over the batch)."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            logits = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, logits, from_logits=True), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}
