"""The importance-weighted autoencoder (Burda, Grosse & Salakhutdinov 2016, "Importance Weighted
Autoencoders"): a :class:`vae_tf.VAE` trained on the ``k``-sample bound instead of the ELBO.

Same encoder, decoder and prior as the VAE; only the objective differs. Per example, with
``z_1..z_k ~ q(z|x)`` and ``log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)``::

    loss = -L_k(x) = -log (1/k) sum_i w_i          (nats)

``E[L_1] = ELBO <= E[L_k] <= E[L_{k+1}] <= log p(x)``. The loss is written in :meth:`IWAE.loss_terms`
and trained by the family's shared step (:mod:`vae_tf.family.step`); the log-weights come from
:func:`vae_tf.family.bounds.importance_log_weights`, the function the held-out estimator
:func:`vae_tf.iwae_log_likelihood` uses.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from .bounds import importance_log_weights, iwae_bound
from ..core.inputs import check_count
from ..core.losses import kl_divergence
from ..core.vae import VAE
from .step import SharedStep


#: Training objectives of :class:`IWAE`.
OBJECTIVES = ("iwae", "elbo")


@keras.saving.register_keras_serializable(package="vae_tf")
class IWAE(SharedStep, VAE):
    """Importance-weighted autoencoder: :class:`vae_tf.VAE` with the ``k``-sample IWAE objective.

    Args:
        encoder, decoder, likelihood, sigma, seed: as for :class:`vae_tf.VAE`.
        k: importance samples per example (an int >= 1). ``k = 1`` is the VAE: the step then
            computes exactly :class:`vae_tf.VAE`'s loss (closed-form KL, the same noise), the
            lower-variance estimator of the same objective.
        objective: ``"iwae"`` (default) minimises ``-L_k``; ``"elbo"`` minimises the ``k``-sample
            negative ELBO ``reconstruction_loss + kl_loss`` (Burda et al.'s "VAE" with ``k``
            samples), with ``iwae_gain`` still logged as a diagnostic.
        beta: must be 1 (kept for the shared config; the IWAE bound has no KL weight).

    Logged per-example terms (nats; means over the epoch like every model's):

    * ``loss``: what the step minimises: ``-L_k(x)``, or for ``objective="elbo"`` the
      ``k``-sample negative ELBO ``reconstruction_loss + kl_loss``.
    * ``reconstruction_loss``: the mean over the ``k`` draws of ``-log p(x|z_i)``.
    * ``kl_loss``: closed-form ``KL(q(z|x) || N(0, I))``. ``reconstruction_loss + kl_loss``
      is the negative ELBO estimated from the same draws (unbiased).
    * ``iwae_gain``: ``reconstruction_loss + kl_loss - (-L_k(x))``, the nats the ``k``-sample
      bound gains over that ELBO (``>= 0`` in expectation; 0 for ``k = 1``, where the step is the
      VAE's).

    So ``loss == reconstruction_loss + kl_loss - iwae_gain`` (:attr:`loss_weights`) up to float
    rounding, as for every model; with ``objective="elbo"``, ``loss == reconstruction_loss +
    kl_loss`` and ``iwae_gain`` is a diagnostic outside ``loss``. A step costs ``k`` decoder
    passes per example.

    Raises:
        ValueError: ``k`` not a positive integer (:class:`vae_tf.InputError`), ``beta != 1``, an
            unknown ``objective``, or as :class:`vae_tf.VAE`.
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        k: int = 1,
        objective: str = "iwae",
        beta: float = 1.0,
        **kwargs,
    ):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}.")
        if float(beta) != 1.0:
            raise ValueError(f"IWAE has no KL weight: beta must be 1, got {beta!r}; use vae_tf.VAE for beta != 1.")
        self.k = check_count(k, name="k")
        self.objective = objective
        super().__init__(encoder, decoder, beta=1.0, **kwargs)
        self.iwae_gain_tracker = keras.metrics.Mean(name="iwae_gain")

    @property
    def loss_weights(self) -> dict[str, float]:
        """``loss = reconstruction_loss + kl_loss [- iwae_gain]`` (see the class docstring)."""
        weights = {"reconstruction_loss": 1.0, "kl_loss": 1.0}
        return weights if self.objective == "elbo" else {**weights, "iwae_gain": -1.0}

    @property
    def metrics(self):
        return [*super().metrics, self.iwae_gain_tracker]

    def loss_terms(self, x, y=None, training: bool = False) -> dict[str, Any]:
        """Per-example terms in nats (float32), each ``(batch,)``: ``loss``,
        ``reconstruction_loss``, ``kl_loss`` and ``iwae_gain`` (class docstring). ``y`` is ignored."""
        if self.k == 1:  # the VAE's own terms (closed-form KL); the bound gains nothing
            terms = super().loss_terms(x, training=training)
            return {**terms, "iwae_gain": ops.zeros_like(terms["loss"])}
        z_mean, z_log_var = self.posterior(x, training=training)
        repeat = lambda t: ops.repeat(ops.expand_dims(t, 0), self.k, axis=0)  # noqa: E731
        z = ops.cast(self.sampling([repeat(z_mean), repeat(z_log_var)]), "float32")  # (k, batch, latent)
        decode = lambda codes: self.decoder(codes, training=training)  # noqa: E731
        log_w, log_px_z = importance_log_weights(x, z, z_mean, z_log_var, decode, self.likelihood, self.sigma)
        neg_bound = -iwae_bound(log_w, axis=0)
        recon = -ops.mean(log_px_z, axis=0)
        kl = kl_divergence(z_mean, z_log_var)
        loss = recon + kl if self.objective == "elbo" else neg_bound
        return {"loss": loss, "reconstruction_loss": recon, "kl_loss": kl, "iwae_gain": recon + kl - neg_bound}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"k": self.k, "objective": self.objective})
        return config
