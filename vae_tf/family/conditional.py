"""Digit-conditioned VAEs: generate a chosen digit.

* :class:`ConditionalVAE` (CVAE, Sohn et al. 2015), here: the label, one-hot, is an input of both
  the encoder ``q(z | x, y)`` and the decoder ``p(x | z, y)``; its loss is the VAE's with both
  networks conditioned.
* :class:`vae_tf.AuxiliaryClassifierVAE` (:mod:`vae_tf.family.auxiliary`): a classifier predicts the
  digit, and the decoder sees its prediction.

Both derive from :class:`DigitConditionedVAE` (digit handling, the digit x style grid). For both,
generation sets the digit part to a one-hot vector and draws ``z ~ N(0, I)``;
:meth:`DigitConditionedVAE.digit_style_grid` reuses the same ``z`` ("style") for all ten digits,
:class:`StyleGridHistory` records such a grid after every training epoch and
:func:`vae_tf.tools.plotting.plot_digit_style_grid` draws one (a row per style, a column per digit).
Training data are ``(images, labels)`` with images in ``[0, 1]`` and integer labels in
``[0, num_classes)``. :func:`conditional_neg_elbo` and :func:`digit_marginal_bound` score them.

The ConditionalVAE's loss, per image, in nats: ``-log p(x | z, y) + beta KL(q(z | x, y) || N(0, I))``,
one ``z ~ q(z | x, y)``: :meth:`vae_tf.VAE.loss_terms` with :meth:`ConditionalVAE.posterior` and
:meth:`DigitConditionedVAE.decoder_logits` conditioned on ``y``, trained by the family's shared step
(:mod:`vae_tf.family.step`).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..core.arrays import as_class_indices
from ..core.inputs import InputError, check_count, in_batches
from ..core.losses import kl_divergence, reconstruction_log_likelihood
from ..core.vae import VAE
from .step import SharedStep


def condition_width(model: keras.Model, which: str) -> int:
    """Width of the second (conditioning) input of ``model``; 0 if it has one input."""
    if len(model.inputs) == 1:
        return 0
    if len(model.inputs) != 2:
        raise ValueError(f"the {which} must have one or two inputs, got {len(model.inputs)}.")
    return int(model.inputs[1].shape[-1])


class DigitConditionedVAE(SharedStep, VAE):
    """What the digit-conditioned VAEs share: ``num_classes``, labels checked in ``fit`` and
    ``evaluate``, ``digits=`` in ``encode``/``decode``/``reconstruct``/``sample``, and
    :meth:`digit_style_grid`. The decoder takes ``[z, condition]`` with a condition of width
    ``num_classes``. Training runs the family's shared step (:mod:`vae_tf.family.step`) on the
    subclass's :meth:`loss_terms`."""

    conditions_on_digits = True

    def __init__(self, encoder, decoder, num_classes: int = 10, **kwargs):
        self.num_classes = int(num_classes)
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes!r}.")
        super().__init__(encoder, decoder, **kwargs)
        if condition_width(decoder, "decoder") != self.num_classes:
            raise InputError(
                f"the decoder must take [z, condition] with a condition of width num_classes={self.num_classes}: "
                f"build it with build_decoder(..., condition_dim={self.num_classes})."
            )

    def needs_labels(self) -> InputError:
        return InputError(
            f"{type(self).__name__} needs labels: train on (images, labels), e.g. vae_tf.make_dataset(x, y) "
            "or model.fit(x, y); pass digits= to encode/reconstruct."
        )

    def one_hot(self, labels):
        """Integer labels ``(batch,)`` as one-hot float32 vectors ``(batch, num_classes)``."""
        if labels is None:
            raise self.needs_labels()
        return ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), self.num_classes)

    def decoder_logits(self, z, digits=None, training=False):
        """Logits of ``p(x | z, y)`` with the digits ``y`` one-hot: ``decoder([z, one_hot(digits)])``."""
        return ops.cast(self.decoder([z, self.one_hot(digits)], training=training), "float32")

    def digit_array(self, digits, n: int) -> tuple:
        """``(labels,)``: ``digits`` (one int or ``n``) as ``n`` class indices; ``()`` for None."""
        return () if digits is None else (as_class_indices(digits, self.num_classes, n=n, name="digits"),)

    def decode(self, z, *, digits=None, batch_size: int = 512) -> np.ndarray:
        """:meth:`vae_tf.VAE.decode` given ``digits``: one int or one per code (required)."""
        if digits is None:
            raise InputError(f"{type(self).__name__}.decode needs digits=: one digit or one per code.")
        return super().decode(z, digits=digits, batch_size=batch_size)

    def sample(self, n: int, *, digits=None, seed: int | None = None) -> np.ndarray:
        """:meth:`vae_tf.VAE.sample`; ``digits`` drawn uniformly (with ``seed``) when None."""
        if digits is None:
            n, seed = check_count(n), None if seed is None else check_count(seed, name="seed", minimum=0)
            digits = ops.convert_to_numpy(keras.random.randint((n,), 0, self.num_classes, seed=seed))
        return super().sample(n, digits=digits, seed=seed)

    def checked_labels(self, y, n: int, name: str = "x") -> np.ndarray:
        """Labels ``(n,)`` in ``[0, num_classes)``; :class:`vae_tf.InputError` otherwise."""
        if y is None:
            raise self.needs_labels()
        return as_class_indices(y, self.num_classes, n=n, name="labels")

    def digit_style_grid(self, n_styles: int = 8, *, seed: int | None = None) -> np.ndarray:
        """Images of shape ``(num_classes, n_styles, *image_shape)``: entry ``[d, s]`` decodes
        style ``z_s ~ N(0, I)`` with digit ``d``; each style ``s`` shares one ``z`` across all
        digits. The same integer ``seed`` gives the same styles. Raises :class:`vae_tf.InputError`."""
        n_styles = check_count(n_styles, name="n_styles")
        seed = None if seed is None else check_count(seed, name="seed", minimum=0)
        z = ops.convert_to_numpy(keras.random.normal((n_styles, self.latent_dim), seed=seed))
        return np.stack([self.decode(z, digits=d) for d in range(self.num_classes)])

    def get_config(self) -> dict:
        config = super().get_config()
        config["num_classes"] = self.num_classes
        return config


