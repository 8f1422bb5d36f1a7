"""Distributed checks run in fresh processes by tests/test_distribute.py (TensorFlow's device
split must be set before it initialises, which the pytest process has already done).

    python tests/distribute_checks.py equivalence        # 2 logical CPUs vs one device
    python tests/distribute_checks.py family OUT_DIR     # every model under MirroredStrategy
    python tests/distribute_checks.py vq_ema             # the VQ-VAE's EMA codebook: 2 replicas vs one device
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

    from vae_tf.family import gumbel, vqvae

    small, grid = {"hidden_units": (32,)}, {"embedding_dim": 4, "filters": (8, 16)}
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
        "IWAE": lambda: vae_tf.IWAE(vae_tf.build_encoder(**small), vae_tf.build_decoder(**small), k=3, seed=1),
        "GumbelSoftmaxVAE": lambda: vae_tf.GumbelSoftmaxVAE(
            gumbel.build_categorical_encoder(4, 5, **small), gumbel.build_categorical_decoder(4, 5, **small), seed=1
        ),
        "VQVAE": lambda: vae_tf.VQVAE(vqvae.build_vq_encoder(**grid), vqvae.build_vq_decoder(**grid), 8, seed=1),
        "VQVAE_ema": lambda: vae_tf.VQVAE(vqvae.build_vq_encoder(**grid), vqvae.build_vq_decoder(**grid), 8, ema=True, seed=1),
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
            "loss_weights": getattr(model, "loss_weights", {}),
        }
    report(result)


def vq_ema() -> None:
    """A VQ-VAE with the EMA codebook trained two SGD steps of 8 examples (4 per replica) on one
    device and on 2 replicas from the same weights: each replica's codebook and EMA state equal
    one device's, which needs the code counts and sums of both halves of the batch."""
    strategy = distribute.strategy_from_name("mirrored", logical_cpus=2)
    import keras
    import tensorflow as tf
    from vae_tf.family.vqvae import build_vq_decoder, build_vq_encoder

    def model(weights=None):
        keras.utils.set_random_seed(0)
        grid = {"embedding_dim": 4, "filters": (8, 16)}
        vq = vae_tf.VQVAE(build_vq_encoder(**grid), build_vq_decoder(**grid), 8, ema=True, decay=0.5, seed=0)
        if weights is not None:
            vq.set_weights(weights)
        vq.compile(optimizer=keras.optimizers.SGD(0.05))
        return vq

    x, _ = images(16)
    single = model()
    start = {w.path: keras.ops.convert_to_numpy(w) for w in single.quantizer.weights}
    weights = single.get_weights()
    single.fit(x, batch_size=8, epochs=1, shuffle=False, verbose=0)
    with strategy.scope():
        mirrored = model(weights)
    mirrored.fit(x, batch_size=8, epochs=1, shuffle=False, verbose=0)
    per_replica = strategy.run(lambda: [tf.identity(w) for w in mirrored.quantizer.weights])  # each replica's copy
    replicas = [[np.array(t) for t in local] for local in strategy.experimental_local_results(per_replica)]
    one = [keras.ops.convert_to_numpy(w) for w in single.quantizer.weights]
    report({
        "replicas": strategy.num_replicas_in_sync,
        "steps": [int(keras.ops.convert_to_numpy(m.optimizer.iterations)) for m in (single, mirrored)],
        "names": [w.name for w in single.quantizer.weights],
        "moved": max(float(np.max(np.abs(a - start[w.path]))) for a, w in zip(one, single.quantizer.weights)),
        "max_relative_diff": max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for local in replicas for a, b in zip(local, one)),
    })  # fmt: skip


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
    {"equivalence": equivalence, "family": family, "vq_ema": vq_ema, "worker": worker, "upstream": upstream}[sys.argv[1]]()
