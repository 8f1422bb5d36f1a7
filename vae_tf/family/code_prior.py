"""A learned prior over discrete code grids (a PixelCNN), and the discrete models' bound in nats.

A VQ-VAE trains with a uniform prior over its code grids, and a grid of ``h * w`` positions with
``K`` codes has ``K ** (h * w)`` of them: under that prior one grid costs ``h w ln K`` nats (49 ln 64
= 203.8 nats for MNIST's 7x7 grid of 64 codes). van den Oord, Vinyals & Kavukcuoglu (2017) then fit
an autoregressive prior to the training images' codes, a PixelCNN (van den Oord, Kalchbrenner &
Kavukcuoglu 2016)::

    log p(c) = sum over positions i in raster order of log p(c_i | c_<i)

Each ``p(c_i | c_<i)`` is a softmax over the ``K`` codes, computed for all positions at once by
convolutions whose kernels are masked so that a position sees only the positions before it
(:class:`MaskedConv2D`): the first layer's mask (type ``"A"``) hides the position itself, the
later ones (type ``"B"``) let it see its own features, which depend only on earlier codes.
The architecture is the keras.io "Vector-Quantized Variational Autoencoders" example's
(``PixelConvLayer``, ``ResidualBlock``), with the mask applied in ``call`` instead of assigned
to the kernel. Like the original PixelCNN its stack of masked convolutions has a blind spot (some
positions above and to the right are never seen); the gated PixelCNN's two stacks remove it.

With a deterministic encoder, ``q(c | x)`` is one-hot at the code grid ``c(x)``, so
``KL(q || p) = -log p(c(x))`` and the ELBO gives, for any prior ``p(c)``, in nats per image::

    -log p(x) <= -log p(x | c(x)) - log p(c(x))          (:func:`vq_bound`)

The same prior fits any grid of categorical codes, e.g. the argmax codes of
:class:`vae_tf.GumbelSoftmaxVAE` (20 variables of 10 categories as a ``(4, 5)`` grid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ..core.inputs import InputError, as_model_input, check_count, in_batches
from ..core.losses import reconstruction_log_likelihood
from ..core.replicas import global_batch_mean, step_logs

MASK_TYPES = ("A", "B")


def causal_mask(kernel_size: int, mask_type: str) -> np.ndarray:
    """The ``(kernel_size, kernel_size)`` float32 mask of a masked convolution: 1 on the rows above
    the centre and left of the centre on its row; the centre itself is 1 for ``"B"``, 0 for ``"A"``.
    Raises ``ValueError`` for an even or non-positive ``kernel_size`` or another ``mask_type``."""
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be one of {MASK_TYPES}, got {mask_type!r}.")
    k = check_count(kernel_size, name="kernel_size")
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd (the mask is centred), got {k}.")
    mask = np.zeros((k, k), dtype="float32")
    mask[: k // 2, :] = 1.0
    mask[k // 2, : k // 2] = 1.0
    mask[k // 2, k // 2] = 1.0 if mask_type == "B" else 0.0
    return mask


@keras.saving.register_keras_serializable(package="vae_tf")
class MaskedConv2D(keras.layers.Layer):
    """A ``"same"``-padded, stride-1 2-D convolution whose kernel is multiplied by
    :func:`causal_mask` in every call, so output position ``(i, j)`` depends on the inputs at
    positions before it in raster order (and, for type ``"B"``, at ``(i, j)`` itself).

    Call with ``(batch, h, w, channels)``; returns ``(batch, h, w, filters)``.

    Args:
        filters: output channels.
        kernel_size: odd side of the square kernel.
        mask_type: ``"A"`` (the centre hidden: a first layer) or ``"B"``.
        activation: a Keras activation name, or None for linear.
        seed: seed of the kernel's Glorot-uniform initialiser.
    """

    def __init__(self, filters: int, kernel_size: int, mask_type: str = "B", activation=None,
                 seed: int | None = None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.filters = check_count(filters, name="filters")
        self.mask = causal_mask(kernel_size, mask_type)[:, :, None, None]
        self.kernel_size, self.mask_type, self.seed = int(kernel_size), mask_type, seed
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        k, channels = self.kernel_size, int(input_shape[-1])
        init = keras.initializers.GlorotUniform(seed=self.seed)
        self.kernel = self.add_weight(shape=(k, k, channels, self.filters), initializer=init, name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, inputs):
        kernel = ops.convert_to_tensor(self.kernel)
        kernel = kernel * ops.cast(self.mask, kernel.dtype)
        outputs = ops.conv(inputs, kernel, strides=1, padding="same") + ops.cast(self.bias, kernel.dtype)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "mask_type": self.mask_type, "activation": keras.activations.serialize(self.activation),
                "seed": self.seed}  # fmt: skip


def _seed(seed: int | None, i: int) -> int | None:
    """A different initialiser seed for each layer ``i`` (equal seeds would give equal kernels)."""
    return None if seed is None else int(seed) * 1000 + i


def build_pixelcnn(
    num_embeddings: int, grid_shape: Sequence[int], filters: int = 64, num_layers: int = 2,
    kernel_size: int = 7, seed: int | None = None, name: str = "pixelcnn",
) -> keras.Model:  # fmt: skip
    """Int code grids ``(batch, h, w)`` to logits ``(batch, h, w, num_embeddings)`` of
    ``p(c_i | c_<i)``: one-hot codes, a type-``"A"`` :class:`MaskedConv2D` of ``kernel_size``,
    ``num_layers`` residual blocks (1x1 conv, 3x3 type-``"B"`` masked conv of ``filters // 2``,
    1x1 conv, added to the block's input), a 1x1 ReLU conv and a linear 1x1 conv to the logits."""
    h, w = grid_shape
    codes = keras.Input(shape=(h, w), dtype="int32", name="codes")
    x = MaskedConv2D(filters, kernel_size, "A", "relu", seed=_seed(seed, 0), name="masked_a")(
        ops.one_hot(codes, num_embeddings)
    )
    for i in range(num_layers):
        y = keras.layers.Conv2D(filters, 1, activation="relu", kernel_initializer=_init(seed, 3 * i + 1),
                                name=f"block{i}_in")(x)  # fmt: skip
        y = MaskedConv2D(max(1, filters // 2), 3, "B", "relu", seed=_seed(seed, 3 * i + 2), name=f"block{i}_masked")(y)
        y = keras.layers.Conv2D(filters, 1, activation="relu", kernel_initializer=_init(seed, 3 * i + 3),
                                name=f"block{i}_out")(y)  # fmt: skip
        x = keras.layers.Add(name=f"block{i}_add")([x, y])
    x = keras.layers.Conv2D(filters, 1, activation="relu", kernel_initializer=_init(seed, 998), name="head")(x)
    logits = keras.layers.Conv2D(num_embeddings, 1, kernel_initializer=_init(seed, 999), name="logits")(x)
    return keras.Model(codes, logits, name=name)


def _init(seed: int | None, i: int):
    return keras.initializers.GlorotUniform(seed=_seed(seed, i))


@keras.saving.register_keras_serializable(package="vae_tf")
class PixelCNNPrior(keras.Model):
    """An autoregressive prior ``p(c)`` over grids of ``num_embeddings`` codes (module docstring).

    Train it with ``fit`` on int code grids ``(n, h, w)`` (e.g. ``VQVAE.encode(x_train)``) and no
    targets. Logged per grid, in nats, means over the grids seen: ``loss`` and ``nll``
    (``-log p(c)``, summed over the grid's positions), with ``loss == nll`` (:attr:`loss_weights`).

    Args:
        num_embeddings: ``K``, the number of codes.
        grid_shape: ``(h, w)``, the code grid of one image (``VQVAE.grid_shape``).
        filters, num_layers, kernel_size: width, residual blocks and the first (type ``"A"``)
            layer's odd kernel size (:func:`build_pixelcnn`).
        seed: seed of the initialisers.

    Raises ``ValueError`` (:class:`vae_tf.InputError` for counts) for a bad argument.
    """

    def __init__(self, num_embeddings: int, grid_shape: Sequence[int], filters: int = 64, num_layers: int = 2,
                 kernel_size: int = 7, seed: int | None = None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.num_embeddings = check_count(num_embeddings, name="num_embeddings", minimum=2)
        if len(tuple(grid_shape)) != 2:
            raise InputError(f"grid_shape must be (h, w), got {tuple(grid_shape)!r}.")
        self.grid_shape = tuple(check_count(d, name="grid_shape") for d in grid_shape)
        self.filters = check_count(filters, name="filters")
        self.num_layers = check_count(num_layers, name="num_layers", minimum=0)
        causal_mask(kernel_size, "A")  # checks kernel_size
        self.kernel_size, self.seed = int(kernel_size), seed
        self.network = build_pixelcnn(self.num_embeddings, self.grid_shape, self.filters, self.num_layers,
                                      self.kernel_size, seed)  # fmt: skip
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.nll_tracker]

    @property
    def loss_weights(self) -> dict:
        """``loss = nll``."""
        return {"nll": 1.0}

    def call(self, codes, training: bool = False):
        """Logits of ``p(c_i | c_<i)``: float32 ``(batch, h, w, num_embeddings)`` for int ``codes`` ``(batch, h, w)``."""
        return ops.cast(self.network(ops.cast(codes, "int32"), training=training), "float32")

    def nll(self, codes, training: bool = False):
        """``-log p(c)`` in nats per grid: float32 ``(batch,)``, summed over the grid's positions."""
        logits = self(codes, training=training)
        log_p = ops.log_softmax(logits, axis=-1)
        picked = ops.sum(log_p * ops.one_hot(ops.cast(codes, "int32"), self.num_embeddings), axis=-1)
        return -ops.sum(picked, axis=(1, 2))

    def train_step(self, data):
        codes, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            nll = self.nll(codes, training=True)
            scaled_loss = self.optimizer.scale_loss(global_batch_mean(nll))
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self.loss_tracker.update_state(nll)
        self.nll_tracker.update_state(nll)
        return step_logs(self.metrics)

    def test_step(self, data):
        codes, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        nll = self.nll(codes)
        self.loss_tracker.update_state(nll)
        self.nll_tracker.update_state(nll)
        return step_logs(self.metrics)

    def fit(self, x=None, y=None, *args, **kwargs):
        """Keras's ``fit``; NumPy code grids (``x``, ``validation_data``) are checked first (:meth:`as_indices`)."""
        if isinstance(x, np.ndarray):
            x = self.as_indices(x, name="x")
        validation = kwargs.get("validation_data")
        if isinstance(validation, np.ndarray):
            kwargs["validation_data"] = (self.as_indices(validation, name="validation_data"),)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """Keras's ``evaluate``; NumPy code grids are checked first (:meth:`as_indices`)."""
        if isinstance(x, np.ndarray):
            x = self.as_indices(x, name="x")
        return super().evaluate(x, y, *args, **kwargs)

    # ------------------------------------------------------------ using a trained prior
    def as_indices(self, codes, *, name: str = "codes") -> np.ndarray:
        """``codes`` as int32 ``(m, h, w)``, whole numbers in ``[0, K)``, ``m >= 1``; :class:`vae_tf.InputError` otherwise."""
        return check_code_grids(codes, self.grid_shape, self.num_embeddings, name=name).astype("int32")

    def log_prob(self, codes, *, batch_size: int = 512) -> np.ndarray:
        """``log p(c)`` in nats per grid: float64 ``(m,)`` for code grids ``(m, h, w)``, the sum over
        positions of the log-softmax (in float64) at each given code. Raises :class:`vae_tf.InputError`."""
        codes = self.as_indices(codes)

        def fn(cb):
            logits = ops.convert_to_numpy(self(cb)).astype("float64")
            top = logits.max(axis=-1, keepdims=True)
            log_p = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
            picked = np.take_along_axis(log_p, ops.convert_to_numpy(cb)[..., None].astype("int64"), axis=-1)
            return (picked.sum(axis=(1, 2, 3)),)

        return in_batches(fn, codes, batch_size=batch_size)[0]

    def sample(self, n: int, *, seed: int | None = None) -> np.ndarray:
        """``n`` code grids drawn position by position in raster order, each ``c_i`` from
        ``p(c_i | c_<i)`` (``h * w`` passes over all ``n`` grids at once): int64 ``(n, h, w)``.
        Draws come from a ``keras.random.SeedGenerator(seed)``: same ``seed``, same grids.
        Raises :class:`vae_tf.InputError` for a bad ``n`` or ``seed``."""
        n = check_count(n)
        seed = None if seed is None else check_count(seed, name="seed", minimum=0)
        generator = keras.random.SeedGenerator(seed)
        h, w = self.grid_shape
        codes = np.zeros((n, h, w), dtype="int32")
        for i in range(h):
            for j in range(w):
                logits = self(codes)[:, i, j, :]  # depends on the positions before (i, j) only
                draw = keras.random.categorical(logits, 1, dtype="int32", seed=generator)
                codes[:, i, j] = ops.convert_to_numpy(draw)[:, 0]
        return codes.astype("int64")

    def get_config(self) -> dict:
        return {**super().get_config(), "num_embeddings": self.num_embeddings, "grid_shape": list(self.grid_shape),
                "filters": self.filters, "num_layers": self.num_layers, "kernel_size": self.kernel_size,
                "seed": self.seed}  # fmt: skip


def check_code_grids(codes, grid_shape: Sequence[int], num_embeddings: int, *, name: str = "codes") -> np.ndarray:
    """``codes`` as int64 ``(m, h, w)`` with ``(h, w) == grid_shape``, ``m >= 1``, whole numbers in
    ``[0, num_embeddings)``. Raises :class:`vae_tf.InputError` naming the shape or range wanted."""
    h, w = grid_shape
    try:
        arr = np.asarray(codes)
    except Exception as e:  # ragged lists and the like
        raise InputError(f"{name} could not be read as an array of code grids ({e}).") from None
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or arr.shape[1:] != (h, w) or not len(arr):
        raise InputError(
            f"{name} must be code indices of shape (m, {h}, {w}), m >= 1, got {arr.shape} {arr.dtype}"
            + (" (add the batch axis: codes[None])." if arr.shape == (h, w) else ".")
        )
    if not (np.all(np.isfinite(arr)) and np.all(np.mod(arr, 1) == 0)):
        raise InputError(f"{name} must be whole numbers (code indices), got non-integral values.")
    if arr.min() < 0 or arr.max() >= num_embeddings:
        raise InputError(
            f"{name} must be in [0, {num_embeddings}) (one index per code), got values in [{arr.min():g}, {arr.max():g}]."
        )
    return arr.astype("int64")


def code_prior_nll(codes, prior, grid_shape: Sequence[int], num_embeddings: int) -> np.ndarray:
    """``-log p(c)`` in nats per grid, float64 ``(m,)``, for int ``codes`` ``(m, h, w)`` under ``prior``:

    * ``None`` or ``"uniform"``: ``h w ln K`` for every grid;
    * a position-wise table, probabilities ``(h, w, K)`` (``VQVAE.fit_code_prior``):
      ``-sum_i log p_i(c_i)`` (``inf`` where a code has probability 0: fit with a pseudocount);
    * a :class:`PixelCNNPrior` for the same ``grid_shape`` and ``K``: ``-log_prob(codes)``.

    Raises :class:`vae_tf.InputError` for codes or a prior that do not fit."""
    h, w = grid_shape
    codes = check_code_grids(codes, grid_shape, num_embeddings)
    if prior is None or (isinstance(prior, str) and prior == "uniform"):
        return np.full(len(codes), h * w * math.log(num_embeddings))
    if isinstance(prior, PixelCNNPrior):
        if prior.grid_shape != (h, w) or prior.num_embeddings != num_embeddings:
            raise InputError(
                f"the prior models grids {prior.grid_shape} of {prior.num_embeddings} codes, but the codes are "
                f"{(h, w)} grids of {num_embeddings}: build PixelCNNPrior(num_embeddings, grid_shape) to match."
            )
        return -prior.log_prob(codes)
    if isinstance(prior, str):
        raise InputError(f"prior must be None, 'uniform', a (h, w, K) table or a PixelCNNPrior, got {prior!r}.")
    table = np.asarray(prior, dtype="float64")
    shape = (h, w, num_embeddings)
    if table.shape != shape or not np.all(np.isfinite(table)) or table.min() < 0 or not np.allclose(table.sum(-1), 1, atol=1e-6):
        raise InputError(f"a table prior must be probabilities of shape {shape}, each position summing to 1.")
    picked = np.take_along_axis(table[None], codes[..., None], axis=-1)[..., 0]  # (m, h, w)
    with np.errstate(divide="ignore"):
        return -np.log(picked).sum(axis=(1, 2))


def vq_bound(vqvae, x, prior=None, *, batch_size: int = 512) -> dict[str, np.ndarray]:
    """The bound ``-log p(x) <= -log p(x | c(x)) - log p(c(x))`` of a trained :class:`vae_tf.VQVAE`
    on images ``x`` ``(m, *image_shape)`` (binarized ones for the Bernoulli likelihood), where
    ``c(x) = vqvae.encode(x)`` and ``p(c)`` is ``prior`` (:func:`code_prior_nll`: None/``"uniform"``,
    a position-wise table, or a :class:`PixelCNNPrior`).

    Returns float64 ``(m,)`` arrays in nats per image: ``reconstruction`` (``-log p(x | c(x))``, the
    decoder's likelihood at the quantised grid), ``prior_nll`` (``-log p(c(x))``) and ``bound``
    (their sum). Raises :class:`vae_tf.InputError` for images, or a prior, that do not fit."""
    x = as_model_input(x, vqvae.image_shape)
    codes = vqvae.encode(x, batch_size=batch_size)

    def fn(xb, cb):
        logits = ops.cast(vqvae.decoder(vqvae.quantizer.lookup(cb)), "float32")
        return (-reconstruction_log_likelihood(xb, logits, vqvae.likelihood, vqvae.sigma),)

    reconstruction = in_batches(fn, x, codes, batch_size=batch_size)[0].astype("float64")
    prior_nll = code_prior_nll(codes, prior, vqvae.grid_shape, vqvae.num_embeddings)
    return {"reconstruction": reconstruction, "prior_nll": prior_nll, "bound": reconstruction + prior_nll}
