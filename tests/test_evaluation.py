"""Importance-weighted log-likelihood, the ELBO evaluator and active units (vae_tf.evaluation).

The estimator core is checked on the linear-Gaussian model, where ``log p(x)``, the posterior
and the ELBO are exact; the VAE wrapper is checked against the VAE's own single-sample loss.
"""

import warnings

import keras
import numpy as np
import pytest
from keras import ops
from scipy.special import logsumexp
from scipy.stats import norm

import vae_tf
from vae_tf.tools.evaluation import (
    active_units,
    diagonal_gaussian_log_density,
    evaluate_elbo,
    iwae_bound,
    iwae_log_likelihood,
    latent_activity,
    standard_normal_log_density,
)


# --------------------------------------------------------------------------- the estimator core
def test_iwae_bound_is_a_stable_log_mean_exp(rng):
    log_w = rng.normal(size=(50, 7)) * 30.0 - 1000.0  # exp() underflows to 0 in float64
    expected = logsumexp(log_w, axis=0) - np.log(50)
    np.testing.assert_allclose(ops.convert_to_numpy(iwae_bound(log_w)), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ops.convert_to_numpy(iwae_bound(log_w.T, axis=1)), expected, rtol=0, atol=1e-9)
    assert np.all(np.isfinite(ops.convert_to_numpy(iwae_bound(log_w.astype("float32")))))
    np.testing.assert_allclose(ops.convert_to_numpy(iwae_bound(log_w[:1])), log_w[0], rtol=0, atol=1e-9)  # K = 1
    constant = np.full((10, 3), -123.5)  # equal weights: the bound is that weight, for any K
    np.testing.assert_allclose(ops.convert_to_numpy(iwae_bound(constant)), -123.5, rtol=0, atol=1e-9)


def test_iwae_bound_rejects_no_samples():
    with pytest.raises(ValueError, match="no samples"):
        iwae_bound(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="at least one axis"):
        iwae_bound(np.float64(1.0))


def test_gaussian_log_densities_match_scipy(rng):
    z = rng.normal(size=(4, 6, 3))
    mean, log_var = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    expected = norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(-1)
    np.testing.assert_allclose(ops.convert_to_numpy(diagonal_gaussian_log_density(z, mean, log_var)), expected, atol=1e-9)
    np.testing.assert_allclose(ops.convert_to_numpy(standard_normal_log_density(z)), norm.logpdf(z).sum(-1), atol=1e-9)


# --------------------------------------------------------------------------- exact check: linear-Gaussian model
@pytest.fixture(scope="module")
def linear_gaussian():
    """A probabilistic-PCA model, 300 data points, and a deliberately imperfect diagonal
    Gaussian q (shifted mean, twice the posterior variance)."""
    model = vae_tf.LinearGaussianModel.random(d=5, k=2, sigma=0.5, seed=0)
    x, _ = model.sample(300, seed=1)
    post_mean, post_cov = model.posterior(x)
    q_mean = post_mean + 0.3
    q_log_var = np.broadcast_to(np.log(2.0 * np.diag(post_cov)), q_mean.shape)
    return model, x, q_mean, q_log_var


def _log_weights(model, x, q_mean, q_log_var, shape, rng):
    """Log-weights of ``z ~ q``: ``shape`` is ``(K,)`` or ``(K, repeats)``; returns ``(*shape, n)``."""
    z = q_mean + np.exp(0.5 * q_log_var) * rng.normal(size=(*shape, *q_mean.shape))
    return model.log_joint(x, z) - ops.convert_to_numpy(diagonal_gaussian_log_density(z, q_mean, q_log_var))


def _iwae(model, x, q_mean, q_log_var, k, repeats, rng):
    """IWAE estimates for each example, ``repeats`` independent times: shape ``(repeats, n)``."""
    return ops.convert_to_numpy(iwae_bound(_log_weights(model, x, q_mean, q_log_var, (k, repeats), rng)))


