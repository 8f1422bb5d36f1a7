"""Bounds of the digit-conditioned VAEs (vae_tf.conditional): -log p(x | y) with the digit given,
and -log p(x) for the model with a uniform digit prior p(y) = 1/K, which adds
KL(q(y|x) || p(y)) = log K - H(q(y|x)) (0 to log K nats) to the expected conditional bound."""

import math

import numpy as np
import pytest

import vae_tf
from vae_tf.family import conditional
from vae_tf.family.conditional import conditional_neg_elbo, digit_marginal_bound

from test_conditional import make_acvae, make_cvae


@pytest.fixture(scope="module")
def binary_batch():
    rng = np.random.default_rng(0)
    x = (rng.random((24, 28, 28, 1)) < 0.2).astype("float32")
    return x, rng.integers(0, 10, 24)


@pytest.mark.parametrize("maker", [make_cvae, make_acvae])
def test_conditional_neg_elbo_is_reconstruction_plus_kl_with_the_given_digit(binary_batch, maker):
    x, y = binary_batch
    model = maker()
    out = conditional_neg_elbo(model, x, y, batch_size=10)
    assert {k: v.shape for k, v in out.items()} == {"reconstruction": (24,), "kl": (24,), "neg_elbo": (24,)}
    np.testing.assert_allclose(out["neg_elbo"], out["reconstruction"] + out["kl"], rtol=1e-6)
    assert np.all(out["kl"] >= 0) and np.all(out["reconstruction"] > 0)
    # the KL is deterministic: that of q(z | x, y) with the given one-hot digit
    z_mean, z_log_var = model.encode(x, digits=y)
    kl = np.asarray(vae_tf.kl_divergence(z_mean, z_log_var))
    np.testing.assert_allclose(out["kl"], kl, rtol=1e-5, atol=1e-5)
    one_digit = conditional_neg_elbo(model, x, 3)
    np.testing.assert_allclose(one_digit["kl"], vae_tf.kl_divergence(*model.encode(x, digits=np.full(24, 3))), rtol=1e-5, atol=1e-5)


def test_the_bound_with_the_true_label_adds_log_k(binary_batch):
    x, y = binary_batch
    out = digit_marginal_bound(make_cvae(), x, labels=y)
    np.testing.assert_allclose(out["kl_digit"], math.log(10))
    np.testing.assert_allclose(out["bound"], out["expected_neg_elbo"] + math.log(10))
    np.testing.assert_array_equal(out["q_y"].argmax(axis=1), y)


def test_the_bound_weights_each_digit_by_q_and_adds_log_k_minus_the_entropy(binary_batch, monkeypatch):
    x, _ = binary_batch
    fake = lambda model, x, digits, batch_size=512: {"neg_elbo": np.full(len(x), 100.0 + np.asarray(digits, "float32"))}  # noqa: E731
    monkeypatch.setattr(conditional, "conditional_neg_elbo", fake)
    rng = np.random.default_rng(1)
    q = rng.dirichlet(np.ones(10), size=24)
    out = digit_marginal_bound(make_acvae(), x, q_y=q)
    entropy = -(q * np.log(q)).sum(axis=1)
    np.testing.assert_allclose(out["expected_neg_elbo"], q @ (100.0 + np.arange(10)), rtol=1e-6)
    np.testing.assert_allclose(out["kl_digit"], math.log(10) - entropy, rtol=1e-6)
    np.testing.assert_allclose(out["bound"], out["expected_neg_elbo"] + out["kl_digit"], rtol=1e-9)
    uniform = digit_marginal_bound(make_acvae(), x, q_y=np.full((24, 10), 0.1))
    np.testing.assert_allclose(uniform["kl_digit"], 0.0, atol=1e-9)
    one_hot = digit_marginal_bound(make_acvae(), x, q_y=np.eye(10)[np.arange(24) % 10])  # 0 log 0 = 0
    np.testing.assert_allclose(one_hot["kl_digit"], math.log(10))
    np.testing.assert_allclose(one_hot["expected_neg_elbo"], 100.0 + np.arange(24) % 10)


def test_the_ac_vae_uses_its_classifier_by_default(binary_batch):
    x, _ = binary_batch
    model = make_acvae(condition_encoder=True)
    out = digit_marginal_bound(model, x)
    np.testing.assert_allclose(out["q_y"], model.classify(x), rtol=1e-6)
    assert np.all(out["kl_digit"] >= -1e-9) and np.all(out["kl_digit"] <= math.log(10) + 1e-9)
    assert np.all(out["bound"] >= out["expected_neg_elbo"] - 1e-6)


def test_errors(binary_batch):
    x, y = binary_batch
    cvae = make_cvae()
    with pytest.raises(ValueError, match="no classifier"):
        digit_marginal_bound(cvae, x)
    with pytest.raises(ValueError, match="not both"):
        digit_marginal_bound(cvae, x, labels=y, q_y=np.full((24, 10), 0.1))
    with pytest.raises(ValueError, match="rows summing to 1"):
        digit_marginal_bound(cvae, x, q_y=np.full((24, 10), 0.2))
    with pytest.raises(vae_tf.InputError):
        conditional_neg_elbo(cvae, x, y[:5])
    keras_vae = vae_tf.VAE(vae_tf.build_encoder(latent_dim=2, hidden_units=(16,)), vae_tf.build_decoder(latent_dim=2, hidden_units=(16,)))
    with pytest.raises(TypeError, match="digit-conditioned"):
        conditional_neg_elbo(keras_vae, x, y)


def test_grey_levels_under_a_bernoulli_warn(binary_batch):
    x, y = binary_batch
    with pytest.warns(UserWarning, match="not a bound"):
        conditional_neg_elbo(make_cvae(), x * 0.5 + 0.25, y)
