"""The maths the family's objectives and the evaluators share: the importance-weighted bound.

``L_K(x) = log (1/K) sum_k w_k`` with ``log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x)``,
``z_k ~ q(z|x)`` (Burda, Grosse & Salakhutdinov 2016). :class:`vae_tf.IWAE` trains on it, the
discrete models estimate ``log p(x)`` with it, and :mod:`vae_tf.tools.evaluation` scores any VAE
with it. Everything is per example, in nats.
"""

from __future__ import annotations

import math
import warnings

from keras import ops

from ..core.arrays import pixel_kind
from ..core.losses import reconstruction_log_likelihood

_LOG_2PI = math.log(2.0 * math.pi)


def iwae_bound(log_weights, axis: int = 0):
    """The importance-weighted bound ``log (1/K) sum_k exp(log_weights_k)``, computed stably.

    Args:
        log_weights: ``log p(x, z_k) - log q(z_k | x)`` for ``K`` samples ``z_k ~ q(z|x)``,
            e.g. of shape ``(K, batch)``; any float dtype (float64 stays float64).
        axis: the sample axis ``K`` (default 0).

    Returns:
        A tensor with ``axis`` removed, e.g. shape ``(batch,)``: per-example estimates of
        ``log p(x)`` in nats (lower bounds in expectation). With ``K = 1`` it is the
        single-sample ELBO.

    Raises:
        ValueError: if the sample axis is empty.
    """
    log_weights = ops.convert_to_tensor(log_weights)
    if len(log_weights.shape) == 0:
        raise ValueError("log_weights must have at least one axis (the sample axis).")
    k = log_weights.shape[axis]
    if k is None:
        k = ops.shape(log_weights)[axis]
    elif k == 0:
        raise ValueError("log_weights has no samples along the sample axis.")
    log_k = ops.log(ops.cast(k, log_weights.dtype))
    return ops.logsumexp(log_weights, axis=axis) - log_k


def diagonal_gaussian_log_density(z, mean, log_var):
    """``log N(z | mean, diag(exp(log_var)))`` in nats, summed over the last axis.

    ``z``, ``mean`` and ``log_var`` broadcast against each other, e.g. ``z`` of shape
    ``(K, batch, latent_dim)`` with ``mean``/``log_var`` of shape ``(batch, latent_dim)``;
    the result has the broadcast shape without its last axis, e.g. ``(K, batch)``.
    """
    z = ops.convert_to_tensor(z)
    mean = ops.cast(mean, z.dtype)
    log_var = ops.cast(log_var, z.dtype)
    return -0.5 * ops.sum(_LOG_2PI + log_var + ops.square(z - mean) * ops.exp(-log_var), axis=-1)


def standard_normal_log_density(z):
    """``log N(z | 0, I)`` in nats, summed over the last axis: shape ``z.shape[:-1]``."""
    z = ops.convert_to_tensor(z)
    return -0.5 * ops.sum(_LOG_2PI + ops.square(z), axis=-1)


def importance_log_weights(x, z, z_mean, z_log_var, decode, likelihood: str = "bernoulli", sigma: float = 0.1):
    """The log importance weights ``log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x)`` of a VAE
    with prior ``N(0, I)`` and Gaussian ``q(z|x) = N(z_mean, exp(z_log_var))``, in nats.

    The one place the package computes them: :func:`iwae_log_likelihood` (evaluation) and
    :class:`vae_tf.IWAE` (training) both call it.

    Args:
        x: images ``(B, *image_shape)``.
        z: codes ``(K, B, latent_dim)`` drawn from ``q(z|x)``.
        z_mean, z_log_var: the parameters of ``q(z|x)``, ``(B, latent_dim)``.
        decode: callable from codes ``(K * B, latent_dim)`` to decoder logits ``(K * B, *image_shape)``.
        likelihood, sigma: as :func:`vae_tf.core.losses.reconstruction_log_likelihood`.

    Returns:
        ``(log_w, log_px_z)``, float32 tensors of shape ``(K, B)``: the log-weights and their
        ``log p(x|z_k)`` part.
    """
    num, batch, latent = ops.shape(z)[0], ops.shape(z)[1], z.shape[-1]
    log_q = diagonal_gaussian_log_density(z, z_mean, z_log_var)
    log_prior = standard_normal_log_density(z)
    logits = ops.cast(decode(ops.reshape(z, (-1, latent))), "float32")  # (K * B, *image_shape)
    x_rep = ops.tile(x, [num] + [1] * (len(x.shape) - 1))  # (K * B, *image_shape), z's order
    log_px_z = reconstruction_log_likelihood(x_rep, logits, likelihood, sigma)
    log_px_z = ops.reshape(log_px_z, (num, batch))
    return log_px_z + log_prior - log_q, log_px_z


class NotADensityWarning(UserWarning):
    """Grey-level pixels scored under a Bernoulli likelihood: the numbers bound no ``-log p(x)``."""


def warn_if_not_a_density(vae, x: np.ndarray, caller: str) -> None:
    """Warn (:class:`NotADensityWarning`) when grey-level images are scored under the Bernoulli likelihood."""
    if vae.likelihood == "bernoulli" and pixel_kind(x) == "grey":
        warnings.warn(
            f"{caller}: x holds grey levels, but the VAE's Bernoulli likelihood is a normalised density only "
            "for binary pixels; on [0, 1] its values are not a bound on -log p(x). Score binary pixels (e.g. "
            'vae_tf.binarize_static(x)) with a model trained on binary pixels, or train with likelihood="continuous_bernoulli" '
            "for a true log-density.",
            NotADensityWarning,
            stacklevel=4,  # the caller of iwae_log_likelihood / evaluate_elbo
        )
