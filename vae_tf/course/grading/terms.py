"""The two terms of the loss, graded: the KL term and the reconstruction term, each per image in nats.

Each check calls the student's function on fixed inputs inside a ``tf.GradientTape``, compares its
values with ``vae_tf``'s (:func:`vae_tf.kl_divergence`, :func:`vae_tf.bernoulli_log_likelihood`)
and, when they agree, its gradients; when they do not, it names the first known mistake whose
numbers the student's equal."""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf
from keras import ops

from ...core.losses import bernoulli_log_likelihood, kl_divergence
from .verdict import (CORRECT, MISSING, Finished, Verdict, check_gradients, check_shape, close, known_mistake, name_of,
                      relative_error, values_and_gradients, wrong)

BATCH, LATENT_DIM, IMAGE_SHAPE = 8, 5, (28, 28, 1)
PIXELS = int(np.prod(IMAGE_SHAPE))
KL_PIECE, RECONSTRUCTION_PIECE = "KL term", "reconstruction term"
_KL_FORMULA = "-0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)"
_BCE = "ops.binary_crossentropy(x, logits, from_logits=True)"


def kl_inputs(seed: int = 0) -> tuple:
    """Fixed ``(z_mean, z_log_var)``, float32 tensors ``(8, 5)``: means and log-variances of both signs."""
    rng = np.random.default_rng(seed)
    return tuple(ops.convert_to_tensor(rng.normal(scale=s, size=(BATCH, LATENT_DIM)), "float32") for s in (1.0, 1.5))


