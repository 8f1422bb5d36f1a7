"""The exact linear-Gaussian model: log p(x) = ELBO + KL(q || p(z|x))."""

import keras
import numpy as np
import pytest
from scipy.stats import norm

import vae_tf


@pytest.fixture
def model():
    return vae_tf.LinearGaussianModel.random(d=6, k=3, sigma=0.4, seed=3)


def test_elbo_equals_log_marginal_at_the_true_posterior(model):
    x, _ = model.sample(20, seed=0)
    mean, cov = model.posterior(x)
    assert np.allclose(cov, np.diag(np.diag(cov)), atol=1e-12)  # orthogonal W: diagonal posterior
    log_var = np.broadcast_to(np.log(np.diag(cov)), mean.shape)
    np.testing.assert_allclose(model.elbo(x, mean, log_var), model.log_marginal(x), rtol=1e-10)


def test_gap_is_kl_to_the_posterior(model, rng):
    x, _ = model.sample(10, seed=1)
    post_mean, cov = model.posterior(x)
    q_mean = post_mean + rng.normal(scale=0.3, size=post_mean.shape)
    q_log_var = rng.normal(scale=0.5, size=post_mean.shape) - 1.0
    gap = model.log_marginal(x) - model.elbo(x, q_mean, q_log_var)
    post_log_var = np.broadcast_to(np.log(np.diag(cov)), post_mean.shape)
    kl = keras.ops.convert_to_numpy(vae_tf.kl_divergence(q_mean, q_log_var, post_mean, post_log_var))
    assert np.all(gap > 0)
    np.testing.assert_allclose(gap, kl, rtol=1e-6)


def test_closed_form_elbo_matches_monte_carlo(model, rng):
    x, _ = model.sample(3, seed=2)
    m, lv = rng.normal(size=(3, 3)), np.full((3, 3), -1.0)
    z = m + np.exp(0.5 * lv) * rng.normal(size=(100_000, 3, 3))
    mc = (model.log_joint(x, z) - norm.logpdf(z, m, np.exp(0.5 * lv)).sum(-1)).mean(0)
    np.testing.assert_allclose(model.elbo(x, m, lv), mc, rtol=5e-3)


def test_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="shape"):
        vae_tf.LinearGaussianModel(np.ones((4, 2)), np.ones(3), 1.0)
    with pytest.raises(ValueError, match="sigma"):
        vae_tf.LinearGaussianModel(np.ones((4, 2)), np.ones(4), 0.0)
