"""What a ``train_step`` needs to train under ``tf.distribute`` exactly as on one device.

Outside a strategy each function here is the plain operation (a mean, the logs unchanged);
the optimizer's part is :mod:`vae_tf.core.optimizers`. Each exists because public Keras or TensorFlow gives another
result, named below; ``tests/test_distribute.py`` checks each still does, so that the workaround
can go once upstream changes.
"""

from __future__ import annotations

import tensorflow as tf
from keras import ops


def global_batch_mean(values):
    """The batch mean of per-example ``values`` ``(batch,)`` to differentiate in a ``train_step``.

    On one device, ``ops.mean(values)``. Under a ``tf.distribute`` strategy each replica holds
    part of the batch and the optimizer sums the replicas' gradients, so each replica returns
    ``sum(its values) / (examples on all replicas)``: the replicas' terms add up to the mean over
    the global batch, also when the last batch splits unevenly (3 + 2 examples).
    ``tf.nn.compute_average_loss`` divides by the replica's own batch times the number of
    replicas, which weights such a batch's examples unequally.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return ops.mean(values)
    values = tf.convert_to_tensor(values)
    count = tf.cast(tf.shape(values)[0], values.dtype)
    return tf.reduce_sum(values) / context.all_reduce(tf.distribute.ReduceOp.SUM, count)


def step_logs(metrics) -> dict:
    """What ``train_step``/``test_step`` return: ``{metric.name: metric.result()}``.

    Under ``MultiWorkerMirroredStrategy`` each value gets shape ``(1,)``: Keras reduces a step's
    outputs across workers with ``strategy.reduce("MEAN", v, axis=0)``, which fails on a scalar
    (``Invalid reduction dimension 0``; tensorflow/tensorflow#72388). The epoch's logged values
    are unaffected: Keras reads them from the metrics at the epoch's end.
    """
    logs = {m.name: m.result() for m in metrics}
    if not isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return logs
    return {name: tf.reshape(value, (1,)) for name, value in logs.items()}
