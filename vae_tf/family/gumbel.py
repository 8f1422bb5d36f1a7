"""The Gumbel-softmax (Concrete) VAE: ``n`` categorical latent variables of ``K = num_categories``
categories each (Jang, Gu & Poole 2017, "Categorical Reparameterization with Gumbel-Softmax";
Maddison, Mnih & Teh 2017, "The Concrete Distribution").

The prior is uniform, ``p(c) = prod_i 1/K``; the encoder gives logits ``l(x)`` ``(batch, n, K)``
and ``q(c|x) = prod_i Cat(c_i | softmax(l_i(x)))``. A categorical draw has no gradient, so
training decodes a *relaxed* one-hot draw, with ``g`` i.i.d. Gumbel(0, 1) noise::

    y_i = softmax((l_i + g_i) / tau)                      (batch, n, K), rows on the simplex

``argmax(y_i)`` is an exact draw from ``q(c_i|x)`` at every temperature ``tau`` (the Gumbel-max
trick); as ``tau -> 0``, ``y_i`` tends to that one-hot vector and the gradient's variance grows.
Jang et al. anneal ``tau`` during training (:class:`TemperatureSchedule`). With
``straight_through=True`` the decoder sees the one-hot ``argmax`` itself while the gradient is
that of ``y`` (``one_hot + y - stop_gradient(y)``).

The training loss per image, in nats (Jang et al.'s objective), written in
:meth:`GumbelSoftmaxVAE.loss_terms` and trained by the family's shared step (:mod:`vae_tf.family.step`)::

    reconstruction_loss = -log p(x | y)                   one draw y per image
    kl_loss = KL(q(c|x) || p(c)) = sum_i sum_j q_ij log q_ij + n log K     closed form
    loss = reconstruction_loss + beta * kl_loss

With relaxed draws ``-loss`` is not a bound on the discrete model's ``log p(x)`` (the decoder sees
points inside the simplex); with ``straight_through=True`` and ``beta = 1`` it is a one-sample
estimate of the negative ELBO. The discrete model's own numbers decode one-hot codes only:
:meth:`GumbelSoftmaxVAE.elbo` and :meth:`~GumbelSoftmaxVAE.exact_log_likelihood` sum over all
``K**n`` codes (at most :data:`MAX_ENUMERATED_CODES`), and
:meth:`~GumbelSoftmaxVAE.iwae_log_likelihood` samples them, so ``elbo <= E[iwae] <= log p(x)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from ..core.architectures import build_decoder, check_architecture, encoder_trunk
from .bounds import iwae_bound, warn_if_not_a_density
from ..core.inputs import ChecksImageArrays, InputError, as_model_input, check_count, in_batches, pixels_of
from ..core.layers import SeededLayer
from ..core.losses import check_likelihood, pixel_mean, reconstruction_log_likelihood
from ..core.networks import check_beta, check_networks, check_sigma, deserialize_networks
from .step import SharedStep

#: The most codes ``K**n`` that :meth:`GumbelSoftmaxVAE.exact_log_likelihood` and
#: :meth:`GumbelSoftmaxVAE.elbo` enumerate (each code costs one decoder pass).
MAX_ENUMERATED_CODES = 4096
#: Units of :class:`TemperatureSchedule`: the step ``t`` counts batches or epochs.
SCHEDULE_UNITS = ("batch", "epoch")
#: Image-code pairs scored per step by :meth:`GumbelSoftmaxVAE.code_log_likelihoods`.
_PAIRS_PER_STEP = 8192


@keras.saving.register_keras_serializable(package="vae_tf")
class GumbelSoftmaxVAE(SharedStep, ChecksImageArrays, keras.Model):
    """VAE with ``n`` categorical latent variables of ``num_categories`` categories, trained
    through Gumbel-softmax draws (module docstring; its loss is :meth:`loss_terms`).

    Args:
        encoder: images to logits ``(batch, n, num_categories)`` (:func:`build_categorical_encoder`).
        decoder: flattened codes ``(batch, n * num_categories)`` to pixel **logits**
            ``(batch, *image_shape)`` (:func:`build_categorical_decoder`).
        beta: weight of the KL term.
        temperature: the starting ``tau`` (a non-trainable weight, :attr:`temperature`).
        straight_through: decode the one-hot ``argmax`` of each draw (gradient of the relaxed one).
        likelihood, sigma: as :class:`vae_tf.VAE`.
        seed: seed of the Gumbel noise.

    Logged per image (nats), means over the images seen: ``loss``, ``reconstruction_loss`` and
    ``kl_loss``, with ``loss == reconstruction_loss + beta * kl_loss``; and in training only
    ``temperature``, the mean ``tau`` of the steps (not part of ``loss``; ``evaluate`` and
    validation log no ``val_temperature``: a held-out image is scored at whatever ``tau`` is set).
    The relaxed ``loss`` is the objective of training, not a bound on the discrete model's
    ``-log p(x)``: score that with :meth:`elbo`, :meth:`exact_log_likelihood` or
    :meth:`iwae_log_likelihood`, which decode one-hot codes. Raises ``ValueError`` for a bad argument and
    :class:`vae_tf.InputError` for networks that do not fit.
    """

    conditions_on_digits = False

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        beta: float = 1.0,
        temperature: float = 1.0,
        straight_through: bool = False,
        likelihood: str = "bernoulli",
        sigma: float = 0.1,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        code = ({"logits": ("n", "num_categories")}, lambda n, num_categories: (n * num_categories,))
        sizes = check_networks(self, code, build="vae_tf.family.gumbel.build_categorical_encoder")
        self.n, self.num_categories = int(sizes["n"]), int(sizes["num_categories"])
        if self.num_categories < 2:
            raise InputError(f"the encoder's logits must have num_categories >= 2, got {self.num_categories}.")
        self.beta = check_beta(beta)
        self.likelihood = check_likelihood(likelihood)
        self.sigma = check_sigma(sigma)
        self.seed = seed
        # float32 noise and softmax, also under mixed precision
        self.gumbel = GumbelSoftmax(temperature, straight_through, seed=seed, dtype="float32", name="gumbel_softmax")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.temperature_tracker = keras.metrics.Mean(name="temperature")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker, self.temperature_tracker]

    @property
    def temperature(self):
        """The current ``tau``: a non-trainable scalar ``keras.Variable`` (``.assign`` to change it)."""
        return self.gumbel.temperature

    @property
    def straight_through(self) -> bool:
        return self.gumbel.straight_through

    @property
    def loss_weights(self) -> dict:
        """``loss = reconstruction_loss + beta * kl_loss``; ``temperature`` is not a term."""
        return {"reconstruction_loss": 1.0, "kl_loss": self.beta}

    def loss_terms(self, x, y=None, training: bool = False) -> dict:
        """The loss, per image, float32 ``(batch,)`` in nats: ``reconstruction_loss`` (one draw per
        image at the current temperature), ``kl_loss`` (closed form) and ``loss``; and the scalar
        ``temperature``. ``x``: float images ``(batch, *image_shape)``; ``y`` is ignored. The shared
        step (:mod:`vae_tf.family.step`) trains on it."""
        logits = self.posterior_logits(x, training=training)  # q(c|x): (batch, n, num_categories)
        draws = self.gumbel(logits)  # relaxed (or straight-through one-hot) draws, same shape
        reconstruction_loss = -reconstruction_log_likelihood(
            x, self.decoder_logits(draws, training=training), self.likelihood, self.sigma
        )
        kl_loss = categorical_kl_divergence(logits)  # KL(q(c|x) || Uniform)
        loss = reconstruction_loss + self.beta * kl_loss
        return {"loss": loss, "reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss,
                "temperature": ops.convert_to_tensor(self.temperature)}  # fmt: skip

    def test_step(self, data):
        """The shared test step (:mod:`vae_tf.family.step`) without ``temperature``, a setting of training."""
        logs = super().test_step(data)
        return {name: value for name, value in logs.items() if name != "temperature"}

    # ------------------------------------------------------------ the networks
    def posterior_logits(self, x, training: bool = False):
        """The logits of ``q(c|x)``: float32 ``(batch, n, K)``."""
        return ops.cast(self.encoder(x, training=training), "float32")

    def decoder_logits(self, codes, training: bool = False):
        """Pixel logits ``(batch, *image_shape)`` for one-hot (or relaxed) codes ``(batch, n, K)``."""
        flat = ops.reshape(ops.cast(codes, "float32"), (-1, self.n * self.num_categories))
        return ops.cast(self.decoder(flat, training=training), "float32")

    def call(self, inputs, training: bool = False):
        """Reconstructions: pixel means of the decoded ``argmax`` code of each image ``(batch, *image_shape)``."""
        x = pixels_of(inputs, self.image_shape)
        logits = self.posterior_logits(x, training=training)
        code = ops.one_hot(ops.argmax(logits, axis=-1), self.num_categories)
        return pixel_mean(self.decoder_logits(code, training=training), self.likelihood)

    # ------------------------------------------------------------ using a trained model
    @property
    def image_shape(self) -> tuple:
        return tuple(int(d) for d in self.decoder.outputs[0].shape[1:])

    def as_model_input(self, x, *, name: str = "x") -> np.ndarray:
        """``x`` as the float32 batch ``(m, *image_shape)`` (:func:`vae_tf.core.inputs.as_model_input`)."""
        return as_model_input(x, self.image_shape, name=name)

    def encode(self, x, *, batch_size: int = 512) -> np.ndarray:
        """The probabilities of ``q(c|x)`` for images ``x`` ``(m, *image_shape)``: NumPy float32
        ``(m, n, K)``, each row summing to 1. Raises :class:`vae_tf.InputError`."""
        fn = lambda xb: (ops.softmax(self.posterior_logits(xb), axis=-1),)  # noqa: E731
        return in_batches(fn, self.as_model_input(x), batch_size=batch_size)[0]

    def as_one_hot(self, codes, *, name: str = "codes") -> np.ndarray:
        """``codes`` as float32 ``(m, n, K)``: category indices ``(m, n)`` (integers in ``[0, K)``)
        become one-hot rows; ``(m, n, K)`` rows on the simplex (one-hot or relaxed draws) are kept.
        Raises :class:`vae_tf.InputError` otherwise."""
        arr, k = np.asarray(codes), self.num_categories
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or arr.ndim not in (2, 3) or not len(arr):
            raise InputError(
                f"{name} must be category indices (m, {self.n}) or one-hot rows (m, {self.n}, {k}), m >= 1; "
                f"got an array of shape {arr.shape} and dtype {arr.dtype}."
            )
        if arr.ndim == 2:
            if arr.shape[1] != self.n:
                raise InputError(f"{name} as indices must have shape (m, {self.n}), got {arr.shape}.")
            if not (np.all(np.isfinite(arr)) and np.all(np.mod(arr, 1) == 0) and arr.min() >= 0 and arr.max() < k):
                raise InputError(f"{name} as indices must be whole numbers in [0, {k}).")
            return np.eye(k, dtype="float32")[arr.astype("int64")]
        if arr.shape[1:] != (self.n, k):
            raise InputError(f"{name} as one-hot rows must have shape (m, {self.n}, {k}), got {arr.shape}.")
        arr = arr.astype("float32")
        if not (np.all(np.isfinite(arr)) and arr.min() >= 0 and np.allclose(arr.sum(-1), 1.0, atol=1e-5)):
            raise InputError(f"{name} as one-hot rows must be non-negative and each row must sum to 1.")
        return arr

    def decode(self, codes, *, batch_size: int = 512) -> np.ndarray:
        """Pixel means in ``[0, 1]`` for ``codes`` (indices ``(m, n)`` or one-hot ``(m, n, K)``,
        :meth:`as_one_hot`): NumPy ``(m, *image_shape)``. Raises :class:`vae_tf.InputError`."""
        fn = lambda cb: (pixel_mean(self.decoder_logits(cb), self.likelihood),)  # noqa: E731
        return in_batches(fn, self.as_one_hot(codes), batch_size=batch_size)[0]

    def reconstruct(self, x, *, batch_size: int = 512) -> np.ndarray:
        """Decode the most probable code of each image: pixel means, NumPy ``(m, *image_shape)``."""
        return in_batches(lambda xb: (self(xb),), self.as_model_input(x), batch_size=batch_size)[0]

    def sample(self, n: int, *, seed: int | None = None) -> np.ndarray:
        """``n`` codes drawn from the uniform prior, decoded to pixel means: NumPy
        ``(n, *image_shape)``. Same ``seed``, same images."""
        n = check_count(n)
        seed = None if seed is None else check_count(seed, name="seed", minimum=0)
        codes = ops.convert_to_numpy(keras.random.randint((n, self.n), 0, self.num_categories, seed=seed))
        return self.decode(codes)

    # ------------------------------------------------------------ the discrete model's likelihood
    def all_codes(self) -> np.ndarray:
        """Every code, ``itertools.product`` order: int64 ``(K**n, n)``. Raises
        :class:`vae_tf.InputError` if ``K**n > MAX_ENUMERATED_CODES``."""
        k = self.num_categories
        if k**self.n > MAX_ENUMERATED_CODES:
            raise InputError(
                f"this model has K**n = {k}**{self.n} codes, more than the {MAX_ENUMERATED_CODES} that "
                "exact evaluation enumerates; estimate log p(x) with iwae_log_likelihood instead."
            )
        return np.array(list(itertools.product(range(k), repeat=self.n)), dtype="int64").reshape(-1, self.n)

    def code_log_likelihoods(self, x, *, batch_size: int = 100) -> np.ndarray:
        """``log p(x|c)`` of every image under every code of :meth:`all_codes`: float64
        ``(m, K**n)``, nats. Raises :class:`vae_tf.InputError` (bad ``x``, too many codes)."""
        x = self.as_model_input(x)
        batch_size = check_count(batch_size, name="batch_size")
        codes = np.eye(self.num_categories, dtype="float32")[self.all_codes()]  # (C, n, K)
        code_logits = in_batches(lambda cb: (self.decoder_logits(cb),), codes, batch_size=512)[0]
        num = len(code_logits)
        out = np.empty((len(x), num), dtype="float64")
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size]
            step = max(1, _PAIRS_PER_STEP // len(xb))
            for first in range(0, num, step):
                lb = code_logits[first : first + step]
                x_rep = np.repeat(xb, len(lb), axis=0)  # image-major pairs: (b * c, ...)
                l_rep = np.tile(lb, (len(xb),) + (1,) * (lb.ndim - 1))
                ll = reconstruction_log_likelihood(x_rep, l_rep, self.likelihood, self.sigma)
                out[start : start + len(xb), first : first + len(lb)] = ops.convert_to_numpy(ll).reshape(len(xb), -1)
        return out

    def exact_log_likelihood(self, x, *, batch_size: int = 100) -> np.ndarray:
        """``log p(x) = log sum_c p(x|c) p(c)`` over all ``K**n`` codes, ``p(c) = K**-n``, exactly:
        float64 ``(m,)``, nats. Raises :class:`vae_tf.InputError` as :meth:`code_log_likelihoods`."""
        x = self.as_model_input(x)
        warn_if_not_a_density(self, x, "exact_log_likelihood")
        ll = self.code_log_likelihoods(x, batch_size=batch_size)  # (m, K**n)
        return ops.convert_to_numpy(iwae_bound(ll, axis=1))  # log of the mean over codes: p(c) = K**-n

    def log_posterior(self, x, *, batch_size: int = 512) -> np.ndarray:
        """``log q(c_i = j | x)``: float64 ``(m, n, K)`` (log-softmax of the encoder's logits)."""
        fn = lambda xb: (self.posterior_logits(xb),)  # noqa: E731
        logits = in_batches(fn, self.as_model_input(x), batch_size=batch_size)[0].astype("float64")
        top = logits.max(axis=-1, keepdims=True)
        return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))

    def elbo(self, x, *, batch_size: int = 100) -> np.ndarray:
        """The exact ELBO (``beta = 1``) of the discrete model: ``sum_c q(c|x) log p(x|c) -
        KL(q(c|x) || p(c))`` over all ``K**n`` codes, float64 ``(m,)``, nats; ``<= log p(x)``.
        Raises :class:`vae_tf.InputError` as :meth:`code_log_likelihoods`."""
        x = self.as_model_input(x)
        warn_if_not_a_density(self, x, "elbo")
        ll = self.code_log_likelihoods(x, batch_size=batch_size)  # (m, C)
        log_q = self.log_posterior(x)  # (m, n, K)
        codes = self.all_codes()  # (C, n)
        log_q_codes = sum(log_q[:, i, codes[:, i]] for i in range(self.n))  # log q(c|x), (m, C)
        kl = np.sum(np.exp(log_q) * log_q, axis=(1, 2)) + self.n * math.log(self.num_categories)
        return np.sum(np.exp(log_q_codes) * ll, axis=1) - kl

    def iwae_log_likelihood(
        self, x, num_samples: int = 1000, *, batch_size: int = 100, chunk_size: int = 100, seed: int | None = None
    ) -> np.ndarray:
        """Importance-weighted estimate of ``log p(x)`` from ``S = num_samples`` codes ``c_s ~ q(c|x)``
        (hard, one-hot): ``log (1/S) sum_s w_s``, ``log w_s = log p(x|c_s) + log p(c_s) - log q(c_s|x)``.
        Float64 ``(m,)``, nats; ``num_samples=1`` is a one-sample ELBO, and the estimate rises to
        ``log p(x)`` in expectation as ``num_samples`` grows. The same ``seed``, ``batch_size`` and
        ``chunk_size`` give the same numbers. Raises :class:`vae_tf.InputError` for bad arguments."""
        x = self.as_model_input(x)
        num_samples = check_count(num_samples, name="num_samples")
        batch_size = check_count(batch_size, name="batch_size")
        chunk_size = min(check_count(chunk_size, name="chunk_size"), num_samples)
        seed = None if seed is None else check_count(seed, name="seed", minimum=0)
        warn_if_not_a_density(self, x, "iwae_log_likelihood")
        generator = keras.random.SeedGenerator(seed)
        k = self.num_categories
        log_prior = -self.n * math.log(k)
        out = np.empty(len(x), dtype="float64")
        for start in range(0, len(x), batch_size):
            xb = ops.convert_to_tensor(x[start : start + batch_size])
            b = int(xb.shape[0])
            log_q = ops.log_softmax(self.posterior_logits(xb), axis=-1)  # (b, n, K)
            parts = []
            for done in range(0, num_samples, chunk_size):
                s = min(chunk_size, num_samples - done)
                c = keras.random.categorical(ops.reshape(log_q, (b * self.n, k)), s, seed=generator)
                c = ops.transpose(ops.reshape(c, (b, self.n, s)), (2, 0, 1))  # (s, b, n), sample-major
                one_hot = ops.one_hot(c, k)  # (s, b, n, K)
                log_q_c = ops.sum(one_hot * log_q, axis=(2, 3))  # (s, b)
                x_logits = self.decoder_logits(ops.reshape(one_hot, (s * b, self.n, k)))
                x_rep = ops.tile(xb, [s] + [1] * (len(xb.shape) - 1))  # (s * b, ...), the same order
                ll = ops.reshape(reconstruction_log_likelihood(x_rep, x_logits, self.likelihood, self.sigma), (s, b))
                parts.append(ops.convert_to_numpy(ll + log_prior - log_q_c).astype("float64"))
            out[start : start + b] = ops.convert_to_numpy(iwae_bound(np.concatenate(parts), axis=0))
        return out

    # ------------------------------------------------------------ saving
    def get_config(self) -> dict:
        networks = {"encoder": self.encoder, "decoder": self.decoder}
        return {
            **super().get_config(),
            **{key: keras.saving.serialize_keras_object(net) for key, net in networks.items()},
            "beta": self.beta, "temperature": self.gumbel.initial_temperature,
            "straight_through": self.straight_through, "likelihood": self.likelihood, "sigma": self.sigma,
            "seed": self.seed,
        }  # fmt: skip

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**deserialize_networks(config, custom_objects))


