"""Mixed precision (issue 10): under a ``mixed_float16`` policy ``compile`` wraps the optimizer
in a ``LossScaleOptimizer`` whose ``apply`` unscales the gradients, so every custom
``train_step`` must scale the loss first. Checked on CPU for VAE, AuxiliaryClassifierVAE and
Autoencoder: training works, and the update applied equals the float32 one."""

import keras
import numpy as np
import pytest
from test_training_defaults import FixedNoise  # fixed reparameterization noise

import vae_tf

HIDDEN = {"hidden_units": (32,)}


@pytest.fixture
def mixed_policy():
    """Set the ``mixed_float16`` global policy for one test and restore the previous one."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(previous)


def _model(kind):
    keras.utils.set_random_seed(0)
    if kind == "vae":
        return vae_tf.VAE(vae_tf.build_encoder(**HIDDEN), vae_tf.build_decoder(**HIDDEN), seed=0)
    if kind == "acvae":
        return vae_tf.AuxiliaryClassifierVAE(
            vae_tf.build_encoder(**HIDDEN),
            vae_tf.build_decoder(condition_dim=10, **HIDDEN),
            vae_tf.build_classifier(hidden_units=(32,)),
            seed=0,
        )
    return vae_tf.Autoencoder(vae_tf.build_encoder(variational=False, **HIDDEN), vae_tf.build_decoder(**HIDDEN))


def test_a_vae_trains_under_mixed_float16(mixed_policy, small_batch):
    x, _ = small_batch
    vae = _model("vae")
    assert vae.compute_dtype == "float16" and vae.encoder.compute_dtype == "float16"
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert isinstance(vae.optimizer, keras.optimizers.LossScaleOptimizer)
    history = vae.fit(x, batch_size=64, epochs=4, verbose=0).history["loss"]
    assert np.isfinite(history).all(), history
    assert history[-1] < history[0] - 50, history  # from ~540 nats
    terms = vae.loss_terms(x[:8])
    assert all(t.dtype == "float32" for t in terms.values())  # losses in float32


@pytest.mark.parametrize("kind", ["vae", "acvae", "autoencoder"])
def test_the_update_applied_equals_the_float32_update(kind, small_batch):
    """One SGD step (learning rate 1: the update is minus the gradient) from the same weights
    with the same noise, in float32 and under mixed_float16. Without ``scale_loss`` in the step
    the mixed update would be ``loss_scale`` (256) times too small."""
    x, y = small_batch
    x, y = x[:64], y[:64]
    eps = np.random.default_rng(0).standard_normal((64, 2)).astype("float32")
    updates = []
    for policy in ("float32", "mixed_float16"):
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(policy)
        try:
            model = _model(kind)
            if kind != "autoencoder":
                model.sampling = FixedNoise(eps)
            if updates:
                model.set_weights(start)
            start = [w.copy() for w in model.get_weights()]
            optimizer = keras.optimizers.SGD(1.0)
            if policy == "mixed_float16":  # a smaller scale than the default 2**15: no float16 overflow
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=256.0)
            model.compile(optimizer=optimizer, jit_compile=False, steps_per_execution=1)
            logs = model.train_on_batch(x, y if kind == "acvae" else None, return_dict=True)
            assert np.isfinite(logs["loss"])
            updates.append([w1 - w0 for w1, w0 in zip(model.get_weights(), start)])
        finally:
            keras.mixed_precision.set_global_policy(previous)
    assert int(model.optimizer.iterations) == 1  # the mixed step was applied, not skipped
    for full, mixed in zip(*updates):
        norm = np.linalg.norm(full)
        assert norm > 1e-6  # every weight moved: a real update, not two zeros
        # float16 activations flip a few ReLUs near 0, so compare whole tensors: a missing or
        # doubled loss scale would give a relative error near 1, float16 rounding ~1e-2.
        assert np.linalg.norm(mixed - full) < 0.05 * norm, (np.linalg.norm(mixed - full) / norm)


def _family_model(name):
    """A small model of each kind of the family, built under the current global policy."""
    from vae_tf.family.gumbel import build_categorical_decoder, build_categorical_encoder
    from vae_tf.family.vqvae import build_vq_decoder, build_vq_encoder

    keras.utils.set_random_seed(0)
    if name == "ConditionalVAE":
        return vae_tf.ConditionalVAE(vae_tf.build_encoder(condition_dim=10, **HIDDEN),
                                     vae_tf.build_decoder(condition_dim=10, **HIDDEN), seed=0)  # fmt: skip
    if name == "IWAE":
        return vae_tf.IWAE(vae_tf.build_encoder(**HIDDEN), vae_tf.build_decoder(**HIDDEN), k=3, seed=0)
    if name == "GumbelSoftmaxVAE":
        return vae_tf.GumbelSoftmaxVAE(build_categorical_encoder(4, 5, **HIDDEN), build_categorical_decoder(4, 5, **HIDDEN), seed=0)
    if name.startswith("VQVAE"):
        arch = {"embedding_dim": 4, "filters": (8, 16)}
        return vae_tf.VQVAE(build_vq_encoder(**arch), build_vq_decoder(**arch), 8, ema=name.endswith("ema"), seed=0)
    return _model({"AuxiliaryClassifierVAE": "acvae", "Autoencoder": "autoencoder"}[name])


FAMILY = ["ConditionalVAE", "AuxiliaryClassifierVAE", "IWAE", "Autoencoder", "GumbelSoftmaxVAE", "VQVAE", "VQVAE_ema"]


@pytest.mark.parametrize("name", FAMILY)
def test_every_family_model_trains_under_mixed_float16_with_terms_that_add_up(mixed_policy, small_batch, name):
    x, y = small_batch
    x, y = vae_tf.binarize_static(x[:64], seed=0), y[:64]
    model = _family_model(name)
    assert model.compute_dtype == "float16" and model.encoder.compute_dtype == "float16"
    # a smaller loss scale than the default 2**15, which overflows float16 and skips the first steps
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3), initial_scale=64.0),
                  jit_compile=False)  # fmt: skip
    start = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0).history  # two steps
    assert int(model.optimizer.iterations) == 2  # both steps applied, none skipped for overflow
    assert all(np.isfinite(v).all() for v in history.values()), history
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), start))
    weights = getattr(model, "loss_weights", {})
    for logs in (history, model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)):
        logs = {k: float(np.ravel(v)[-1]) for k, v in logs.items()}
        if weights:
            assert logs["loss"] == pytest.approx(sum(w * logs[k] for k, w in weights.items()), rel=1e-5), logs
    terms = model.loss_terms(keras.ops.convert_to_tensor(x[:8]), keras.ops.convert_to_tensor(y[:8]))
    assert all(keras.backend.standardize_dtype(t.dtype) == "float32" for t in terms.values())  # losses in float32