def reconstruction_inputs(seed: int = 1) -> tuple:
    """Fixed ``(x, logits)``, float32 tensors ``(8, 28, 28, 1)``: grey levels in [0, 1], logits of both signs."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(BATCH, *IMAGE_SHAPE))
    return ops.convert_to_tensor(x, "float32"), ops.convert_to_tensor(rng.normal(scale=3.0, size=x.shape), "float32")


def _kl_mistakes(z_mean, z_log_var) -> list[tuple[str, object]]:
    """The usual KL mistakes, each as ``(message, the values it gives)``."""
    per_dim = kl_divergence(z_mean, z_log_var, per_dimension=True)
    kl = ops.sum(per_dim, axis=-1)
    sigma_as_variance = 0.5 * ops.sum(ops.exp(0.5 * z_log_var) + ops.square(z_mean) - 1.0 - z_log_var, axis=-1)
    return [
        ("the sign is flipped: the KL is never negative, KL = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²); "
         "check the minus sign in front of the 1/2.", -kl),
        ("it is twice too large: the factor 1/2 is missing, KL = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²).",
         2.0 * kl),
        (f"it is the mean over the {LATENT_DIM} latent dimensions, 1/{LATENT_DIM} of the KL: sum over them "
         "(ops.sum(..., axis=-1)), do not average.", ops.mean(per_dim, axis=-1)),
        ("it uses the standard deviation exp(z_log_var / 2) where the formula has the variance σ² = "
         "exp(z_log_var): write ops.exp(z_log_var).", sigma_as_variance),
    ]


def check_kl(kl_term: Callable | None) -> Verdict:
    """Grade ``kl_term(z_mean, z_log_var) -> (batch,)``, ``KL(N(z_mean, exp(z_log_var)) || N(0, I))``
    per image in nats, against :func:`vae_tf.kl_divergence`: values, then gradients w.r.t. both inputs."""
    try:
        if kl_term is None:
            raise Finished(Verdict(KL_PIECE, MISSING, "not written yet (got None)"))
        z_mean, z_log_var = kl_inputs()
        got, gradients = values_and_gradients(KL_PIECE, name_of(kl_term), kl_term, (z_mean, z_log_var))
        hints = {"scalar": "one number for the whole batch; return one KL per image, shape (batch,): sum over the "
                           "latent axis only (axis=-1), the training step averages over the batch.",
                 (BATCH, LATENT_DIM): "one number per latent dimension; sum over them (axis=-1) for one KL per image, "
                                      "shape (batch,).",
                 "nan": "the log-variance z_log_var is a logarithm already: use it as it is, and ops.exp(z_log_var) "
                        "for the variance."}
        check_shape(KL_PIECE, "it", got, (BATCH,), hints)
        want = kl_divergence(z_mean, z_log_var)
        if not close(got, want):
            mistake = known_mistake(got, _kl_mistakes(z_mean, z_log_var))
            raise wrong(KL_PIECE, mistake or f"it differs from vae_tf.kl_divergence by up to "
                                             f"{relative_error(got, want):.2g} (relative); the formula per image is "
                                             f"{_KL_FORMULA}.")
        with tf.GradientTape() as tape:
            tape.watch([z_mean, z_log_var])
            total = ops.sum(kl_divergence(z_mean, z_log_var))
        check_gradients(KL_PIECE, gradients, tape.gradient(total, [z_mean, z_log_var]), ("z_mean", "z_log_var"))
        return Verdict(KL_PIECE, CORRECT, "correct: values and gradients equal vae_tf.kl_divergence's.")
    except Finished as done:
        return done.verdict


def _reconstruction_mistakes(x, logits) -> list[tuple[str, object]]:
    """The usual reconstruction-term mistakes, each as ``(message, the values it gives)``."""
    loss = -bernoulli_log_likelihood(x, logits)
    pixel_axes = tuple(range(1, len(IMAGE_SHAPE) + 1))
    return [
        ("it returns log p(x|z), the log-likelihood; the loss is its negative, -log p(x|z) (the cross-entropy, "
         "never negative): flip the sign.", -loss),
        (f"it is the mean over the {PIXELS} pixels, 1/{PIXELS} of the loss: sum over them (axis=(1, 2, 3)); note "
         "that keras.losses.binary_crossentropy averages over the last axis.", loss / PIXELS),
        (f"it treats the logits as probabilities: the decoder outputs logits (no sigmoid), so pass "
         f"from_logits=True: {_BCE}.", ops.sum(ops.binary_crossentropy(x, logits), axis=pixel_axes)),
    ]


def check_reconstruction(reconstruction_term: Callable | None) -> Verdict:
    """Grade ``reconstruction_term(x, logits) -> (batch,)``, the loss ``-log p(x|z)`` of Bernoulli
    pixels per image in nats (the cross-entropy summed over pixels), against
    ``-vae_tf.bernoulli_log_likelihood``: values, then gradients w.r.t. the logits."""
    try:
        if reconstruction_term is None:
            raise Finished(Verdict(RECONSTRUCTION_PIECE, MISSING, "not written yet (got None)"))
        x, logits = reconstruction_inputs()
        got, gradients = values_and_gradients(RECONSTRUCTION_PIECE, name_of(reconstruction_term), reconstruction_term,
                                              (x, logits))
        per_pixel = f"one number per pixel; sum over the pixels for one loss per image, shape (batch,) = ({BATCH},)."
        hints = {"scalar": "one number for the whole batch; return one loss per image, shape (batch,): sum over the "
                           "pixel axes (1, 2, 3) only, the training step averages over the batch.",
                 (BATCH, *IMAGE_SHAPE): per_pixel, (BATCH, *IMAGE_SHAPE[:-1]): per_pixel, (BATCH, PIXELS): per_pixel,
                 "nan": f"a log of a logit? The decoder outputs logits (any real number), not probabilities: {_BCE}."}
        check_shape(RECONSTRUCTION_PIECE, "it", got, (BATCH,), hints)
        want = -bernoulli_log_likelihood(x, logits)
        if not close(got, want):
            mistake = known_mistake(got, _reconstruction_mistakes(x, logits))
            raise wrong(RECONSTRUCTION_PIECE, mistake or f"it differs from -vae_tf.bernoulli_log_likelihood by up to "
                        f"{relative_error(got, want):.2g} (relative); per image it is ops.sum({_BCE}, axis=(1, 2, 3)).")
        with tf.GradientTape() as tape:
            tape.watch(logits)
            total = -ops.sum(bernoulli_log_likelihood(x, logits))
        check_gradients(RECONSTRUCTION_PIECE, gradients[1:], [tape.gradient(total, logits)], ("the logits",))
        return Verdict(RECONSTRUCTION_PIECE, CORRECT,
                       "correct: values and gradients equal -vae_tf.bernoulli_log_likelihood's.")
    except Finished as done:
        return done.verdict
