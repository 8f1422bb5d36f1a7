"""The command line's speed settings (XLA, ``steps_per_execution``) change speed only.

``VAE.compile`` is Keras's own; the command line passes both settings explicitly
(:func:`vae_tf.app.training.compile_options`), and so do the notebooks. Checked here:

* which settings the command line picks, and that they survive save/load;
* with the reparameterization noise fixed, a few training steps on the fast path and on the
  plain path (``jit_compile=False, steps_per_execution=1``) give the same weights and metrics;
* with the model's own (seeded) noise, both paths reach the same held-out ELBO.
"""

import os
import warnings
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import vae_tf
from vae_tf.app.training import STEPS_PER_EXECUTION, compile_options

PLAIN = {"jit_compile": False, "steps_per_execution": 1}
FAST = {"jit_compile": True, "steps_per_execution": STEPS_PER_EXECUTION}


@pytest.fixture(scope="module")
def mnist():
    (x_train, y_train), (x_test, _) = vae_tf.load_mnist()
    return x_train[:2048], y_train[:2048], x_test[:1000]


def _vae(seed=0, arch="mlp"):
    keras.utils.set_random_seed(seed)
    return vae_tf.VAE(
        vae_tf.build_encoder(latent_dim=2, arch=arch),
        vae_tf.build_decoder(latent_dim=2, arch=arch),
        seed=seed,
    )


class FixedNoise(keras.layers.Layer):
    """``z = z_mean + exp(z_log_var / 2) * eps`` with a fixed ``eps``: removes the RNG."""

    def __init__(self, eps, **kwargs):
        super().__init__(**kwargs)
        self.eps = np.asarray(eps, dtype="float32")

    def call(self, inputs):
        z_mean, z_log_var = inputs
        return z_mean + ops.exp(0.5 * z_log_var) * ops.cast(self.eps, z_mean.dtype)


def test_vae_compile_is_keras_own():
    vae = _vae()
    vae.compile(optimizer="adam")
    assert vae.steps_per_execution == 1  # Keras's defaults: nothing hidden in the model
    on_cpu_only = all(d.device_type == "CPU" for d in tf.config.list_physical_devices())
    assert vae.jit_compile is (not on_cpu_only)  # Keras's "auto" leaves XLA off on a CPU


def test_the_command_line_picks_xla_for_dense_models_and_32_steps_per_execution():
    on_cpu_only = all(d.device_type == "CPU" for d in tf.config.list_physical_devices())
    run = lambda **kw: SimpleNamespace(**{"quick": False, "arch": "mlp", **kw})  # noqa: E731
    assert compile_options(run(), distributed=False) == FAST
    # on a CPU XLA's convolutions are slower than oneDNN's; a quick run's steps do not repay XLA's compile
    assert compile_options(run(arch="conv"), distributed=False)["jit_compile"] is (not on_cpu_only)
    assert compile_options(run(quick=True), distributed=False) == {**FAST, "jit_compile": False}
    assert compile_options(run(), distributed=True) == PLAIN  # keras-team/keras#19246


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_fast_path_does_the_same_maths_as_the_plain_path(mnist, arch):
    x = vae_tf.scale_images(mnist[0][:384])  # 3 full batches of 128
    eps = np.random.default_rng(0).standard_normal((128, 2)).astype("float32")
    models, histories = [], []
    on_cpu_only = all(d.device_type == "CPU" for d in tf.config.list_physical_devices())
    fast_options = {**FAST, "jit_compile": arch == "mlp" or not on_cpu_only}  # as compile_options picks
    for kwargs in (fast_options, PLAIN):
        vae = _vae(seed=0, arch=arch)
        vae.sampling = FixedNoise(eps)
        if models:
            vae.set_weights(models[0].get_weights())
        vae.compile(optimizer=keras.optimizers.Adam(1e-3), **kwargs)
        models.append(vae)
    initial = [w.copy() for w in models[0].get_weights()]
    for vae in models:
        histories.append(vae.fit(x, batch_size=128, epochs=2, shuffle=False, verbose=0).history)
    fast, plain = models
    assert fast.jit_compile == fast_options["jit_compile"] and not plain.jit_compile
    assert fast.steps_per_execution == STEPS_PER_EXECUTION and plain.steps_per_execution == 1
    assert int(fast.optimizer.iterations) == int(plain.optimizer.iterations) == 6
    moved = 0
    for w_fast, w_plain, w0 in zip(fast.get_weights(), plain.get_weights(), initial):
        np.testing.assert_allclose(w_fast, w_plain, rtol=1e-4, atol=1e-6)
        moved += int(np.abs(w_fast - w0).max() > 1e-4)
    assert moved >= 8  # training really changed the weights (not a vacuous comparison)
    for name in ("loss", "reconstruction_loss", "kl_loss"):
        np.testing.assert_allclose(histories[0][name], histories[1][name], rtol=1e-5)


