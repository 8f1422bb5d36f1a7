"""Monte Carlo estimators of ``grad_theta E_{q_theta}[f(z)]`` for a diagonal Gaussian ``q``.

``q = N(mean, diag(exp(log_var)))`` with parameters ``theta = (mean, log_var)``, each of shape
``(dim,)``. The gradient of an expectation under ``q`` is what a VAE needs to train its
encoder (``f`` is then ``log p(x|z)``). Two unbiased estimators:

* **score function** (REINFORCE, likelihood ratio)::

      grad = E_q[(f(z) - b) * grad_theta log q(z)]

  needs only values of ``f`` (it may be non-differentiable) and a constant baseline ``b``
  (``b = 0`` by default; any constant keeps it unbiased since ``E_q[grad log q] = 0``);
* **reparameterization** (pathwise)::

      z = mean + exp(0.5 * log_var) * eps,  eps ~ N(0, I);   grad = E_eps[grad_theta f(z(eps))]

  needs ``f`` to be differentiable, written with ``keras.ops``; the gradient is taken by
  ``tf.GradientTape``, exactly as in :meth:`vae_tf.VAE.train_step`.

Both return ``num_repeats`` independent estimates, each an average over ``num_samples``
draws, as NumPy ``float64`` arrays, so their means and variances can be compared.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

GradientEstimate = tuple[np.ndarray, np.ndarray]


def _check(mean, log_var, num_samples: int, num_repeats: int) -> tuple[np.ndarray, np.ndarray]:
    mean = np.asarray(mean, dtype="float64")
    log_var = np.asarray(log_var, dtype="float64")
    if mean.ndim != 1 or mean.shape != log_var.shape:
        raise ValueError(f"mean and log_var must both have shape (dim,), got {mean.shape} and {log_var.shape}.")
    if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(log_var)):
        raise ValueError("mean and log_var must be finite.")
    for name, n in (("num_samples", num_samples), ("num_repeats", num_repeats)):
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive integer, got {n!r}.")
    return mean, log_var


def _values(f, z, num_repeats: int, num_samples: int):
    values = f(z)
    if tuple(values.shape) != (num_repeats, num_samples):
        raise ValueError(
            f"f must map z of shape (..., dim) to shape z.shape[:-1] = {(num_repeats, num_samples)}, "
            f"got {tuple(values.shape)}."
        )
    return values


def score_function_gradient(
    f: Callable,
    mean,
    log_var,
    num_samples: int = 1,
    num_repeats: int = 1,
    baseline: float = 0.0,
    seed: int | None = None,
) -> GradientEstimate:
    """Score-function (REINFORCE) estimates of ``grad E_q[f(z)]`` w.r.t. ``(mean, log_var)``.

    Uses ``grad_mean log q = (z - mean) / var`` and
    ``grad_log_var log q = 0.5 * ((z - mean)**2 / var - 1)``.

    Args:
        f: maps ``z`` of shape ``(num_repeats, num_samples, dim)`` (NumPy ``float64``) to
            values of shape ``(num_repeats, num_samples)``; NumPy or ``keras.ops`` code.
        mean, log_var: parameters of ``q``, shape ``(dim,)``.
        num_samples: draws averaged in one estimate.
        num_repeats: independent estimates returned.
        baseline: a constant subtracted from ``f`` (a control variate; unbiased for any value).
        seed: NumPy seed of the draws; the same seed gives the same estimates.

    Returns:
        ``(grad_mean, grad_log_var)``, each of shape ``(num_repeats, dim)``.

    Raises:
        ValueError: on mismatched shapes, non-positive counts, or ``f`` returning a wrong shape.
    """
    mean, log_var = _check(mean, log_var, num_samples, num_repeats)
    eps = np.random.default_rng(seed).standard_normal((num_repeats, num_samples, mean.size))
    z = mean + np.exp(0.5 * log_var) * eps
    values = np.asarray(_values(f, z, num_repeats, num_samples), dtype="float64")[..., None] - float(baseline)
    # (z - mean) / var = eps / std and (z - mean)^2 / var = eps^2.
    grad_mean = np.mean(values * eps * np.exp(-0.5 * log_var), axis=1)
    grad_log_var = np.mean(values * 0.5 * (eps**2 - 1.0), axis=1)
    return grad_mean, grad_log_var


def reparameterization_gradient(
    f: Callable,
    mean,
    log_var,
    num_samples: int = 1,
    num_repeats: int = 1,
    seed: int | None = None,
) -> GradientEstimate:
    """Reparameterization (pathwise) estimates of ``grad E_q[f(z)]`` w.r.t. ``(mean, log_var)``.

    Draws ``eps ~ N(0, I)``, sets ``z = mean + exp(0.5 * log_var) * eps`` and differentiates
    the sample average of ``f(z)`` with ``tf.GradientTape``.

    Args:
        f: differentiable function written with ``keras.ops``: maps a ``float64`` tensor ``z``
            of shape ``(num_repeats, num_samples, dim)`` to shape ``(num_repeats, num_samples)``.
        mean, log_var, num_samples, num_repeats, seed: as in :func:`score_function_gradient`
            (the same seed draws the same ``eps``).

    Returns:
        ``(grad_mean, grad_log_var)``, each of shape ``(num_repeats, dim)``.

    Raises:
        ValueError: as :func:`score_function_gradient`, or if ``f`` is not differentiable
            (no gradient reaches ``mean``/``log_var``).
    """
    import tensorflow as tf
    from keras import ops

    from ..core.layers import reparameterize

    mean, log_var = _check(mean, log_var, num_samples, num_repeats)
    eps = np.random.default_rng(seed).standard_normal((num_repeats, num_samples, mean.size))
    # One copy of the parameters per repeat, so one backward pass gives every repeat's gradient.
    m = tf.constant(np.broadcast_to(mean, (num_repeats, 1, mean.size)))
    lv = tf.constant(np.broadcast_to(log_var, (num_repeats, 1, mean.size)))
    with tf.GradientTape() as tape:
        tape.watch([m, lv])
        z = reparameterize(m, lv, tf.constant(eps))
        objective = ops.sum(ops.mean(_values(f, z, num_repeats, num_samples), axis=1))
    grad_mean, grad_log_var = tape.gradient(objective, [m, lv])
    if grad_mean is None or grad_log_var is None:
        raise ValueError("no gradient reached mean/log_var: f must be differentiable and written with keras.ops.")
    return np.asarray(grad_mean)[:, 0, :], np.asarray(grad_log_var)[:, 0, :]
