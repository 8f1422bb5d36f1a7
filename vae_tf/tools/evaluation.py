"""Held-out evaluation of VAEs: importance-weighted log-likelihood and active latent units.

The ELBO is a lower bound on ``log p(x)``; its gap is ``KL(q(z|x) || p(z|x))``. The
importance-weighted bound of Burda, Grosse & Salakhutdinov (2016, "Importance Weighted
Autoencoders") tightens it with ``K`` samples ``z_1..z_K ~ q(z|x)``::

    L_K(x) = log (1/K) sum_k w_k,    w_k = p(x, z_k) / q(z_k | x).

``E[L_1] = ELBO``, ``E[L_K] <= E[L_{K+1}] <= log p(x)``, and ``L_K -> log p(x)`` as
``K -> inf`` (for a ``q`` whose support covers the posterior's). ``-L_K`` for large ``K``
(5000 in the paper, 1000 here by default) is the standard "NLL" reported for VAEs.

The estimator core, :func:`~vae_tf.family.bounds.iwae_bound`, only needs the log-weights, so it
serves any model (e.g. :class:`vae_tf.LinearGaussianModel`, whose exact ``log p(x)`` checks it); it
lives in :mod:`vae_tf.family.bounds`, beside the log-weights that :class:`vae_tf.IWAE` trains on.
:func:`iwae_log_likelihood` computes the log-weights of a :class:`vae_tf.VAE` in batches of
examples and chunks of samples, combined with a running log-sum-exp, so that memory is
bounded whatever ``K`` is. Everything is per example, in nats.
"""

from __future__ import annotations

import itertools
import math
import weakref

import numpy as np
import tensorflow as tf
from keras import ops

from ..core.arrays import as_images
from ..core.inputs import InputError, check_count
from ..core.layers import reparameterize
from ..core.losses import kl_divergence
from ..family.bounds import (  # noqa: F401  (re-exported: the estimators' maths lives with the family)
    NotADensityWarning,
    diagonal_gaussian_log_density,
    importance_log_weights,
    iwae_bound,
    standard_normal_log_density,
    warn_if_not_a_density,
)

CRITERIA = ("kl", "variance")


# --------------------------------------------------------------------------- VAE estimators
def _check_vae_input(vae, x) -> np.ndarray:
    """``x`` as ``float32`` images of ``vae.image_shape`` under the package's pixel rule
    (:mod:`vae_tf.core.inputs`); ``(n, h, w)`` is taken as one-channel images. Raises
    :class:`vae_tf.InputError`."""
    if vae.conditions_on_digits:
        raise InputError(
            f"this estimator needs an unconditional VAE (encoder and decoder on images only); "
            f"{type(vae).__name__} conditions on digits."
        )
    shape = tuple(vae.image_shape)
    x = np.asarray(x)
    if x.ndim == len(shape) and shape[-1] == 1 and x.shape[1:] == shape[:-1]:
        x = x[..., None]  # (n, h, w) -> (n, h, w, 1)
    return as_images(x, shape)


# Traced log-weight functions, one per (VAE, likelihood, sigma); weak keys, so a VAE that is
# no longer used elsewhere is freed together with its functions.
_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _log_weights_fn(vae):
    """A ``tf.function`` ``(x (B, *image_shape), num (), seed (2,)) -> (log_weights, log p(x|z))``,
    both of shape ``(num, B)``; traced once per VAE (``B`` and ``num`` are dynamic)."""
    likelihood, sigma, shape = vae.likelihood, vae.sigma, tuple(vae.image_shape)
    per_vae = _TRACED.setdefault(vae, {})
    if (likelihood, sigma) in per_vae:
        return per_vae[(likelihood, sigma)]
    vae_ref = weakref.ref(vae)  # the traced function must not keep the VAE alive

    # Plain tensor code with no Python control flow to convert: AutoGraph is skipped (it warned
    # "closure mismatch" for this closure and ran it as-is anyway).
    @tf.autograph.experimental.do_not_convert
    def fn(x, num, seed):
        model = vae_ref()
        z_mean, z_log_var = model.encoder(x, training=False)[:2]
        batch, latent = ops.shape(z_mean)[0], z_mean.shape[-1]
        # Stateless draws seeded by a traced (2,) tensor: keras.random takes only int or
        # SeedGenerator seeds, which would retrace or carry state, so this one call stays tf.
        eps = tf.random.stateless_normal(ops.stack([num, batch, latent]), seed=seed, dtype=z_mean.dtype)
        z = reparameterize(z_mean, z_log_var, eps)  # (num, B, latent)
        decode = lambda codes: model.decoder(codes, training=False)  # noqa: E731
        return importance_log_weights(x, z, z_mean, z_log_var, decode, likelihood, sigma)

    signature = [
        tf.TensorSpec((None, *shape), tf.float32),
        tf.TensorSpec((), tf.int32),
        tf.TensorSpec((2,), tf.int32),
    ]
    # tf.function: one trace for every batch and chunk size (keras.ops has no tracing API).
    per_vae[(likelihood, sigma)] = tf.function(fn, input_signature=signature)
    return per_vae[(likelihood, sigma)]


