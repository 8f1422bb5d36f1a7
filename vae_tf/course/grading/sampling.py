"""The reparameterization trick, graded: a function ``(z_mean, z_log_var, eps) -> z``, or a layer
class whose ``call([z_mean, z_log_var])`` draws its own noise ``eps`` (notebook 02's ``ScratchSampling``).

The layer is built as ``cls(seed=3)``; its noise is read where ``z`` is the noise itself
(``z_mean = 0``, ``z_log_var = 0``): it must look like ``N(0, 1)``, repeat for a layer built with
the same seed, change from one call to the next, and equal what :class:`vae_tf.Sampling` draws
from the same seed. Then ``z`` must equal :func:`vae_tf.core.layers.reparameterize` of that noise,
gradients w.r.t. ``z_mean`` and ``z_log_var`` included."""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ...core.layers import reparameterize
from .terms import BATCH, LATENT_DIM, kl_inputs
from .verdict import (CORRECT, MISSING, Finished, Verdict, call, check_gradients, check_shape, close, known_mistake,
                      name_of, numpy, relative_error, values_and_gradients, wrong)

SAMPLING_PIECE = "sampling"
SEED = 3
#: Draws of the noise whose mean and standard deviation are checked (2000 x 5: each within 0.1 of 0 and 1).
STATS_ROWS = 2000
_DRAW = "eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)"
_SEEDED = f"{_DRAW}, where __init__ sets self.seed_generator = keras.random.SeedGenerator(seed)"


def _formula_mistakes(z_mean, z_log_var, eps) -> list[tuple[str, object]]:
    """The usual mistakes in ``z = z_mean + exp(z_log_var / 2) * eps``, each as ``(message, the z it gives)``."""
    sigma = ops.exp(0.5 * z_log_var)
    return [
        ("it multiplies the noise by exp(z_log_var), the variance σ²; the standard deviation is σ = "
         "exp(z_log_var / 2): z = z_mean + ops.exp(0.5 * z_log_var) * eps.", z_mean + ops.exp(z_log_var) * eps),
        ("it multiplies the noise by z_log_var itself, a log-variance: the standard deviation is σ = "
         "ops.exp(0.5 * z_log_var).", z_mean + z_log_var * eps),
        ("z_mean is missing: z = z_mean + σ ε, not σ ε.", sigma * eps),
        ("the noise is missing: z = z_mean + σ ε with ε ~ N(0, I), not z_mean + σ.", z_mean + sigma),
    ]


def _check_formula(z, z_mean, z_log_var, eps) -> None:
    """Raises :class:`Finished` ("wrong") unless ``z`` is ``reparameterize(z_mean, z_log_var, eps)``."""
    want = reparameterize(z_mean, z_log_var, eps)
    if not close(z, want):
        mistake = known_mistake(z, _formula_mistakes(z_mean, z_log_var, eps))
        raise wrong(SAMPLING_PIECE, mistake or f"z differs from z_mean + exp(z_log_var / 2) * eps by up to "
                                               f"{relative_error(z, want):.2g} (relative).")


def _reference_gradients(z_mean, z_log_var, eps) -> list:
    with tf.GradientTape() as tape:
        tape.watch([z_mean, z_log_var])
        total = ops.sum(reparameterize(z_mean, z_log_var, eps))
    return tape.gradient(total, [z_mean, z_log_var])


def _check_function(fn: Callable) -> None:
    """Grade ``fn(z_mean, z_log_var, eps) -> z`` on fixed inputs, values then gradients."""
    z_mean, z_log_var = kl_inputs()
    eps = ops.convert_to_tensor(np.random.default_rng(2).normal(size=(BATCH, LATENT_DIM)), "float32")
    z, gradients = values_and_gradients(SAMPLING_PIECE, name_of(fn), fn,
                                        (z_mean, z_log_var, eps))
    check_shape(SAMPLING_PIECE, "it", z, (BATCH, LATENT_DIM), {})
    _check_formula(z, z_mean, z_log_var, eps)
    want = _reference_gradients(z_mean, z_log_var, eps)
    check_gradients(SAMPLING_PIECE, gradients[:2], want, ("z_mean", "z_log_var"))


def _new_layer(cls: type) -> keras.layers.Layer:
    return call(SAMPLING_PIECE, f"{cls.__name__}.__init__", cls, seed=SEED)