def test_iwae_is_exact_when_q_is_the_true_posterior(linear_gaussian, rng):
    model, x, _, _ = linear_gaussian
    post_mean, post_cov = model.posterior(x)  # diagonal for LinearGaussianModel.random
    log_var = np.broadcast_to(np.log(np.diag(post_cov)), post_mean.shape)
    for k in (1, 7):
        estimate = ops.convert_to_numpy(iwae_bound(_log_weights(model, x, post_mean, log_var, (k,), rng)))
        np.testing.assert_allclose(estimate, model.log_marginal(x), rtol=0, atol=1e-8)


def test_iwae_with_one_sample_is_the_elbo_in_expectation(linear_gaussian, rng):
    model, x, q_mean, q_log_var = linear_gaussian
    estimates = _iwae(model, x, q_mean, q_log_var, k=1, repeats=400, rng=rng)
    diff = estimates.mean(0) - model.elbo(x, q_mean, q_log_var)  # per example, MC error only
    stderr = diff.std(ddof=1) / np.sqrt(len(diff))
    assert abs(diff.mean()) < 4 * stderr + 1e-3
    gap = np.mean(model.log_marginal(x) - model.elbo(x, q_mean, q_log_var))
    assert gap > 1.0  # q is imperfect enough that the tests below can tell the bounds apart


