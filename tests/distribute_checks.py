"""Distributed checks run in fresh processes by tests/test_distribute.py (TensorFlow's device
split must be set before it initialises, which the pytest process has already done).

    python tests/distribute_checks.py equivalence        # 2 logical CPUs vs one device
    python tests/distribute_checks.py family             # every model under MirroredStrategy
    python tests/distribute_checks.py worker OUT_DIR     # one MultiWorkerMirroredStrategy worker
    python tests/distribute_checks.py upstream           # the upstream bugs vae_tf.replicas works around

Each prints one JSON line (prefixed ``RESULT ``) for the test to check.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import vae_tf
from vae_tf.app import distribute
def report(result: dict) -> None:
    print("RESULT " + json.dumps(result), flush=True)


def images(n: int) -> tuple[np.ndarray, np.ndarray]:
    (x, y), _ = vae_tf.load_mnist()
    return vae_tf.scale_images(x[:n]), y[:n].astype("int64")


def equivalence() -> None:
    """A VAE trained one epoch with SGD on one device and on 2 replicas from the same weights,
    with the same noise: one full step (8 examples), then an uneven epoch (8 + 5 examples, the
    5 split 3 + 2 over the replicas). SGD, because Adam and RMSprop hide a gradient off by a
    constant factor (their steps are nearly scale-invariant)."""
    strategy = distribute.strategy_from_name("mirrored", logical_cpus=2)
    import keras
    from keras import ops

    class FixedNoise(keras.layers.Layer):
        """The reparameterization with a fixed ``eps = 0.5``: each example gets the same noise
        whichever replica it lands on, which a seeded ``SeedGenerator`` cannot give (each
        replica draws from the same generator state, so their noise differs from one device's).
        A constant, not a function of ``z_mean``: that would amplify float rounding."""

        def call(self, inputs):
            z_mean, z_log_var = inputs
            return z_mean + ops.exp(0.5 * z_log_var) * 0.5

    def model(weights=None):
        keras.utils.set_random_seed(0)
        vae = vae_tf.VAE(
            vae_tf.build_encoder(latent_dim=2, hidden_units=(16,)),
            vae_tf.build_decoder(latent_dim=2, hidden_units=(16,)),
            beta=0.5,
        )
        vae.sampling = FixedNoise()
        if weights is not None:
            vae.set_weights(weights)
        vae.compile(optimizer=keras.optimizers.SGD(0.05))
        return vae

    x, _ = images(13)
    result = {"replicas": strategy.num_replicas_in_sync}
    for name, n in (("step", 8), ("uneven_epoch", 13)):
        single = model()
        start = single.get_weights()
        one = single.fit(x[:n], batch_size=8, epochs=1, shuffle=False, verbose=0).history
        with strategy.scope():
            mirrored = model(start)
        two = mirrored.fit(x[:n], batch_size=8, epochs=1, shuffle=False, verbose=0).history
        result[name] = {
            "max_weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), mirrored.get_weights())),
            "max_update": max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), start)),
            "one_device": {k: v[0] for k, v in one.items()},
            "two_replicas": {k: v[0] for k, v in two.items()},
            "steps_per_execution": int(mirrored.steps_per_execution),
        }
    report(result)


def family() -> None:
    """Each model of the family trains an epoch, evaluates, saves and loads under a 2-replica
    MirroredStrategy with the package's defaults."""
    strategy = distribute.strategy_from_name("mirrored", logical_cpus=2)
    import keras

    small = {"hidden_units": (32,)}
    builders = {
        "VAE": lambda: vae_tf.VAE(vae_tf.build_encoder(**small), vae_tf.build_decoder(**small), seed=1),
        "ConditionalVAE": lambda: vae_tf.ConditionalVAE(
            vae_tf.build_encoder(condition_dim=10, **small), vae_tf.build_decoder(condition_dim=10, **small), seed=1
        ),
        "AuxiliaryClassifierVAE": lambda: vae_tf.AuxiliaryClassifierVAE(
            vae_tf.build_encoder(**small),
            vae_tf.build_decoder(condition_dim=10, **small),
            vae_tf.build_classifier(hidden_units=(32,)),
            seed=1,
        ),
        "Autoencoder": lambda: vae_tf.Autoencoder(
            vae_tf.build_encoder(variational=False, **small), vae_tf.build_decoder(**small)
        ),
    }
    x, y = images(128)
    out = Path(sys.argv[2])
    result = {}
    for name, build in builders.items():
        with strategy.scope():
            model = build()
            model.compile()
        history = model.fit(x, y, batch_size=32, epochs=1, verbose=0).history
        scores = model.evaluate(x[:64], y[:64], batch_size=32, verbose=0, return_dict=True)
        path = out / f"{name}.keras"
        model.save(path)
        with strategy.scope():
            loaded = keras.models.load_model(path)
        same = all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))
        loaded_scores = loaded.evaluate(x[:64], y[:64], batch_size=32, verbose=0, return_dict=True)
        result[name] = {
            "history": {k: v[0] for k, v in history.items()},
            "evaluate": scores,
            "loaded_evaluate": loaded_scores,
            "loaded_weights_equal": same,
            "loaded_class": type(loaded).__name__,
            "steps_per_execution": int(model.steps_per_execution),
            "replicas": model.distribute_strategy.num_replicas_in_sync,
            "loss_weights": {} if name == "Autoencoder" else model.loss_weights,
        }
    report(result)