def _noise(layer, rows: int) -> np.ndarray:
    """The layer's next draw at ``z_mean = 0``, ``z_log_var = 0`` (where ``z`` is the noise), ``(rows, latent_dim)``."""
    zeros = ops.zeros((rows, LATENT_DIM))
    z = numpy(call(SAMPLING_PIECE, f"{type(layer).__name__}.call", layer, [zeros, zeros]))
    check_shape(SAMPLING_PIECE, "the layer", z, (rows, LATENT_DIM), {})
    return z


def _check_noise(cls: type) -> None:
    """Raises :class:`Finished` unless the layer's noise is N(0, 1), seeded, and new at each call."""
    layer = _new_layer(cls)
    first = _noise(layer, STATS_ROWS)
    mean, std = float(first.mean()), float(first.std())
    if abs(mean) > 0.1 or abs(std - 1.0) > 0.1:
        raise wrong(SAMPLING_PIECE, f"at z_mean = 0 and z_log_var = 0, z should be the noise ε ~ N(0, I) itself, but "
                                    f"it has mean {mean:.2f} and standard deviation {std:.2f}: draw {_DRAW}.")
    if not np.array_equal(first, _noise(_new_layer(cls), STATS_ROWS)):
        raise wrong(SAMPLING_PIECE, f"the noise is not seeded: two layers built with seed={SEED} draw different "
                                    f"noise. Draw {_SEEDED}.")
    if np.array_equal(first, _noise(layer, STATS_ROWS)):
        raise wrong(SAMPLING_PIECE, "the layer draws the same noise at every call: pass seed=self.seed_generator "
                                    "(a keras.random.SeedGenerator, which moves on at each draw), not a number.")


def _check_layer(cls: type) -> None:
    """Grade a sampling layer class: its noise, then ``z`` and its gradients given that noise."""
    _check_noise(cls)
    z_mean, z_log_var = kl_inputs()
    eps = _noise(_new_layer(cls), BATCH)  # the first draw of a layer seeded SEED
    layer = _new_layer(cls)
    z, gradients = values_and_gradients(SAMPLING_PIECE, f"{cls.__name__}.call", lambda m, v: layer([m, v]),
                                        (z_mean, z_log_var))
    check_shape(SAMPLING_PIECE, "the layer", z, (BATCH, LATENT_DIM), {})
    _check_formula(z, z_mean, z_log_var, eps)
    package_eps = keras.random.normal((BATCH, LATENT_DIM), seed=keras.random.SeedGenerator(SEED))
    if not close(eps, package_eps):
        raise wrong(SAMPLING_PIECE, f"the formula is right, but the noise is not what vae_tf.Sampling draws from the "
                                    f"same seed, so your VAE and vae_tf.VAE cannot be compared: draw {_SEEDED}.")
    want = _reference_gradients(z_mean, z_log_var, ops.convert_to_tensor(eps, "float32"))
    check_gradients(SAMPLING_PIECE, gradients, want, ("z_mean", "z_log_var"))


def check_sampling(sampling) -> Verdict:
    """Grade the reparameterization trick: ``sampling`` is a function ``(z_mean, z_log_var, eps) -> z``
    or a ``keras.layers.Layer`` subclass built with ``seed=`` whose ``call([z_mean, z_log_var])``
    draws ``eps ~ N(0, I)`` from a ``keras.random.SeedGenerator``; ``z = z_mean + exp(z_log_var / 2) * eps``."""
    try:
        if sampling is None:
            raise Finished(Verdict(SAMPLING_PIECE, MISSING, "not written yet (got None)"))
        if isinstance(sampling, keras.layers.Layer):
            raise wrong(SAMPLING_PIECE, f"got a layer; pass its class, {type(sampling).__name__} (the grader builds "
                                        f"it with seed={SEED}).")
        if isinstance(sampling, type) and issubclass(sampling, keras.layers.Layer):
            _check_layer(sampling)
            return Verdict(SAMPLING_PIECE, CORRECT, "correct: seeded N(0, I) noise, new at each call, and z = "
                                                    "z_mean + exp(z_log_var / 2) * eps with its gradients.")
        _check_function(sampling)
        return Verdict(SAMPLING_PIECE, CORRECT, "correct: z = z_mean + exp(z_log_var / 2) * eps, gradients included.")
    except Finished as done:
        return done.verdict