@keras.saving.register_keras_serializable(package="vae_tf")
class ConditionalVAE(DigitConditionedVAE):
    """Conditional VAE: ``q(z | x, y)`` and ``p(x | z, y)`` with ``y`` one-hot.

    Build the networks with ``condition_dim=num_classes``:
    ``ConditionalVAE(build_encoder(condition_dim=10), build_decoder(condition_dim=10))``.
    Other arguments are those of :class:`vae_tf.VAE`. Per image, in nats, with ``z ~ q(z | x, y)``::

        reconstruction_loss = -log p(x | z, y)
        kl_loss             = KL(q(z | x, y) || N(0, I))
        loss                = reconstruction_loss + beta * kl_loss

    which is :meth:`vae_tf.VAE.loss_terms` with :meth:`posterior` and :meth:`decoder_logits`
    conditioned on ``y``. Training data must carry labels in ``[0, num_classes)``;
    ``encode``/``reconstruct``/``kl_per_dimension`` need them as ``digits=``. Without them
    :class:`vae_tf.InputError` (a ``ValueError``) is raised.
    """

    def __init__(self, encoder, decoder, num_classes: int = 10, **kwargs):
        super().__init__(encoder, decoder, num_classes=num_classes, **kwargs)
        if condition_width(encoder, "encoder") != self.num_classes:
            raise InputError(
                f"the encoder must take [images, condition] with a condition of width {self.num_classes}: "
                f"build it with build_encoder(..., condition_dim={self.num_classes})."
            )

    def posterior(self, x, digits=None, training=False):
        """``(z_mean, z_log_var)`` of ``q(z | x, y)``: ``encoder([x, one_hot(digits)])``."""
        z_mean, z_log_var = self.encoder([x, self.one_hot(digits)], training=training)[:2]
        return ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32")


