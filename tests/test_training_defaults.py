"""The fast training defaults of ``VAE.compile`` (XLA, steps_per_execution) change speed only.

* the defaults are really in effect, overridable, and survive save/load;
* with the reparameterization noise fixed, a few training steps on the default path and on the
  plain path (``jit_compile=False, steps_per_execution=1``) give the same weights and metrics;
* with the model's own (seeded) noise, both paths reach the same held-out ELBO.
"""

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import vae_tf
from vae_tf.models import DEFAULT_STEPS_PER_EXECUTION

PLAIN = {"jit_compile": False, "steps_per_execution": 1}


@pytest.fixture(autouse=True)
def full_mode(monkeypatch):
    """These are the full-run defaults: quick mode (the test suite's VAE_TF_QUICK=1) leaves XLA
    off, see test_quick_mode_leaves_xla_off_unless_asked_for."""
    monkeypatch.delenv("VAE_TF_QUICK", raising=False)


@pytest.fixture(scope="module")
def mnist():
    (x_train, y_train), (x_test, _) = vae_tf.load_mnist()
    return x_train[:2048], y_train[:2048], x_test[:1000]


def _vae(seed=0, arch="mlp"):
    keras.utils.set_random_seed(seed)
    return vae_tf.VAE(
        vae_tf.build_encoder(latent_dim=2, arch=arch, seed=seed),
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


def test_compile_defaults_are_xla_and_steps_per_execution():
    vae = _vae()
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert vae.jit_compile is True  # Keras's own "auto" would give False on a CPU-only machine
    assert vae.steps_per_execution == DEFAULT_STEPS_PER_EXECUTION > 1
    assert vae.get_compile_config()["jit_compile"] is True

    vae.compile(optimizer="adam", **PLAIN)
    assert vae.jit_compile is False and vae.steps_per_execution == 1


def test_quick_mode_leaves_xla_off_unless_asked_for(monkeypatch):
    monkeypatch.setenv("VAE_TF_QUICK", "1")
    vae = _vae()
    vae.compile(optimizer="adam")  # a quick run: XLA's compile would outlast its few steps
    assert vae.jit_compile is False and vae.steps_per_execution == DEFAULT_STEPS_PER_EXECUTION
    vae.compile(optimizer="adam", jit_compile=True)
    assert vae.jit_compile is True

    # On a CPU-only machine XLA's convolutions are slower than oneDNN's: conv models stay off XLA.
    conv = _vae(arch="conv")
    conv.compile(optimizer="adam")
    on_cpu_only = all(d.device_type == "CPU" for d in tf.config.list_physical_devices())
    assert conv.jit_compile is (not on_cpu_only)
    assert conv.steps_per_execution == DEFAULT_STEPS_PER_EXECUTION
    conv.compile(optimizer="adam", jit_compile=True)
    assert conv.jit_compile is True

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "jit_compile cannot also be True" warning
        vae.compile(optimizer="adam", run_eagerly=True)
    assert vae.jit_compile is False and vae.run_eagerly


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_fast_path_does_the_same_maths_as_the_plain_path(mnist, arch):
    x = vae_tf.scale_images(mnist[0][:384])  # 3 full batches of 128
    eps = np.random.default_rng(0).standard_normal((128, 2)).astype("float32")
    models, histories = [], []
    for kwargs in ({}, PLAIN):
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
    assert fast.jit_compile == (arch == "mlp") and not plain.jit_compile  # XLA for dense models on CPU
    assert fast.steps_per_execution == vae_tf.models.DEFAULT_STEPS_PER_EXECUTION and plain.steps_per_execution == 1
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
    for name, kwargs in (("fast", {}), ("plain", PLAIN)):
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


def test_save_load_round_trip_keeps_the_fast_compile_config(mnist, tmp_path):
    x_fit, _, x_test = mnist
    vae = _vae(seed=1)
    vae.compile(optimizer=keras.optimizers.Adam(2e-3))
    vae.fit(vae_tf.make_dataset(x_fit[:512], seed=0), epochs=1, verbose=0)
    path = tmp_path / "vae.keras"
    vae.save(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*compile.*")  # Keras warns if it skips compile
        loaded = keras.models.load_model(path)
    assert loaded.jit_compile is True
    assert loaded.steps_per_execution == DEFAULT_STEPS_PER_EXECUTION
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


def test_conditional_models_train_under_the_defaults(mnist):
    x, y, _ = mnist
    ds = vae_tf.make_dataset(x[:512], y[:512], seed=0)
    keras.utils.set_random_seed(0)
    cvae = vae_tf.ConditionalVAE(vae_tf.build_encoder(condition_dim=10), vae_tf.build_decoder(condition_dim=10))
    acvae = vae_tf.AuxiliaryClassifierVAE(
        vae_tf.build_encoder(), vae_tf.build_decoder(condition_dim=10), vae_tf.build_classifier()
    )
    for model in (cvae, acvae):
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        assert model.jit_compile is True
        history = model.fit(ds, epochs=2, verbose=0).history
        assert np.isfinite(history["loss"]).all() and history["loss"][1] < history["loss"][0]


def test_evaluation_runs_without_xla_while_training_keeps_it(mnist):
    """XLA compiles a program per batch shape; evaluation meets several and gains little from
    XLA, so the test step is never XLA-compiled. Evidence: XLA draws the one ``z`` per image
    with another random-number algorithm, so with the same weights and the same seeded noise an
    evaluation under an XLA model equals the non-XLA model's only if it did not use XLA."""
    x = vae_tf.scale_images(mnist[2][:300])  # a partial last batch too
    results = {}
    for jit in (True, False):
        vae = _vae(seed=3)
        vae.compile(optimizer="adam", jit_compile=jit)
        results[jit] = vae.evaluate(x, batch_size=128, verbose=0, return_dict=True)
        assert vae.jit_compile is jit  # the setting itself is unchanged, and kept for training
    assert results[True] == results[False]

    # The training step does use XLA under jit_compile=True: the same seeded noise then gives
    # other losses than without XLA (the noise's algorithm differs).
    fitted = {}
    for jit in (True, False):
        vae = _vae(seed=3)
        vae.compile(optimizer="adam", jit_compile=jit)
        fitted[jit] = vae.fit(x, batch_size=100, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    assert fitted[True] != fitted[False]


@pytest.mark.parametrize("jit", [True, False])
def test_the_first_fit_traces_the_training_step_once_with_the_same_numbers(mnist, jit):
    """Keras leaves the optimizer's variables to the first trace of the training step, and
    TensorFlow then traces that step a second time; ``make_train_function`` builds them first.
    Evidence: one trace instead of two, and the same weights, optimizer state and losses as
    with Keras's own lazy build."""
    x = vae_tf.scale_images(mnist[0][:300])
    results = {}
    for ours in (True, False):
        vae = _vae(seed=4)
        traces = []
        original_step = vae.train_step
        vae.train_step = lambda data: traces.append(1) or original_step(data)  # runs once per trace
        if not ours:  # Keras's own training function: the optimizer is built inside the trace
            vae.make_train_function = lambda force=False: keras.Model.make_train_function(vae, force)
        vae.compile(optimizer="adam", jit_compile=jit)
        history = vae.fit(x, batch_size=128, epochs=2, verbose=0, shuffle=False).history
        paths = [v.path.removeprefix(vae.optimizer.name + "/") for v in vae.optimizer.variables]  # "adam_1/...": another instance
        results[ours] = (len(traces), history, paths,
                         [ops.convert_to_numpy(v) for v in vae.weights + vae.optimizer.variables])
    (traces_ours, history_ours, paths_ours, values_ours), (traces_keras, history_keras, paths_keras, values_keras) = (
        results[True], results[False])
    assert (traces_ours, traces_keras) == (1, 2)
    assert history_ours == history_keras and paths_ours == paths_keras
    for a, b in zip(values_ours, values_keras, strict=True):
        np.testing.assert_array_equal(a, b)