# ---------------------------------------------------------------------------------------------------
# What the model uses: the categorical KL, the relaxed draw and its layer, the networks, the annealing.


def check_temperature(temperature, name: str = "temperature") -> float:
    """``temperature`` as a float ``> 0``; ``ValueError`` otherwise."""
    value = float(temperature)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {temperature!r}.")
    return value


def categorical_kl_divergence(logits):
    """``KL(q || Uniform(K))`` summed over the ``n`` variables, in nats: ``(batch,)``.

    ``q_i = softmax(logits_i)`` for ``logits`` ``(batch, n, K)``; per variable
    ``sum_j q_ij log q_ij + log K`` (from ``log_softmax``, so no ``log 0``). It is 0 for
    uniform ``q`` and at most ``n log K``.
    """
    logits = ops.convert_to_tensor(logits)
    log_q = ops.log_softmax(logits, axis=-1)
    per_variable = ops.sum(ops.exp(log_q) * log_q, axis=-1) + math.log(int(logits.shape[-1]))
    return ops.sum(per_variable, axis=-1)


def gumbel_softmax(logits, temperature, seed=None, straight_through: bool = False):
    """A relaxed one-hot draw ``softmax((logits + g) / temperature)``, ``g ~ Gumbel(0, 1)`` i.i.d.

    Args:
        logits: ``(..., K)``, unnormalised log-probabilities of ``K`` categories.
        temperature: a positive scalar (float or tensor/variable).
        seed: an int, ``None`` or a ``keras.random.SeedGenerator``.
        straight_through: return the one-hot ``argmax`` of the draw in the forward pass, with the
            relaxed draw's gradient (``one_hot + y - stop_gradient(y)``, exactly one-hot).

    Returns:
        A tensor of ``logits``'s shape and dtype whose last axis sums to 1; its ``argmax`` is
        distributed as ``Categorical(softmax(logits))``.
    """
    logits = ops.convert_to_tensor(logits)
    tiny = float(np.finfo(keras.backend.standardize_dtype(logits.dtype)).tiny)
    u = keras.random.uniform(ops.shape(logits), minval=tiny, maxval=1.0, dtype=logits.dtype, seed=seed)
    gumbel = -ops.log(-ops.log(u))  # u in [tiny, 1): finite
    y = ops.softmax((logits + gumbel) / ops.cast(temperature, logits.dtype), axis=-1)
    if not straight_through:
        return y
    hard = ops.one_hot(ops.argmax(y, axis=-1), int(logits.shape[-1]), dtype=y.dtype)
    return hard + (y - ops.stop_gradient(y))  # the bracket is exactly 0 forward, y's gradient backward


