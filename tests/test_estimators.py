"""Score-function vs reparameterization gradient estimators against exact gradients."""

import numpy as np
import pytest
from keras import ops

from vae_tf.tools.estimators import reparameterization_gradient, score_function_gradient

MEAN = np.array([0.5, -1.0, 2.0])
LOG_VAR = np.array([0.0, -1.0, 0.5])


def f_np(z):
    return np.sum(np.sin(z), axis=-1)


def f_ops(z):
    return ops.sum(ops.sin(z), axis=-1)


def exact_gradient(mean, log_var):
    """E[sin z] = sin(m) exp(-v/2) for z ~ N(m, v), summed over dimensions."""
    v = np.exp(log_var)
    damp = np.exp(-0.5 * v)
    return np.cos(mean) * damp, np.sin(mean) * damp * (-0.5 * v)


def _check_unbiased(grads, exact):
    for est, ref in zip(grads, exact):
        mean = est.mean(0)
        stderr = est.std(0, ddof=1) / np.sqrt(len(est))
        assert np.all(np.abs(mean - ref) < 5 * stderr + 1e-9), (mean, ref, stderr)


def test_both_estimators_are_unbiased():
    exact = exact_gradient(MEAN, LOG_VAR)
    _check_unbiased(score_function_gradient(f_np, MEAN, LOG_VAR, num_samples=10, num_repeats=4000, seed=0), exact)
    _check_unbiased(reparameterization_gradient(f_ops, MEAN, LOG_VAR, num_samples=10, num_repeats=4000, seed=1), exact)


def test_reparameterization_has_lower_variance_and_baseline_reduces_score_variance():
    def f_shifted(z):  # adding a constant changes nothing in the gradient, but hurts REINFORCE
        return f_np(z) + 10.0

    sf = score_function_gradient(f_shifted, MEAN, LOG_VAR, num_samples=1, num_repeats=5000, seed=0)
    rp = reparameterization_gradient(lambda z: f_ops(z) + 10.0, MEAN, LOG_VAR, num_samples=1, num_repeats=5000, seed=0)
    sf_b = score_function_gradient(f_shifted, MEAN, LOG_VAR, num_samples=1, num_repeats=5000, baseline=10.0, seed=0)
    for k in range(2):
        assert np.all(sf[k].var(0) > 10 * rp[k].var(0))
        assert np.all(sf_b[k].var(0) < sf[k].var(0))


def test_reparameterization_is_exact_for_linear_f_and_quadratic_mean():
    # f(z) = a.z: the pathwise gradient w.r.t. the mean is a for every single draw.
    a = np.array([1.0, -2.0, 3.0])
    g_mean, g_lv = reparameterization_gradient(lambda z: ops.sum(z * a, axis=-1), MEAN, LOG_VAR, 1, 7, seed=3)
    np.testing.assert_allclose(g_mean, np.broadcast_to(a, (7, 3)), rtol=1e-12)
    # and w.r.t. log_var it is a * 0.5 * std * eps, with the same eps the score estimator draws.
    eps = np.random.default_rng(3).standard_normal((7, 1, 3))[:, 0]
    np.testing.assert_allclose(g_lv, a * 0.5 * np.exp(0.5 * LOG_VAR) * eps, rtol=1e-10)


def test_same_seed_same_estimates_and_shapes():
    a = score_function_gradient(f_np, MEAN, LOG_VAR, num_samples=3, num_repeats=5, seed=7)
    b = score_function_gradient(f_np, MEAN, LOG_VAR, num_samples=3, num_repeats=5, seed=7)
    c = score_function_gradient(f_np, MEAN, LOG_VAR, num_samples=3, num_repeats=5, seed=8)
    assert a[0].shape == a[1].shape == (5, 3)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], c[0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mean": np.zeros(2), "log_var": np.zeros(3)}, "shape"),
        ({"mean": np.zeros((2, 2)), "log_var": np.zeros((2, 2))}, "shape"),
        ({"num_samples": 0}, "num_samples"),
        ({"num_repeats": 1.5}, "num_repeats"),
        ({"f": lambda z: np.sum(z)}, "f must map"),
    ],
)
def test_bad_input_raises(kwargs, message):
    args = {"f": f_np, "mean": MEAN, "log_var": LOG_VAR, "num_samples": 2, "num_repeats": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        score_function_gradient(**args)


def test_non_differentiable_f_raises():
    with pytest.raises(ValueError, match="differentiable"):
        reparameterization_gradient(lambda z: ops.zeros(z.shape[:-1], dtype="float64"), MEAN, LOG_VAR, 2, 2, seed=0)