class StyleGridHistory(keras.callbacks.Callback):
    """Record ``model.digit_style_grid(n_styles, seed)`` before training and after every epoch.

    The seed is fixed, so every grid decodes the same styles: the sequence shows how the
    generator improves. After ``fit``, ``grids`` is a list of arrays of shape
    ``(num_classes, n_styles, *image_shape)`` and ``epochs`` the matching epoch numbers
    (0 = before training, if ``include_initial``). Works with :class:`ConditionalVAE` and
    :class:`AuxiliaryClassifierVAE`; other models raise ``TypeError`` when training starts.
    """

    def __init__(self, n_styles: int = 4, seed: int = 0, include_initial: bool = True):
        super().__init__()
        if int(n_styles) < 1:
            raise ValueError(f"n_styles must be a positive integer, got {n_styles!r}.")
        self.n_styles = int(n_styles)
        self.seed = int(seed)
        self.include_initial = bool(include_initial)
        self.grids: list[np.ndarray] = []
        self.epochs: list[int] = []

    def _record(self, epoch: int) -> None:
        self.grids.append(self.model.digit_style_grid(self.n_styles, seed=self.seed))
        self.epochs.append(epoch)

    def on_train_begin(self, logs=None):
        if not isinstance(self.model, DigitConditionedVAE):
            raise TypeError(f"StyleGridHistory needs a digit-conditioned VAE, got {type(self.model).__name__}.")
        self.grids, self.epochs = [], []
        if self.include_initial:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)



def check_digit_model(model, x, caller: str) -> np.ndarray:
    """``x`` as ``model``'s input; ``TypeError`` unless ``model`` is digit-conditioned. Warns
    when the likelihood is no density for these pixels (:func:`vae_tf.tools.evaluation.warn_if_not_a_density`)."""
    if not isinstance(model, DigitConditionedVAE):
        raise TypeError(f"{caller} needs a digit-conditioned VAE (ConditionalVAE or AuxiliaryClassifierVAE), got {type(model).__name__}.")
    from .bounds import warn_if_not_a_density

    x = model.as_model_input(x)
    warn_if_not_a_density(model, x, caller)
    return x


def conditional_neg_elbo(model, x, digits, *, batch_size: int = 512) -> dict[str, np.ndarray]:
    """The negative ELBO of ``log p(x | y)`` for each image, with the digit ``y`` given.

    The one-hot ``digits`` go to the decoder and (if it takes a condition) to the encoder, in
    place of anything the model would infer: ``-log p(x | y) <= E_{q(z|x,y)}[-log p(x | z, y)]
    + KL(q(z | x, y) || N(0, I))``, one ``z ~ q`` per image (an unbiased estimate of the bound).
    For a :class:`ConditionalVAE` this is its loss; for an :class:`AuxiliaryClassifierVAE` it
    replaces the classifier's soft prediction by the given digit.

    Args:
        model: a :class:`ConditionalVAE` or :class:`AuxiliaryClassifierVAE`.
        x: images ``(n, *image_shape)`` (the pixel rule of :mod:`vae_tf.core.inputs`; a Bernoulli
            model bounds ``-log p(x)`` only for binary pixels and warns for grey levels).
        digits: one integer, or ``n`` integers in ``[0, num_classes)``.

    Returns:
        ``{"reconstruction", "kl", "neg_elbo"}``: NumPy ``(n,)`` arrays in nats, ``neg_elbo =
        reconstruction + kl``.

    Raises:
        TypeError: ``model`` is not digit-conditioned.
        vae_tf.InputError: bad images, digits or batch size.
    """
    x = check_digit_model(model, x, "conditional_neg_elbo")
    labels = as_class_indices(np.broadcast_to(np.asarray(digits), (len(x),)) if np.ndim(digits) == 0 else digits,
                              model.num_classes, n=len(x), name="digits")

    def fn(xb, yb):
        z_mean, z_log_var = model.posterior(xb, yb)
        z = model.sampling([z_mean, z_log_var])
        recon = -reconstruction_log_likelihood(xb, model.decoder_logits(z, yb), model.likelihood, model.sigma)
        return recon, kl_divergence(z_mean, z_log_var)

    recon, kl = in_batches(fn, x, labels, batch_size=batch_size)
    return {"reconstruction": recon, "kl": kl, "neg_elbo": recon + kl}