def test_iwae_increases_with_k_and_converges_to_the_exact_log_likelihood(linear_gaussian, rng):
    model, x, q_mean, q_log_var = linear_gaussian
    exact = model.log_marginal(x)
    means = [np.mean(_iwae(model, x, q_mean, q_log_var, k, repeats=max(2, 1000 // k), rng=rng)) for k in (1, 2, 5, 20, 100)]
    assert np.all(np.diff(means) > 0), means  # the gaps are ~0.7, 0.4, 0.15, 0.03 nats; MC error ~0.005
    assert np.all(np.array(means) < exact.mean() + 0.01)  # lower bounds (in expectation)
    large_k = _iwae(model, x, q_mean, q_log_var, k=5000, repeats=1, rng=rng)[0]
    assert abs(np.mean(large_k - exact)) < 0.01
    assert np.max(np.abs(large_k - exact)) < 0.15


# --------------------------------------------------------------------------- VAE wrapper
@pytest.fixture(scope="module")
def trained_vaes(mnist):
    """Small MLP VAEs (latent 4), one per likelihood, trained briefly on 1,000 binarized digits,
    and 200 held-out binarized test digits."""
    (x_train, _), (x_test, _) = mnist
    x_fit = vae_tf.binarize(vae_tf.scale_images(x_train[:1000]))
    vaes = {}
    for likelihood in ("bernoulli", "gaussian"):
        keras.utils.set_random_seed(0)
        vae = vae_tf.VAE(
            vae_tf.build_encoder(latent_dim=4, hidden_units=(64,)),
            vae_tf.build_decoder(latent_dim=4, hidden_units=(64,)),
            likelihood=likelihood,
            sigma=0.3,
            seed=0,
        )
        vae.compile(optimizer=keras.optimizers.Adam(3e-3))
        vae.fit(x_fit, epochs=3, batch_size=100, verbose=0)
        vaes[likelihood] = vae
    return vaes, vae_tf.binarize(vae_tf.scale_images(x_test[:200]))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_iwae_with_one_sample_matches_the_single_sample_elbo(trained_vaes, likelihood):
    vaes, x = trained_vaes
    vae = vaes[likelihood]
    repeats = 30
    iwae_1 = np.mean([iwae_log_likelihood(vae, x, num_samples=1, seed=s) for s in range(repeats)], axis=0)
    loss = np.mean([ops.convert_to_numpy(vae.loss_terms(x)["loss"]) for _ in range(repeats)], axis=0)
    diff = iwae_1 + loss  # per image: E[L_1] - ELBO = 0 up to Monte Carlo error
    stderr = diff.std(ddof=1) / np.sqrt(len(diff))
    assert abs(diff.mean()) < 4 * stderr + 0.05, (diff.mean(), stderr)
    terms = evaluate_elbo(vae, x, num_samples=repeats, seed=0)
    diff = iwae_1 - terms["elbo"]
    assert abs(diff.mean()) < 4 * diff.std(ddof=1) / np.sqrt(len(diff)) + 0.05


def test_vae_iwae_increases_with_k(trained_vaes):
    vaes, x = trained_vaes
    vae = vaes["bernoulli"]
    elbo = evaluate_elbo(vae, x, num_samples=20, seed=0)["elbo"]
    iwae_10 = iwae_log_likelihood(vae, x, num_samples=10, seed=1)
    iwae_100 = iwae_log_likelihood(vae, x, num_samples=100, seed=2)
    assert elbo.mean() < iwae_10.mean() < iwae_100.mean()
    # the improvement over the ELBO is far larger than its Monte Carlo error
    gain = iwae_100 - elbo
    assert gain.mean() > 5 * gain.std(ddof=1) / np.sqrt(len(gain))


def test_vae_iwae_chunking_and_reproducibility(trained_vaes):
    vaes, x = trained_vaes
    vae = vaes["bernoulli"]
    a = iwae_log_likelihood(vae, x, num_samples=100, batch_size=200, chunk_size=100, seed=3)
    b = iwae_log_likelihood(vae, x, num_samples=100, batch_size=64, chunk_size=30, seed=4)  # uneven pieces
    # Same estimator, different samples: means agree within MC error, far below log(#chunks) ~ 1.4.
    assert abs(a.mean() - b.mean()) < 0.3
    np.testing.assert_array_equal(a, iwae_log_likelihood(vae, x, num_samples=100, batch_size=200, chunk_size=100, seed=3))
    assert not np.array_equal(a, b)
    # (n, 28, 28) is accepted as one-channel images
    np.testing.assert_allclose(iwae_log_likelihood(vae, x[:5, ..., 0], num_samples=3, seed=0),
                               iwae_log_likelihood(vae, x[:5], num_samples=3, seed=0), rtol=1e-6)
    assert a.dtype == np.float64 and a.shape == (len(x),) and np.all(np.isfinite(a))


def test_evaluate_elbo_terms_ignore_beta(trained_vaes):
    vaes, x = trained_vaes
    vae = vaes["bernoulli"]
    beta_vae = vae_tf.VAE(vae.encoder, vae.decoder, beta=4.0)
    terms = evaluate_elbo(beta_vae, x, num_samples=5, seed=0)
    np.testing.assert_allclose(terms["elbo"], -(terms["reconstruction_loss"] + terms["kl_loss"]))
    np.testing.assert_allclose(terms["kl_loss"].mean(), vae.kl_per_dimension(x).sum(), rtol=1e-5)
    reference = evaluate_elbo(vae, x, num_samples=5, seed=0)
    np.testing.assert_allclose(terms["elbo"], reference["elbo"], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_samples": 0}, "num_samples"),
        ({"batch_size": -1}, "batch_size"),
        ({"chunk_size": 1.5}, "chunk_size"),
    ],
)
def test_iwae_rejects_bad_sizes(trained_vaes, kwargs, match):
    vaes, x = trained_vaes
    with pytest.raises(ValueError, match=match):
        iwae_log_likelihood(vaes["bernoulli"], x[:4], **kwargs)


def test_estimators_reject_bad_images(trained_vaes, mnist):
    vaes, x = trained_vaes
    vae = vaes["bernoulli"]
    (x_train, _), _ = mnist
    with pytest.raises(vae_tf.InputError, match="0-255 grey levels.*scale_images"):  # float 0-255
        iwae_log_likelihood(vae, x_train[:4].astype("float32"), num_samples=2)
    with pytest.raises(vae_tf.InputError, match="NaN"):
        evaluate_elbo(vae, np.full((2, 28, 28, 1), np.nan))
    with pytest.raises(ValueError, match="shape"):
        iwae_log_likelihood(vae, x[:4, :14], num_samples=2)
    with pytest.raises(ValueError, match="empty"):
        evaluate_elbo(vae, x[:0])
    cvae = vae_tf.ConditionalVAE(
        vae_tf.build_encoder(latent_dim=2, hidden_units=(8,), condition_dim=10),
        vae_tf.build_decoder(latent_dim=2, hidden_units=(8,), condition_dim=10),
    )
    with pytest.raises(ValueError, match="images only"):
        iwae_log_likelihood(cvae, x[:4], num_samples=2)


def test_evaluators_follow_the_one_pixel_rule(trained_vaes, mnist):
    vaes, x = trained_vaes
    vae = vaes["bernoulli"]
    # a uint8 array of 0/1 is binary, as in make_dataset: not divided by 255
    as_uint8 = x[:6].astype(np.uint8)
    np.testing.assert_array_equal(iwae_log_likelihood(vae, as_uint8, num_samples=4, seed=0),
                                  iwae_log_likelihood(vae, x[:6], num_samples=4, seed=0))
    # uint8 0-255 grey levels are divided by 255, as in scale_images
    (x_train, _), _ = mnist
    from_uint8 = evaluate_elbo(vaes["gaussian"], x_train[:6], seed=0)
    np.testing.assert_array_equal(from_uint8["elbo"],
                                  evaluate_elbo(vaes["gaussian"], vae_tf.scale_images(x_train[:6]), seed=0)["elbo"])


def test_grey_levels_under_a_bernoulli_likelihood_warn_once_per_call(trained_vaes, mnist):
    vaes, x = trained_vaes
    (x_train, _), _ = mnist
    grey = vae_tf.scale_images(x_train[:10])
    for evaluator in (iwae_log_likelihood, evaluate_elbo):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            evaluator(vaes["bernoulli"], grey, num_samples=4, batch_size=3, chunk_size=2, seed=0)
        assert len(caught) == 1, [str(w.message) for w in caught]
        message = str(caught[0].message)
        assert evaluator.__name__ in message and "not a bound" in message
        assert "binarize_static" in message and 'likelihood="continuous_bernoulli"' in message
        assert caught[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # binary images, or a Gaussian likelihood: no warning
        iwae_log_likelihood(vaes["bernoulli"], x[:10], num_samples=2, seed=0)
        evaluate_elbo(vaes["gaussian"], grey, seed=0)


# --------------------------------------------------------------------------- active units
def _vae_with_dead_dimensions(dead):
    """An untrained VAE (latent 6) whose posterior for the dimensions ``dead`` is exactly the
    prior N(0, 1) for every image, while the others follow the image strongly."""
    keras.utils.set_random_seed(0)
    vae = vae_tf.VAE(vae_tf.build_encoder(latent_dim=6, hidden_units=(16,)), vae_tf.build_decoder(latent_dim=6))
    for layer, scale in (("z_mean", 3.0), ("z_log_var", 0.3)):
        kernel, bias = vae.encoder.get_layer(layer).get_weights()
        kernel = kernel * scale
        kernel[:, dead] = 0.0
        bias[dead] = 0.0
        vae.encoder.get_layer(layer).set_weights([kernel, bias])
    return vae


def test_active_units_count_dimensions_that_carry_information(small_batch):
    x, _ = small_batch
    dead = [1, 4]
    vae = _vae_with_dead_dimensions(dead)
    kl = latent_activity(vae, x)
    np.testing.assert_allclose(kl, vae.kl_per_dimension(x), rtol=1e-6)
    np.testing.assert_allclose(kl[dead], 0.0, atol=1e-7)
    assert np.all(np.delete(kl, dead) > 0.01)
    variance = latent_activity(vae, x, criterion="variance")
    np.testing.assert_allclose(variance[dead], 0.0, atol=1e-10)
    np.testing.assert_allclose(variance, np.var(vae.encode(x)[0].astype("float64"), axis=0), rtol=1e-6)
    assert active_units(vae, x) == 4
    assert active_units(vae, x, criterion="variance") == 4
    assert active_units(vae, x, threshold=1e9) == 0
    assert active_units(vae, x, threshold=float(np.sort(kl)[-2])) == 1  # strictly above the threshold


def test_active_units_reject_bad_arguments(small_batch):
    x, _ = small_batch
    vae = _vae_with_dead_dimensions([0])
    with pytest.raises(ValueError, match="criterion"):
        active_units(vae, x[:8], criterion="entropy")
    with pytest.raises(ValueError, match="threshold"):
        active_units(vae, x[:8], threshold=-0.1)