def upstream() -> None:
    """The two upstream behaviours vae_tf.replicas works around: reducing a per-replica scalar
    with ``axis=0`` under MultiWorkerMirroredStrategy (what Keras does with a step's outputs),
    and ``tf.nn.compute_average_loss`` on a batch split 3 + 2 over two replicas."""
    import tensorflow as tf

    result = {}
    distribute.use_logical_cpus(2)  # before any TensorFlow work: the mirrored strategy below needs it
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # one local worker: no TF_CONFIG
    per_replica = strategy.run(lambda: tf.constant(1.0))
    try:
        strategy.reduce("MEAN", per_replica, axis=0)
        result["scalar_reduce_axis0_fails"] = False
    except Exception:  # InvalidArgumentError / ValueError: "Invalid reduction dimension 0"
        result["scalar_reduce_axis0_fails"] = True
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    values = tf.constant([1.0, 2.0, 3.0, 4.0, 10.0])
    dataset = mirrored.experimental_distribute_dataset(tf.data.Dataset.from_tensors(values).unbatch().batch(5))
    batch = next(iter(dataset))
    from vae_tf.core.replicas import global_batch_mean

    for name, fn in (("compute_average_loss_uneven", tf.nn.compute_average_loss), ("global_mean", global_batch_mean)):
        result[name] = float(mirrored.reduce("SUM", mirrored.run(fn, args=(batch,)), axis=None))
    report(result)


def worker() -> None:
    """One worker of a MultiWorkerMirroredStrategy cluster (``$TF_CONFIG`` set by the caller):
    train a small VAE for one epoch; the chief's ``model.keras`` is the one kept."""
    out = Path(sys.argv[2])
    strategy = distribute.strategy_from_name("multi-worker")
    x, _ = images(512)
    with strategy.scope():
        model = vae_tf.VAE(vae_tf.build_encoder(hidden_units=(64,)), vae_tf.build_decoder(hidden_units=(64,)), seed=1)
        model.compile()
    history = model.fit(x, batch_size=64, epochs=1, verbose=0).history
    with distribute.chief_path(out / "model.keras") as target:
        model.save(target)
    kind, index = distribute.task()
    report({"task": f"{kind}-{index}", "chief": distribute.is_chief(), "history": history,
            "replicas": strategy.num_replicas_in_sync, "steps_per_execution": int(model.steps_per_execution)})


if __name__ == "__main__":
    {"equivalence": equivalence, "family": family, "worker": worker, "upstream": upstream}[sys.argv[1]]()