def digit_marginal_bound(model, x, *, q_y=None, labels=None, batch_size: int = 512) -> dict[str, np.ndarray]:
    """An upper bound on ``-log p(x)`` for the generative model ``p(y) = 1/K`` (uniform over the
    ``K = num_classes`` digits), ``p(z) = N(0, I)``, ``p(x | z, y)``:

    ``-log p(x) <= sum_y q(y|x) L(x, y) + KL(q(y|x) || p(y))``, with ``L(x, y)`` the negative ELBO
    of :func:`conditional_neg_elbo` and ``KL(q(y|x) || p(y)) = log K - H(q(y|x))``, between 0
    (``q`` uniform) and ``log K`` (``q`` one-hot). The bound holds for any distribution ``q(y|x)``:

    * ``q_y`` ``(n, K)`` probabilities, e.g. an AC-VAE's ``model.classify(x)`` (the default for an
      :class:`AuxiliaryClassifierVAE` when neither is given);
    * ``labels`` ``(n,)``: ``q`` puts all its mass on the given label (a :class:`ConditionalVAE`,
      which has no classifier, with the true labels): the bound is ``L(x, label) + log K``.

    Returns NumPy arrays: ``bound`` ``(n,)``, ``expected_neg_elbo`` ``(n,)`` (the sum over y),
    ``kl_digit`` ``(n,)`` (``KL(q(y|x) || p(y))``, nats) and ``q_y`` ``(n, K)``.

    Raises:
        TypeError: ``model`` is not digit-conditioned.
        ValueError: both or (for a ConditionalVAE) neither of ``q_y`` and ``labels``; ``q_y`` of the
            wrong shape, negative, or with rows that do not sum to 1.
    """
    x = check_digit_model(model, x, "digit_marginal_bound")
    n, k = len(x), model.num_classes
    if q_y is not None and labels is not None:
        raise ValueError("give q_y or labels, not both.")
    if q_y is None and labels is None:
        if not hasattr(model, "classify"):
            raise ValueError(f"{type(model).__name__} has no classifier: give q_y (n, {k}) or labels (n,).")
        q_y = model.classify(x, batch_size=batch_size)
    if labels is not None:
        labels = as_class_indices(labels, k, n=n, name="labels")
        neg_elbo = conditional_neg_elbo(model, x, labels, batch_size=batch_size)["neg_elbo"].astype("float64")
        q_y = np.eye(k)[labels]
        kl_digit = np.full(n, np.log(k))
        return {"bound": neg_elbo + kl_digit, "expected_neg_elbo": neg_elbo, "kl_digit": kl_digit, "q_y": q_y}
    q_y = np.asarray(q_y, dtype="float64")
    if q_y.shape != (n, k) or np.any(q_y < 0) or not np.allclose(q_y.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(f"q_y must be ({n}, {k}) probabilities with rows summing to 1, got shape {q_y.shape}.")
    per_digit = np.stack([conditional_neg_elbo(model, x, d, batch_size=batch_size)["neg_elbo"] for d in range(k)], axis=1)
    expected = (q_y * per_digit).sum(axis=1)
    from scipy.special import entr  # -q log q, 0 at q = 0

    kl_digit = np.log(k) - entr(q_y).sum(axis=1)
    return {"bound": expected + kl_digit, "expected_neg_elbo": expected, "kl_digit": kl_digit, "q_y": q_y}
