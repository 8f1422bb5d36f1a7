"""Closed-form ELBO terms against Monte Carlo, Keras's losses and SciPy densities."""

import warnings

import keras
import numpy as np
import pytest
from keras import ops
from scipy.stats import norm

import vae_tf
from vae_tf.core import losses
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


# --------------------------------------------------------------------------- continuous Bernoulli
CB_LOGITS = [0.0, 1e-4, -1e-4, 0.1, -0.2499, 0.2501, 1.0, -1.0, 5.0, -5.0, 20.0, -20.0]


def _cb_log_density(x, logit):
    """log p(x) for one pixel x under the continuous Bernoulli, from the package (float64)."""
    x = np.atleast_1d(np.asarray(x, dtype="float64"))[:, None]
    logits = np.full_like(x, logit)
    return ops.convert_to_numpy(losses.continuous_bernoulli_log_likelihood(x, logits))


@pytest.mark.parametrize("logit", CB_LOGITS)
def test_continuous_bernoulli_density_integrates_to_one(logit):
    from scipy.integrate import quad

    total, error = quad(lambda x: float(np.exp(_cb_log_density(x, logit))[0]), 0.0, 1.0, epsabs=1e-12, epsrel=1e-12)
    assert abs(total - 1.0) < 1e-9 + error, (total, error)
    mean, _ = quad(lambda x: x * float(np.exp(_cb_log_density(x, logit))[0]), 0.0, 1.0, epsabs=1e-12, epsrel=1e-12)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.continuous_bernoulli_mean(np.float64(logit))), mean, atol=1e-9)


def test_continuous_bernoulli_matches_its_closed_form_in_lambda():
    import mpmath as mp

    logits = np.array(CB_LOGITS + [1e-9, 0.25, 100.0, -100.0, 500.0])
    with mp.workdps(260):  # 1 - 2 lambda must resolve exp(-500)
        lam = [mp.mpf(1) / (1 + mp.exp(-mp.mpf(v))) for v in logits]
        # C(lambda) = 2 artanh(1 - 2 lambda) / (1 - 2 lambda), with C(1/2) = 2
        log_c = np.array([float(mp.log(2 * mp.atanh(1 - 2 * p) / (1 - 2 * p))) if v else np.log(2) for v, p in zip(logits, lam)])
        mean = np.array([float(p / (2 * p - 1) + 1 / (2 * mp.atanh(1 - 2 * p))) if v else 0.5 for v, p in zip(logits, lam)])
    got = ops.convert_to_numpy(losses.continuous_bernoulli_log_normalizer(logits))
    np.testing.assert_allclose(got, log_c, rtol=0, atol=1e-11)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.continuous_bernoulli_mean(logits)), mean, rtol=0, atol=1e-12)
    got32 = ops.convert_to_numpy(losses.continuous_bernoulli_log_normalizer(logits.astype("float32")))
    np.testing.assert_allclose(got32, log_c, rtol=0, atol=1e-6)  # float32 stays accurate near 0 too
    assert ops.convert_to_numpy(losses.continuous_bernoulli_log_normalizer(np.float32(0.0))) == np.float32(np.log(2))


def test_continuous_bernoulli_log_likelihood_sums_pixels(rng):
    x = rng.random((3, 4, 4, 1))
    logits = rng.normal(size=(3, 4, 4, 1)) * 3
    lam = 1 / (1 + np.exp(-logits))
    per_pixel = np.log(2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam)) + x * np.log(lam) + (1 - x) * np.log1p(-lam)
    got = ops.convert_to_numpy(losses.continuous_bernoulli_log_likelihood(x, logits))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, per_pixel.reshape(3, -1).sum(axis=1), rtol=1e-10)
    np.testing.assert_allclose(
        ops.convert_to_numpy(losses.reconstruction_log_likelihood(x, logits, "continuous_bernoulli")), got
    )
    assert "continuous_bernoulli" in losses.LIKELIHOODS


def test_continuous_bernoulli_gradients_are_finite_and_right_at_zero():
    import tensorflow as tf

    x = tf.constant([[0.2, 0.9, 0.5, 0.0, 1.0, 0.7]], tf.float32)
    logits = tf.Variable([[0.0, 1e-4, -1e-4, 0.25, -5.0, 30.0]], dtype=tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        log_p = losses.continuous_bernoulli_log_likelihood(x, logits)
        mean = losses.continuous_bernoulli_mean(logits)
    grad = tape.gradient(log_p, logits).numpy()
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(tape.gradient(mean, logits).numpy()))
    # d/dl [log C(l) + x l - softplus(l)] = x - E[x]: the score of an exponential family
    np.testing.assert_allclose(grad, x.numpy() - losses.continuous_bernoulli_mean(logits).numpy(), atol=2e-6)
    np.testing.assert_allclose(grad[0, 0], 0.2 - 0.5, atol=1e-7)
    np.testing.assert_allclose(tape.gradient(mean, logits).numpy()[0, 0], 1 / 12, rtol=1e-6)


def test_pixel_mean_per_likelihood():
    logits = np.array([[-3.0, 0.0, 2.0]])
    sig = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(ops.convert_to_numpy(losses.pixel_mean(logits, "bernoulli")), sig)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.pixel_mean(logits, "gaussian")), sig)
    cb = ops.convert_to_numpy(losses.pixel_mean(logits, "continuous_bernoulli"))
    np.testing.assert_allclose(cb, ops.convert_to_numpy(losses.continuous_bernoulli_mean(logits)))
    assert cb[0, 1] == 0.5 and cb[0, 0] > sig[0, 0] and cb[0, 2] < sig[0, 2]  # pulled towards 1/2
    with pytest.raises(ValueError, match="likelihood must be one of"):
        losses.pixel_mean(logits, "poisson")


def test_a_vae_accepts_the_continuous_bernoulli_likelihood(small_batch):
    vae = vae_tf.VAE(
        vae_tf.build_encoder(latent_dim=2, hidden_units=(8,)),
        vae_tf.build_decoder(latent_dim=2, hidden_units=(8,)),
        likelihood="continuous_bernoulli",
    )
    x = small_batch[0][:16]
    terms = vae.loss_terms(x)
    assert np.all(np.isfinite(ops.convert_to_numpy(terms["loss"])))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # grey levels are fine under a true density on [0, 1]
        elbo = vae_tf.evaluate_elbo(vae, x, seed=0)["elbo"]
    assert np.all(np.isfinite(elbo))