def iwae_log_likelihood(
    vae,
    x,
    num_samples: int = 1000,
    batch_size: int = 100,
    chunk_size: int = 100,
    seed: int | None = None,
) -> np.ndarray:
    """Importance-weighted estimates of ``log p(x)`` under a :class:`vae_tf.VAE`, per example.

    For each image, draws ``num_samples`` codes ``z_k ~ q(z|x)`` and returns
    :func:`iwae_bound` of ``log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x)``, with the
    VAE's likelihood (``vae.likelihood``, ``vae.sigma``) and the prior ``N(0, I)``. ``-result``
    is the importance-weighted NLL; ``num_samples=1`` gives a single-sample ELBO (with a
    sampled, not closed-form, KL). Work is done for ``batch_size`` images and ``chunk_size``
    samples at a time (``batch_size * chunk_size`` decoder evaluations per step), the chunks
    combined by a running log-sum-exp, so memory does not grow with ``num_samples``.

    Args:
        vae: a :class:`vae_tf.VAE` (encoder on images only).
        x: images of shape ``(n, *vae.image_shape)`` (or ``(n, h, w)`` for one channel),
            preprocessed as in training (e.g. binarized), under the pixel rule of
            :mod:`vae_tf.core.inputs` (floats in ``[0, 1]``; ``uint8`` 0-255 is divided by 255,
            ``uint8`` 0/1 is kept binary). Grey levels under ``likelihood="bernoulli"`` give a
            ``UserWarning``: that Bernoulli is not a density on ``[0, 1]``, so the result is not
            a bound on ``log p(x)``.
        num_samples: ``K``, importance samples per image.
        batch_size: images per step.
        chunk_size: samples per image per step.
        seed: seed of the samples; the same seed, ``batch_size`` and ``chunk_size`` give the same result.

    Returns:
        float64 array of shape ``(n,)``: ``log p(x)`` estimates in nats.

    Raises:
        InputError: (a ``ValueError``) sizes that are not positive integers, pixels outside the
            rule, a shape that does not match the VAE, no images, or a digit-conditioned VAE.
    """
    x, num_samples, batch_size, chunk_size, seed = _check_sampling_args(
        vae, x, num_samples, batch_size, chunk_size, seed, "iwae_log_likelihood"
    )
    out = np.empty(len(x), dtype="float64")
    for start, xb, chunks in _sample_batches(vae, x, num_samples, batch_size, chunk_size, seed):
        total = None
        for log_w, _ in chunks:
            part = ops.logsumexp(log_w, axis=0)
            total = part if total is None else ops.logaddexp(total, part)
        out[start : start + len(xb)] = ops.convert_to_numpy(total).astype("float64") - math.log(num_samples)
    return out


def evaluate_elbo(
    vae,
    x,
    num_samples: int = 1,
    batch_size: int = 500,
    chunk_size: int = 20,
    seed: int | None = None,
) -> dict[str, np.ndarray]:
    """The ELBO (``beta = 1``, whatever ``vae.beta`` is) and its two terms, per example.

    ``reconstruction_loss = -E_q[log p(x|z)]`` (Monte Carlo: mean over ``num_samples`` draws
    ``z ~ q(z|x)``), ``kl_loss = KL(q(z|x) || N(0, I))`` (closed form) and
    ``elbo = -(reconstruction_loss + kl_loss)``. With ``num_samples = 1`` and ``beta = 1``,
    ``-elbo`` is distributed like the VAE's own per-example ``loss``.

    Args:
        vae, x, batch_size, chunk_size, seed: as for :func:`iwae_log_likelihood`.
        num_samples: Monte Carlo samples for the reconstruction term.

    Returns:
        dict of float64 arrays of shape ``(n,)``, nats: ``"elbo"``, ``"reconstruction_loss"``,
        ``"kl_loss"``.

    Raises:
        InputError: as :func:`iwae_log_likelihood`.
    """
    x, num_samples, batch_size, chunk_size, seed = _check_sampling_args(
        vae, x, num_samples, batch_size, chunk_size, seed, "evaluate_elbo"
    )
    recon = np.empty(len(x), dtype="float64")
    for start, xb, chunks in _sample_batches(vae, x, num_samples, batch_size, chunk_size, seed):
        total = 0.0
        for _, log_px_z in chunks:
            total = total + np.sum(ops.convert_to_numpy(log_px_z).astype("float64"), axis=0)
        recon[start : start + len(xb)] = -total / num_samples
    z_mean, z_log_var = vae.encode(x, batch_size=batch_size)
    kl = ops.convert_to_numpy(kl_divergence(z_mean, z_log_var)).astype("float64")
    return {"elbo": -(recon + kl), "reconstruction_loss": recon, "kl_loss": kl}


