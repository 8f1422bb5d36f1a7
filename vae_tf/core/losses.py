"""The terms of the evidence lower bound (ELBO), in closed form where one exists.

Every function works per example: it sums over the event axes (pixels, or latent dimensions)
and returns shape ``(batch,)`` in **nats**; the caller averages (over a batch in training, over
the test set in evaluation). The decoder outputs **logits** ``(batch, *image_shape)``; the pixel
mean is ``sigmoid(logits)``, or :func:`continuous_bernoulli_mean` (:func:`pixel_mean` picks).
"""

from __future__ import annotations

import math

from keras import ops

#: Likelihoods ``p(x|z)`` of :func:`reconstruction_log_likelihood`.
LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli")


#: Below this ``|logits|`` the continuous Bernoulli's normaliser and mean use their Taylor
#: series: the closed forms are 0/0 at ``logits = 0`` and cancel catastrophically near it. At the
#: switch the series' truncation error is ~1e-12 and the closed forms' rounding ~1e-7 (float32).
_CB_SERIES_BELOW = 0.25


def _sum_over_event_axes(t):
    """Sum a ``(batch, ...)`` tensor over every axis but the first."""
    axes = tuple(range(1, len(t.shape)))
    return ops.sum(t, axis=axes) if axes else t


def kl_divergence(
    z_mean,
    z_log_var,
    prior_mean=None,
    prior_log_var=None,
    per_dimension: bool = False,
):
    """Closed-form ``KL(q || p)`` between diagonal Gaussians, in nats: ``q = N(z_mean,
    exp(z_log_var))``, ``p = N(prior_mean, exp(prior_log_var))`` (``N(0, I)`` when both are None).
    Per dimension ``0.5 * (var_q / var_p + (mu_p - mu_q)**2 / var_p - 1 + log var_p - log var_q)``,
    for ``N(0, 1)`` ``0.5 * (var_q + mu_q**2 - 1 - log var_q)``; exactly 0 when ``q == p``.
    Shapes ``(batch, latent_dim)`` (the prior's broadcast) in, ``(batch,)`` out, or
    ``(batch, latent_dim)`` with ``per_dimension``."""
    z_mean = ops.convert_to_tensor(z_mean)
    z_log_var = ops.convert_to_tensor(z_log_var, dtype=z_mean.dtype)
    if prior_mean is None and prior_log_var is None:
        kl = 0.5 * (ops.exp(z_log_var) + ops.square(z_mean) - 1.0 - z_log_var)
    else:
        prior_mean = ops.zeros_like(z_mean) if prior_mean is None else ops.cast(prior_mean, z_mean.dtype)
        prior_log_var = (
            ops.zeros_like(z_log_var) if prior_log_var is None else ops.cast(prior_log_var, z_mean.dtype)
        )
        kl = 0.5 * (
            ops.exp(z_log_var - prior_log_var)
            + ops.square(prior_mean - z_mean) * ops.exp(-prior_log_var)
            - 1.0
            + prior_log_var
            - z_log_var
        )
    return kl if per_dimension else _sum_over_event_axes(kl)


def bernoulli_log_likelihood(x, logits):
    """``log p(x | z)`` for independent Bernoulli pixels with ``p = sigmoid(logits)``, in nats.

    Computed from logits as ``x * l - softplus(l)``, which is exact and never takes the log of
    0 (no clipping). ``x`` may be binary or grey levels in ``[0, 1]`` (then this is minus the
    binary cross-entropy). Shapes ``(batch, ...)`` in, ``(batch,)`` out.
    """
    logits = ops.convert_to_tensor(logits)
    x = ops.cast(x, logits.dtype)
    return _sum_over_event_axes(x * logits - ops.softplus(logits))


def gaussian_log_likelihood(x, mean, sigma: float = 1.0):
    """``log N(x | mean, sigma**2 I)`` in nats, summed over the ``D`` pixels: ``-SSE / (2 sigma**2)
    - D log(sigma sqrt(2 pi))``, the squared error up to a scale and a constant; a density, so it can
    be positive. Shapes ``(batch, ...)`` in, ``(batch,)`` out. Raises ``ValueError`` if ``sigma <= 0``."""
    if not sigma > 0:
        raise ValueError(f"sigma must be a positive number, got {sigma!r}.")
    mean = ops.convert_to_tensor(mean)
    x = ops.cast(x, mean.dtype)
    log_norm = math.log(sigma) + 0.5 * math.log(2.0 * math.pi)
    return _sum_over_event_axes(-0.5 * ops.square((x - mean) / sigma) - log_norm)


def _small_and_safe(logits):
    """``(|logits| < _CB_SERIES_BELOW, logits with those entries set to 1)``: the closed forms are
    evaluated at the safe values so that neither they nor their gradients are NaN under ``where``."""
    small = ops.abs(logits) < _CB_SERIES_BELOW
    return small, ops.where(small, ops.ones_like(logits), logits)


