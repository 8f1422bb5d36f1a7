"""Closed-form ELBO terms against Monte Carlo, Keras's losses and SciPy densities."""

import keras
import numpy as np
import pytest
from scipy.stats import norm

import vae_tf


def _np(t):
    return keras.ops.convert_to_numpy(t)


def test_kl_to_standard_normal_matches_monte_carlo(rng):
    mean = rng.normal(size=(4, 3))
    log_var = rng.normal(scale=0.5, size=(4, 3))
    closed = _np(vae_tf.kl_divergence(mean, log_var))
    std = np.exp(0.5 * log_var)
    z = mean + std * rng.normal(size=(200_000, 4, 3))
    mc = (norm.logpdf(z, mean, std) - norm.logpdf(z)).sum(-1).mean(0)
    np.testing.assert_allclose(closed, mc, rtol=0.02, atol=0.01)
    assert closed.shape == (4,)


def test_kl_between_two_gaussians_matches_monte_carlo(rng):
    mq, lq = rng.normal(size=(3, 2)), rng.normal(scale=0.5, size=(3, 2))
    mp, lp = rng.normal(size=(3, 2)), rng.normal(scale=0.5, size=(3, 2))
    closed = _np(vae_tf.kl_divergence(mq, lq, prior_mean=mp, prior_log_var=lp))
    sq, sp = np.exp(0.5 * lq), np.exp(0.5 * lp)
    z = mq + sq * rng.normal(size=(200_000, 3, 2))
    mc = (norm.logpdf(z, mq, sq) - norm.logpdf(z, mp, sp)).sum(-1).mean(0)
    np.testing.assert_allclose(closed, mc, rtol=0.02, atol=0.01)


def test_kl_is_exactly_zero_when_q_equals_p(rng):
    m, lv = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    assert np.all(_np(vae_tf.kl_divergence(m, lv, prior_mean=m, prior_log_var=lv)) == 0.0)
    zeros = np.zeros((2, 3), "float32")
    assert np.all(_np(vae_tf.kl_divergence(zeros, zeros)) == 0.0)


def test_kl_is_asymmetric_and_per_dimension_sums(rng):
    a, b = np.array([[0.0]]), np.array([[1.5]])
    la, lb = np.array([[0.0]]), np.array([[-2.0]])
    kl_ab = _np(vae_tf.kl_divergence(a, la, prior_mean=b, prior_log_var=lb))
    kl_ba = _np(vae_tf.kl_divergence(b, lb, prior_mean=a, prior_log_var=la))
    assert abs(kl_ab[0] - kl_ba[0]) > 1.0
    m, lv = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    per_dim = _np(vae_tf.kl_divergence(m, lv, per_dimension=True))
    assert per_dim.shape == (3, 4) and np.all(per_dim >= 0)
    np.testing.assert_allclose(per_dim.sum(-1), _np(vae_tf.kl_divergence(m, lv)), rtol=1e-6)


def test_bernoulli_log_likelihood_is_minus_binary_cross_entropy(rng):
    x = rng.uniform(size=(6, 28, 28, 1)).astype("float32")
    logits = rng.normal(scale=3.0, size=x.shape).astype("float32")
    ll = _np(vae_tf.bernoulli_log_likelihood(x, logits))
    bce = _np(keras.losses.binary_crossentropy(x, logits, from_logits=True, axis=(1, 2, 3)))
    np.testing.assert_allclose(ll, -bce * 784, rtol=1e-4)
    p = 1 / (1 + np.exp(-logits.astype("float64")))
    direct = (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(ll, direct, rtol=1e-4)


def test_bernoulli_log_likelihood_is_finite_for_extreme_logits():
    x = np.array([[1.0, 0.0]], "float32")
    ll = _np(vae_tf.bernoulli_log_likelihood(x, np.array([[-200.0, 200.0]], "float32")))
    np.testing.assert_allclose(ll, [-400.0], rtol=1e-6)


def test_gaussian_log_likelihood_matches_scipy_and_mse(rng):
    x = rng.uniform(size=(4, 10)).astype("float32")
    mean = rng.uniform(size=(4, 10)).astype("float32")
    ll = _np(vae_tf.gaussian_log_likelihood(x, mean, sigma=0.3))
    np.testing.assert_allclose(ll, norm.logpdf(x, mean, 0.3).sum(-1), rtol=1e-5)
    sse = ((x - mean) ** 2).sum(-1)
    const = 10 * np.log(0.3 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(ll, -sse / (2 * 0.3**2) - const, rtol=1e-5)
    with pytest.raises(ValueError, match="sigma"):
        vae_tf.gaussian_log_likelihood(x, mean, sigma=0.0)


def test_elbo_combines_the_terms(rng):
    x = (rng.uniform(size=(3, 8)) > 0.5).astype("float32")
    logits = rng.normal(size=(3, 8)).astype("float32")
    m, lv = rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(3, 2)).astype("float32")
    expected = _np(vae_tf.bernoulli_log_likelihood(x, logits)) - 2.0 * _np(vae_tf.kl_divergence(m, lv))
    np.testing.assert_allclose(_np(vae_tf.elbo(x, logits, m, lv, beta=2.0)), expected, rtol=1e-6)
    g = _np(vae_tf.elbo(x, logits, m, lv, likelihood="gaussian", sigma=0.5))
    expected_g = _np(vae_tf.gaussian_log_likelihood(x, keras.ops.sigmoid(logits), 0.5)) - _np(
        vae_tf.kl_divergence(m, lv)
    )
    np.testing.assert_allclose(g, expected_g, rtol=1e-6)
    with pytest.raises(ValueError, match="likelihood"):
        vae_tf.elbo(x, logits, m, lv, likelihood="poisson")
