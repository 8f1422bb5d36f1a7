"""The optimizer the command line uses under ``tf.distribute`` with mixed precision.

On one device it is Keras's ``LossScaleOptimizer`` unchanged; ``tests/test_distribute.py`` checks
that the upstream behaviour it works around is still there.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="vae_tf")
class ReplicaLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """``keras.optimizers.LossScaleOptimizer`` whose "are the gradients finite?" test covers every
    replica. Keras's own (3.x, TensorFlow backend) asks only the first replica, assuming the
    gradients were already summed, which they are not yet: a step whose overflow happened on
    another replica is applied, and inf/NaN reaches the weights (a 2-replica mixed-precision
    run diverged in its first epoch). On one device it is Keras's optimizer unchanged."""

    def check_finite(self, grads):
        finite = super().check_finite(grads)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return finite
        overflows = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), tf.float32))
        return tf.equal(overflows, 0.0)