@keras.saving.register_keras_serializable(package="vae_tf")
class GumbelSoftmax(SeededLayer):
    """Relaxed one-hot draws (:func:`gumbel_softmax`) at the temperature this layer holds.

    Call with logits ``(batch, n, K)``; returns draws of the same shape. ``temperature`` is a
    non-trainable weight (``layer.temperature.assign(t)`` changes it; :class:`TemperatureSchedule`
    does), saved with the model like the noise generator's state, so a loaded model draws what
    the original would draw next.
    """

    def __init__(self, temperature: float = 1.0, straight_through: bool = False, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.initial_temperature = check_temperature(temperature)
        self.straight_through = bool(straight_through)
        self.temperature = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.initial_temperature), trainable=False,
            name="temperature",
        )
        self.built = True

    def call(self, logits):
        return gumbel_softmax(logits, self.temperature, self.seed_generator, self.straight_through)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.initial_temperature, "straight_through": self.straight_through}


def build_categorical_encoder(
    n: int = 20,
    num_categories: int = 10,
    input_shape: Sequence[int] = (28, 28, 1),
    arch: str = "mlp",
    hidden_units: Sequence[int] = (512, 256),
    filters: Sequence[int] = (32, 64),
    activation: str = "relu",
    name: str = "encoder",
) -> keras.Model:
    """The inference network of :class:`GumbelSoftmaxVAE`: images ``(batch, *input_shape)`` to the
    logits of ``q(c|x)``, ``(batch, n, K)``: :func:`vae_tf.core.architectures.encoder_trunk` (``arch``
    as in :func:`vae_tf.build_encoder`), a ``Dense`` layer of ``n * K`` and a reshape. Its decoder
    is ``vae_tf.build_decoder(latent_dim=n * K)``, fed the flattened draw.

    Raises:
        ValueError: ``n < 1``, ``num_categories < 2``, an unknown ``arch`` or a bad image shape.
    """
    n, categories = check_count(n, name="n"), check_count(num_categories, name="num_categories", minimum=2)
    check_architecture(arch, n * categories, input_shape, filters)
    inputs, x = encoder_trunk(input_shape, arch, tuple(hidden_units), filters, activation=activation)
    x = keras.layers.Dense(n * categories, name="logits_flat")(x)
    logits = keras.layers.Reshape((n, categories), name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def build_categorical_decoder(n: int = 20, num_categories: int = 10, **kwargs) -> keras.Model:
    """``vae_tf.build_decoder(latent_dim=n * num_categories, **kwargs)``: flattened draws
    ``(batch, n * num_categories)`` to pixel logits."""
    categories = check_count(num_categories, name="num_categories", minimum=2)
    return build_decoder(latent_dim=check_count(n, name="n") * categories, **kwargs)


class TemperatureSchedule(keras.callbacks.Callback):
    """Anneals a :class:`GumbelSoftmaxVAE`'s temperature: ``tau = max(minimum, initial * exp(-rate * t))``.

    ``unit="batch"``: ``t`` is the optimizer's step count, set before every batch (Jang et al.
    2017 use ``initial=1``, ``minimum=0.5``, ``rate`` 1e-5 or 1e-4; with ``steps_per_execution > 1``
    Keras calls it once per execution). ``unit="epoch"``: ``t`` is the epoch index, set before each
    epoch. Raises ``ValueError`` for bad arguments, and ``TypeError`` at the start of training if the
    model has no ``temperature`` variable.
    """

    def __init__(self, initial: float = 1.0, minimum: float = 0.5, rate: float = 1e-4, unit: str = "batch"):
        super().__init__()
        self.initial = check_temperature(initial, "initial")
        self.minimum = check_temperature(minimum, "minimum")
        if not (math.isfinite(float(rate)) and float(rate) >= 0):
            raise ValueError(f"rate must be a finite number >= 0, got {rate!r}.")
        if unit not in SCHEDULE_UNITS:
            raise ValueError(f"unit must be one of {SCHEDULE_UNITS}, got {unit!r}.")
        self.rate = float(rate)
        self.unit = unit

    def temperature_at(self, t: int) -> float:
        """``max(minimum, initial * exp(-rate * t))`` for step (or epoch) ``t``."""
        return max(self.minimum, self.initial * math.exp(-self.rate * t))

    def on_train_begin(self, logs=None):
        if not isinstance(getattr(self.model, "temperature", None), keras.Variable):
            raise TypeError(f"TemperatureSchedule needs a GumbelSoftmaxVAE, got {type(self.model).__name__}.")

    def on_epoch_begin(self, epoch, logs=None):
        if self.unit == "epoch":
            self.model.temperature.assign(self.temperature_at(epoch))

    def on_train_batch_begin(self, batch, logs=None):
        if self.unit == "batch":
            step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
            self.model.temperature.assign(self.temperature_at(step))
