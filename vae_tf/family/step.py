"""The one training and test step the family's models share.

Each model of the family writes its loss once, in :meth:`loss_terms` in its own file:
``loss_terms(x, y, training)`` returns a dict of float32 tensors, the per-example terms ``(batch,)``
in nats (plus, for some models, a diagnostic such as the VQ-VAE's ``code_counts``), with
``"loss"`` the objective. :class:`SharedStep` turns that into Keras's ``train_step`` and
``test_step``: the gradient of the batch mean of ``loss`` (all replicas' under ``tf.distribute``,
scaled under mixed precision), and every tracker in ``model.metrics`` updated from the term of
its name. :class:`vae_tf.VAE` writes the same step out inline, for a first reading.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ..core.inputs import pixels_of
from ..core.replicas import global_batch_mean, step_logs


class SharedStep:
    """Mixed in before ``keras.Model`` (or :class:`vae_tf.VAE`): ``train_step`` and ``test_step``
    from the model's ``loss_terms(x, y=None, training=False) -> dict`` (module docstring).

    The model provides ``loss_terms``, ``metrics`` (trackers named after terms) and ``image_shape``;
    it may override :meth:`images_of` (the batch's inputs as float32). A model with a side effect
    of training (the VQ-VAE's EMA codebook) does it in ``loss_terms(training=True)``, once per call.
    """

    def images_of(self, x):
        """The batch's images as float32 ``(batch, *image_shape)`` (:func:`vae_tf.core.inputs.pixels_of`)."""
        return pixels_of(x, self.image_shape)

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(self.images_of(x), y, training=True)  # per example, (batch,), nats
            # mean over the batch (all replicas' under tf.distribute); scaled under mixed precision
            scaled_loss = self.optimizer.scale_loss(global_batch_mean(terms["loss"]))
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self.logged(terms)

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.logged(self.loss_terms(self.images_of(x), y))

    def logged(self, terms: dict) -> dict:
        """Update each tracker of ``self.metrics`` from the term of its name; the step's logs."""
        for tracker in self.metrics:
            tracker.update_state(terms[tracker.name])
        return step_logs(self.metrics)