def continuous_bernoulli_log_normalizer(logits):
    """``log C(lambda)`` per pixel for ``lambda = sigmoid(logits)``, in nats, same shape as ``logits``.

    The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019) on ``[0, 1]`` has density
    ``C(lambda) lambda**x (1 - lambda)**(1 - x)`` with ``C = 2 artanh(1 - 2 lambda) / (1 - 2 lambda)``,
    which in logits is ``l / tanh(l / 2)``: even in ``l``, ``C = 2`` at ``l = 0``. Computed as
    ``log|l| - log(-expm1(-|l|)) + softplus(-|l|)``, and for ``|l| < 0.25`` as its Taylor series
    ``log 2 + l**2/12 - 7 l**4/1440 + 31 l**6/90720 - 127 l**8/4838400``; finite gradients everywhere.
    """
    logits = ops.convert_to_tensor(logits)
    small, safe = _small_and_safe(logits)
    a = ops.abs(safe)
    closed = ops.log(a) - ops.log(-ops.expm1(-a)) + ops.softplus(-a)
    l2 = ops.square(logits)
    series = math.log(2.0) + l2 * (1 / 12 + l2 * (-7 / 1440 + l2 * (31 / 90720 - l2 * (127 / 4838400))))
    return ops.where(small, series, closed)


def continuous_bernoulli_log_likelihood(x, logits):
    """``log p(x | z)`` for independent continuous-Bernoulli pixels, ``lambda = sigmoid(logits)``,
    in nats: :func:`bernoulli_log_likelihood` plus the log normaliser
    (:func:`continuous_bernoulli_log_normalizer`) of every pixel. A normalised density on
    ``[0, 1]`` for grey levels ``x``, so ``-ELBO`` bounds ``-log p(x)`` (it can be negative).
    Shapes ``(batch, ...)`` in, ``(batch,)`` out."""
    logits = ops.convert_to_tensor(logits)
    return bernoulli_log_likelihood(x, logits) + _sum_over_event_axes(continuous_bernoulli_log_normalizer(logits))


def continuous_bernoulli_mean(logits):
    """``E[x]`` of the continuous Bernoulli with ``lambda = sigmoid(logits)`` (not ``lambda``):
    ``lambda / (2 lambda - 1) + 1 / (2 artanh(1 - 2 lambda)) = -1 / expm1(-l) - 1 / l``, and for
    ``|l| < 0.25`` its series ``1/2 + l/12 - l**3/720 + l**5/30240 - l**7/1209600``. Same shape
    as ``logits``, values in ``(0, 1)``."""
    logits = ops.convert_to_tensor(logits)
    small, safe = _small_and_safe(logits)
    closed = -1.0 / ops.expm1(-safe) - 1.0 / safe
    l2 = ops.square(logits)
    series = 0.5 + logits * (1 / 12 + l2 * (-1 / 720 + l2 * (1 / 30240 - l2 * (1 / 1209600))))
    return ops.where(small, series, closed)


def pixel_mean(logits, likelihood: str = "bernoulli"):
    """The mean image ``E[x | z]`` for decoder ``logits`` under the named likelihood:
    :func:`continuous_bernoulli_mean` for ``"continuous_bernoulli"``, else ``sigmoid(logits)``."""
    if check_likelihood(likelihood) == "continuous_bernoulli":
        return continuous_bernoulli_mean(logits)
    return ops.sigmoid(logits)


def check_likelihood(likelihood: str) -> str:
    """Return ``likelihood`` if it names a supported likelihood, else raise ``ValueError``."""
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}.")
    return likelihood


def reconstruction_log_likelihood(x, logits, likelihood: str = "bernoulli", sigma: float = 0.1):
    """``log p(x | z)`` in nats for decoder ``logits``, under the named likelihood.

    ``"bernoulli"``: :func:`bernoulli_log_likelihood` (a density for binary pixels only);
    ``"continuous_bernoulli"``: :func:`continuous_bernoulli_log_likelihood` (a density on
    ``[0, 1]``); ``"gaussian"``: :func:`gaussian_log_likelihood` with mean ``sigmoid(logits)``
    and standard deviation ``sigma``. Shapes ``(batch, ...)`` in, ``(batch,)`` out.
    """
    likelihood = check_likelihood(likelihood)
    if likelihood == "bernoulli":
        return bernoulli_log_likelihood(x, logits)
    if likelihood == "continuous_bernoulli":
        return continuous_bernoulli_log_likelihood(x, logits)
    return gaussian_log_likelihood(x, ops.sigmoid(logits), sigma)


def elbo(
    x,
    logits,
    z_mean,
    z_log_var,
    likelihood: str = "bernoulli",
    sigma: float = 0.1,
    beta: float = 1.0,
):
    """Single-sample ELBO per example, in nats: ``log p(x | z) - beta * KL(q(z|x) || N(0, I))``.

    ``logits`` must be the decoder's output for a ``z`` drawn from ``q(z | x)``. With
    ``beta = 1`` this is the evidence lower bound, ``<= log p(x)`` in expectation; the VAE
    loss is its negative. Returns shape ``(batch,)``.
    """
    log_px_z = reconstruction_log_likelihood(x, logits, likelihood, sigma)
    return log_px_z - beta * kl_divergence(z_mean, z_log_var)