def test_fast_and_plain_path_reach_the_same_held_out_elbo(mnist):
    x_fit, _, x_test = mnist
    test_ds = vae_tf.make_dataset(x_test, shuffle=False)
    results = {}
    for name, kwargs in (("fast", FAST), ("plain", PLAIN)):
        vae = _vae(seed=0)
        vae.compile(optimizer=keras.optimizers.Adam(1e-3), **kwargs)
        vae.fit(vae_tf.make_dataset(x_fit, seed=0), epochs=4, verbose=0)
        # held-out -ELBO, nats per image, averaged over 3 noise draws per image
        results[name] = np.mean([vae.evaluate(test_ds, verbose=0, return_dict=True)["loss"] for _ in range(3)])
    untrained = _vae(seed=0)
    untrained.compile(optimizer="adam")
    start = untrained.evaluate(test_ds, verbose=0, return_dict=True)["loss"]
    assert results["fast"] < start - 200  # both trained (from ~540 nats)
    assert results["plain"] < start - 200
    # different RNG streams under XLA: same ELBO up to Monte Carlo / training noise (~1-2 nats)
    assert abs(results["fast"] - results["plain"]) < 0.03 * results["plain"], results


def test_save_load_round_trip_keeps_the_compile_config(mnist, tmp_path):
    x_fit, _, x_test = mnist
    vae = _vae(seed=1)
    vae.compile(optimizer=keras.optimizers.Adam(2e-3), **FAST)
    vae.fit(vae_tf.make_dataset(x_fit[:512], seed=0), epochs=1, verbose=0)
    path = tmp_path / "vae.keras"
    vae.save(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*compile.*")  # Keras warns if it skips compile
        loaded = keras.models.load_model(path)
    assert loaded.jit_compile is True
    assert loaded.steps_per_execution == STEPS_PER_EXECUTION
    assert float(loaded.optimizer.learning_rate) == pytest.approx(2e-3)
    assert int(loaded.optimizer.iterations) == int(vae.optimizer.iterations) == 4
    for a, b in zip(vae.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    x_check = vae_tf.scale_images(x_test[:64])  # (64, 28, 28, 1) in [0, 1]: encode checks its input now
    np.testing.assert_array_equal(vae.encode(x_check)[0], loaded.encode(x_check)[0])
    loaded.fit(vae_tf.make_dataset(x_fit[:512], seed=0), epochs=1, verbose=0)  # training resumes
    assert int(loaded.optimizer.iterations) == 8

    plain = _vae(seed=1)
    plain.compile(optimizer="adam", **PLAIN)
    plain.fit(vae_tf.make_dataset(x_fit[:128]), epochs=1, verbose=0)  # builds the optimizer state
    plain.save(tmp_path / "plain.keras")
    reloaded = keras.models.load_model(tmp_path / "plain.keras")
    assert reloaded.jit_compile is False and reloaded.steps_per_execution == 1  # a user's choice is kept


def test_conditional_models_train_under_xla(mnist):
    x, y, _ = mnist
    ds = vae_tf.make_dataset(x[:512], y[:512], seed=0)
    keras.utils.set_random_seed(0)
    cvae = vae_tf.ConditionalVAE(vae_tf.build_encoder(condition_dim=10), vae_tf.build_decoder(condition_dim=10))
    acvae = vae_tf.AuxiliaryClassifierVAE(
        vae_tf.build_encoder(), vae_tf.build_decoder(condition_dim=10), vae_tf.build_classifier()
    )
    for model in (cvae, acvae):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), **FAST)
        history = model.fit(ds, epochs=2, verbose=0).history
        assert np.isfinite(history["loss"]).all() and history["loss"][1] < history["loss"][0]