def _check_sampling_args(vae, x, num_samples, batch_size, chunk_size, seed, caller: str):
    """The checked arguments of :func:`iwae_log_likelihood` and :func:`evaluate_elbo`:
    ``(x, num_samples, batch_size, chunk_size, seed)``; raises ``InputError`` as they document
    and warns for grey levels under a Bernoulli likelihood."""
    x = _check_vae_input(vae, x)
    num_samples = check_count(num_samples, name="num_samples")
    batch_size = check_count(batch_size, name="batch_size")
    chunk_size = min(check_count(chunk_size, name="chunk_size"), num_samples)
    warn_if_not_a_density(vae, x, caller)
    return x, num_samples, batch_size, chunk_size, _draw_seed(seed)


def _sample_batches(vae, x, num_samples: int, batch_size: int, chunk_size: int, seed: int):
    """For each batch of ``batch_size`` images, yield ``(start, xb, chunks)``; ``chunks`` yields
    ``(log_w, log_px_z)``, each of shape ``(num, len(xb))``, for successive chunks of at most
    ``chunk_size`` of the ``num_samples`` samples. Chunk ``i`` (counted over all batches) is
    seeded by ``(seed, i)``, so the result depends only on the seed and the two sizes."""
    fn = _log_weights_fn(vae)
    step = itertools.count()

    def chunks(xb):
        for done in range(0, num_samples, chunk_size):
            num = min(chunk_size, num_samples - done)
            yield fn(xb, ops.convert_to_tensor(num, "int32"), ops.convert_to_tensor([seed, next(step)], "int32"))

    for start in range(0, len(x), batch_size):
        xb = ops.convert_to_tensor(x[start : start + batch_size])
        yield start, xb, chunks(xb)


def _draw_seed(seed: int | None) -> int:
    """A non-negative int32 seed from ``seed`` (fresh entropy when ``None``)."""
    return int(np.random.SeedSequence(seed).generate_state(1)[0] >> 1)


# --------------------------------------------------------------------------- latent activity
def latent_activity(vae, x, criterion: str = "kl", batch_size: int = 512) -> np.ndarray:
    """How much each latent dimension is used, over images ``x``: shape ``(latent_dim,)``.

    ``criterion="kl"`` (default): the mean over ``x`` of ``KL(q(z_i|x) || N(0, 1))`` in nats
    (:meth:`vae_tf.VAE.kl_per_dimension`); a collapsed dimension has ``q(z_i|x) = p(z_i)``
    for every ``x`` and so 0 nats. ``criterion="variance"``: ``Var_x(E_q[z_i|x])``, the
    spread of the posterior means across the data (Burda et al. 2016, who call a unit
    active when it exceeds 0.01).

    Raises:
        ValueError: unknown ``criterion``, or bad ``x`` as in :func:`iwae_log_likelihood`.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}.")
    x = _check_vae_input(vae, x)
    if criterion == "kl":
        return np.asarray(vae.kl_per_dimension(x, batch_size=batch_size), dtype="float64")
    z_mean, _ = vae.encode(x, batch_size=batch_size)
    return np.var(z_mean.astype("float64"), axis=0)


def active_units(vae, x, threshold: float = 0.01, criterion: str = "kl", batch_size: int = 512) -> int:
    """The number of latent dimensions whose :func:`latent_activity` exceeds ``threshold``.

    By default a dimension is active when its mean per-dimension KL over ``x`` is above
    0.01 nats; ``criterion="variance"`` uses Burda et al.'s ``Var_x(E_q[z_i|x]) > 0.01``.
    The result lies in ``[0, vae.latent_dim]``.

    Raises:
        ValueError: negative or non-finite ``threshold``, or as :func:`latent_activity`.
    """
    threshold = float(threshold)
    if not (math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}.")
    return int(np.sum(latent_activity(vae, x, criterion, batch_size) > threshold))
