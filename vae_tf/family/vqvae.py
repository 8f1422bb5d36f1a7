"""The vector-quantised VAE (van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete
Representation Learning").

The encoder maps an image to a grid of vectors ``z_e`` (``(batch, 7, 7, D)`` for 28x28 images and
two stride-2 convolutions); each vector is replaced by its nearest entry of a codebook of ``K``
vectors ``e_1..e_K`` (:class:`VectorQuantizer`), and the decoder maps that grid ``z_q`` back to
pixel logits. The argmin has no gradient, so the decoder's gradient is copied to the encoder
unchanged (straight-through): the decoder is fed ``z_e + stop_gradient(z_q - z_e)``, equal to
``z_q`` forward. Per image, summed over grid positions and the ``D`` dimensions, written in
:meth:`VQVAE.loss_terms` and trained by the family's shared step (:mod:`vae_tf.family.step`)::

    reconstruction_loss = -log p(x | z_q)                     nats
    codebook_loss       = ||stop_gradient(z_e) - z_q||^2      moves the codebook only
    commitment_loss     = ||z_e - stop_gradient(z_q)||^2      moves the encoder only
    loss = reconstruction_loss + codebook_loss + beta * commitment_loss

(the squared distances are not nats: the paper's loss adds them as they are). With ``ema=True``
the codebook is not trained by gradient but set to exponential moving averages of the vectors
assigned to each code (the paper's appendix), once per training step, and ``codebook_loss`` is
absent.

Codes no vector is assigned to get no gradient and no EMA update: they stay where they are, unused
("dead codes"). With ``restart_every=N`` the quantizer counts each code's use over ``N`` training
steps and moves every code used fewer than ``restart_threshold`` times to an encoder output of the
current batch, drawn at random (the "random restarts" of Dhariwal et al. 2020, "Jukebox", section
2.2, and of Zeghidour et al. 2021, "SoundStream", section III-C, which restart codes whose usage
falls below a threshold at a random vector of the current batch). Off by default.

``perplexity`` (:class:`CodePerplexity`) is ``exp`` of the entropy of the code histogram over every
image and grid position seen since the epoch began (1 when one code is used, ``K`` when all are
used equally): logged, not part of ``loss``; at an epoch's end (and after ``evaluate``) it is the
whole data's, independent of the batch size. :meth:`VQVAE.codebook_statistics` gives it, and the
number of codes used, for any images.

The latent codes are the integer indices ``(batch, 7, 7)``; the prior over them is uniform in
training. The paper then fits a PixelCNN to the training codes and samples from it; here
:meth:`VQVAE.fit_code_prior` fits the simplest such prior, an independent categorical per grid
position, for :meth:`VQVAE.sample`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ..core.architectures import check_architecture
from ..core.inputs import ChecksImageArrays, InputError, as_model_input, check_count, in_batches, pixels_of
from ..core.layers import SeededLayer
from ..core.losses import check_likelihood, pixel_mean, reconstruction_log_likelihood
from ..core.networks import check_beta, check_networks, check_sigma, deserialize_networks
from .step import SharedStep


def build_vq_encoder(
    input_shape: Sequence[int] = (28, 28, 1),
    embedding_dim: int = 16,
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    activation: str = "relu",
    name: str = "encoder",
) -> keras.Model:
    """Images ``(batch, h, w, c)`` to a grid of vectors ``(batch, h / 2**L, w / 2**L, embedding_dim)``:
    ``L = len(filters)`` stride-2 ``Conv2D`` layers, then a linear 1x1 ``Conv2D`` (the keras.io
    VQ-VAE example; the paper adds residual blocks). Raises ``ValueError`` for a bad shape."""
    check_architecture("conv", embedding_dim, input_shape, filters)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", activation=activation, name=f"conv_{i}")(x)
    z_e = keras.layers.Conv2D(int(embedding_dim), 1, padding="same", name="z_e")(x)
    return keras.Model(inputs, z_e, name=name)


def build_vq_decoder(
    output_shape: Sequence[int] = (28, 28, 1),
    embedding_dim: int = 16,
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    activation: str = "relu",
    name: str = "decoder",
) -> keras.Model:
    """Grids ``(batch, h / 2**L, w / 2**L, embedding_dim)`` to pixel **logits** ``(batch, *output_shape)``:
    stride-2 ``Conv2DTranspose`` layers with ``filters`` reversed, then a linear 3x3 one to the
    channels. Raises ``ValueError`` for a bad shape."""
    check_architecture("conv", embedding_dim, output_shape, filters)
    factor = 2 ** len(filters)
    grid = (int(output_shape[0]) // factor, int(output_shape[1]) // factor, int(embedding_dim))
    inputs = keras.Input(shape=grid, name="z_q")
    x = inputs
    for i, f in enumerate(reversed(filters)):
        x = keras.layers.Conv2DTranspose(
            f, kernel_size, strides=2, padding="same", activation=activation, name=f"deconv_{i}"
        )(x)
    logits = keras.layers.Conv2DTranspose(int(output_shape[-1]), 3, padding="same", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def code_counts(indices, num_embeddings: int):
    """How often each code occurs in the int ``indices`` (any shape): float32 ``(num_embeddings,)``."""
    return ops.sum(ops.one_hot(ops.reshape(indices, (-1,)), int(num_embeddings), dtype="float32"), axis=0)


def perplexity_of_counts(counts):
    """``exp(-sum_j p_j log p_j)`` with ``p = counts / sum(counts)`` for code counts ``(K,)``: a float32
    scalar in ``[1, K]``, the number of equally used codes that would give the same entropy (1 for
    all-zero counts)."""
    counts = ops.cast(counts, "float32")
    p = counts / ops.maximum(ops.sum(counts), 1.0)
    return ops.exp(-ops.sum(p * ops.log(ops.maximum(p, 1e-12))))  # 0 log 0 = 0


def code_perplexity(indices, num_embeddings: int):
    """The perplexity of the code frequencies in ``indices`` (any shape), as :func:`perplexity_of_counts`:
    a float32 scalar in ``[1, num_embeddings]``. Of one batch; :class:`CodePerplexity` accumulates
    over batches."""
    return perplexity_of_counts(code_counts(indices, num_embeddings))


def replicas_in_sync():
    """The replica context while a ``tf.distribute`` step runs on more than one replica, else None."""
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


@keras.saving.register_keras_serializable(package="vae_tf")
class CodePerplexity(keras.metrics.Metric):
    """The perplexity of code use over every batch since the last ``reset_state`` (Keras resets
    a model's metrics at each epoch and ``evaluate``): a histogram of code counts accumulates, and
    ``result()`` is :func:`perplexity_of_counts` of it, a float32 scalar in ``[1, num_embeddings]``.
    So the epoch's value is the whole data's, whatever the batch size, unlike a mean of per-batch
    perplexities (each batch sees fewer distinct codes than the data).

    ``update_state(counts)`` adds one batch's code counts ``(num_embeddings,)`` (:func:`code_counts`).
    The counts are float32 (exact to 2**24 per code) with ``aggregation="sum"``: under
    ``tf.distribute`` each replica counts its own part of the batch, and the read sums the replicas.
    """

    def __init__(self, num_embeddings: int, name: str = "perplexity", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_embeddings = check_count(num_embeddings, name="num_embeddings", minimum=2)
        self.counts = self.add_variable(
            shape=(self.num_embeddings,), initializer="zeros", dtype="float32", aggregation="sum", name="counts"
        )

    def update_state(self, counts, sample_weight=None) -> None:
        if sample_weight is not None:
            raise ValueError("CodePerplexity takes no sample_weight: it counts every code it is given.")
        self.counts.assign_add(ops.reshape(ops.cast(counts, "float32"), (self.num_embeddings,)))

    def result(self):
        return perplexity_of_counts(self.counts)

    def reset_state(self) -> None:
        self.counts.assign(ops.zeros((self.num_embeddings,), "float32"))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_embeddings": self.num_embeddings}


@keras.saving.register_keras_serializable(package="vae_tf")
class VectorQuantizer(keras.layers.Layer):
    """A codebook of ``num_embeddings`` vectors of ``embedding_dim``, and nearest-vector lookup.

    Call with ``z_e`` ``(..., embedding_dim)``; returns ``(z_q, indices)``: the nearest codebook
    vectors (squared Euclidean distance; the first of equally near ones), same shape as ``z_e`` and
    differentiable in the codebook only, and their int indices ``z_e.shape[:-1]``. A call with
    ``training=True`` then takes, with ``ema``, one EMA step (:meth:`update_codebook`) and, with
    ``restart_every``, one step of the dead-code restarts (:meth:`restart_unused_codes`), as Keras's
    ``BatchNormalization`` updates its moving statistics; ``z_q`` is the codebook's before them.

    Args:
        num_embeddings: ``K``, the number of codes.
        embedding_dim: ``D``, the width of each code vector.
        ema: if True the codebook is not trainable; :meth:`update_codebook` sets it to
            exponential moving averages (``decay``) of the vectors assigned to each code.
        decay, epsilon: the EMA's decay (0.99 in the paper) and Laplace smoothing of its counts.
        seed: seed of the codebook's initialiser, uniform on ``[-1/K, 1/K]``, and of the restarts' draws.
        restart_every: None (the default: no restarts), or every how many training steps codes
            used fewer than ``restart_threshold`` times (grid positions, over those steps) restart.
        restart_threshold: a number > 0; 1 restarts only codes no vector was assigned to.

    The codebook, the EMA state (``ema_count``, ``ema_sum``), the restarts' counts (``code_use``,
    ``steps_since_check``) and their random generator's state are saved with the model.
    Raises ``ValueError`` (:class:`vae_tf.InputError` for a count) for bad arguments.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        ema: bool = False,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        seed: int | None = None,
        *,
        restart_every: int | None = None,
        restart_threshold: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_embeddings = check_count(num_embeddings, name="num_embeddings", minimum=2)
        self.embedding_dim = check_count(embedding_dim, name="embedding_dim")
        if not 0 < float(decay) < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay!r}.")
        if not (math.isfinite(float(epsilon)) and float(epsilon) > 0):
            raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}.")
        self.ema, self.decay, self.epsilon, self.seed = bool(ema), float(decay), float(epsilon), seed
        k, d = self.num_embeddings, self.embedding_dim
        init = keras.initializers.RandomUniform(-1.0 / k, 1.0 / k, seed=seed)
        self.codebook = self.add_weight(shape=(k, d), initializer=init, trainable=not self.ema, name="codebook")
        if self.ema:
            # Each code starts as the average of one vector, itself: a code no vector has been
            # assigned to yet keeps its place instead of being divided by a zero count.
            self.ema_count = self.add_weight(shape=(k,), initializer="ones", trainable=False, name="ema_count")
            self.ema_sum = self.add_weight(shape=(k, d), initializer="zeros", trainable=False, name="ema_sum")
            self.ema_sum.assign(self.codebook)
        self.add_restarts(restart_every, restart_threshold)
        self.built = True

    def add_restarts(self, restart_every: int | None, restart_threshold: float) -> None:
        """Check the restart arguments and, with ``restart_every``, add the restarts' state."""
        self.restart_every = None if restart_every is None else check_count(restart_every, name="restart_every")
        if not (math.isfinite(float(restart_threshold)) and float(restart_threshold) > 0):
            raise ValueError(f"restart_threshold must be a finite number > 0, got {restart_threshold!r}.")
        self.restart_threshold = float(restart_threshold)
        if self.restart_every is None:  # no state and no generator: the weights and draws of a model without restarts
            return
        k = self.num_embeddings
        self.code_use = self.add_weight(shape=(k,), initializer="zeros", trainable=False, name="code_use")
        self.steps_since_check = self.add_weight(
            shape=(), initializer="zeros", dtype="int32", trainable=False, name="steps_since_check"
        )
        self.restart_seed_generator = keras.random.SeedGenerator(self.seed)

    def squared_distances(self, z_e):
        """``||z_e - e_j||^2`` for every code ``j``: ``(..., num_embeddings)``."""
        z_e = ops.cast(z_e, self.codebook.dtype)
        flat = ops.reshape(z_e, (-1, self.embedding_dim))
        d = (
            ops.sum(ops.square(flat), axis=1, keepdims=True)
            - 2.0 * ops.matmul(flat, ops.transpose(self.codebook))
            + ops.sum(ops.square(self.codebook), axis=1)
        )
        return ops.reshape(d, (*ops.shape(z_e)[:-1], self.num_embeddings))

    def call(self, z_e, training=False):
        indices = ops.argmin(self.squared_distances(z_e), axis=-1)
        z_q = self.lookup(indices)
        if training and self.ema:
            self.update_codebook(z_e, indices)
        if training and self.restart_every is not None:
            self.restart_unused_codes(z_e, indices)
        return z_q, indices

    def lookup(self, indices):
        """The codebook vectors of int ``indices`` (any shape): ``(*indices.shape, embedding_dim)``."""
        return ops.take(self.codebook, ops.cast(indices, "int32"), axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape, input_shape[:-1]

    def update_codebook(self, z_e, indices) -> None:
        """One EMA step (needs ``ema=True``): with ``n_j`` the vectors of ``z_e`` assigned to code
        ``j`` by ``indices`` and ``s_j`` their sum, ``N_j <- decay N_j + (1 - decay) n_j``,
        ``m_j <- decay m_j + (1 - decay) s_j``, ``e_j = m_j / N~_j`` with the Laplace-smoothed
        counts ``N~_j = (N_j + epsilon) / (N + K epsilon) N``, ``N = sum_j N_j``. In float32; under
        ``tf.distribute``, ``n_j`` and ``s_j`` count the vectors of every replica's part of the batch."""
        if not self.ema:
            raise ValueError("update_codebook needs a VectorQuantizer built with ema=True.")
        flat = ops.reshape(ops.cast(z_e, "float32"), (-1, self.embedding_dim))
        assigned = ops.one_hot(ops.reshape(indices, (-1,)), self.num_embeddings, dtype="float32")  # (M, K)
        counts, sums = ops.sum(assigned, axis=0), ops.matmul(ops.transpose(assigned), flat)
        context = replicas_in_sync()
        if context is not None:  # the global batch's statistics
            counts, sums = context.all_reduce(tf.distribute.ReduceOp.SUM, [counts, sums])
        self.ema_count.assign(self.decay * self.ema_count + (1.0 - self.decay) * counts)
        self.ema_sum.assign(self.decay * self.ema_sum + (1.0 - self.decay) * sums)
        total = ops.sum(self.ema_count)
        smoothed = (self.ema_count + self.epsilon) / (total + self.num_embeddings * self.epsilon) * total
        self.codebook.assign(self.ema_sum / ops.expand_dims(smoothed, 1))

    def restart_unused_codes(self, z_e, indices) -> None:
        """One step of the dead-code restarts (needs ``restart_every``): add the step's code counts
        (``indices``, the codes of ``z_e``) to ``code_use``; at every ``restart_every``-th step move
        each code with ``code_use < restart_threshold`` to a vector of ``z_e`` drawn at random
        (distinct codes get distinct vectors while the batch has at least ``K``), then count from 0.
        With ``ema``, a restarted code's EMA state starts again as at initialisation: count 1, sum
        the vector. In float32; under ``tf.distribute`` the counts and the vectors are every
        replica's (``all_reduce``, ``all_gather``), so every replica restarts the same codes at the
        same vectors, those one device would draw from the whole batch."""
        if self.restart_every is None:
            raise ValueError("restart_unused_codes needs a VectorQuantizer built with restart_every.")
        flat = ops.reshape(ops.cast(z_e, "float32"), (-1, self.embedding_dim))
        counts = code_counts(indices, self.num_embeddings)
        context = replicas_in_sync()
        if context is not None:  # the global batch: the same decision and the same vectors on every replica
            counts = context.all_reduce(tf.distribute.ReduceOp.SUM, counts)
            flat = context.all_gather(flat, axis=0)
        use, step = self.code_use + counts, self.steps_since_check + 1
        check = ops.equal(step, self.restart_every)
        dead = ops.logical_and(check, use < self.restart_threshold)  # (K,)
        draws = self.draw_vectors(flat)
        self.codebook.assign(ops.where(dead[:, None], draws, self.codebook))
        if self.ema:
            self.ema_count.assign(ops.where(dead, ops.ones_like(self.ema_count), self.ema_count))
            self.ema_sum.assign(ops.where(dead[:, None], draws, self.ema_sum))
        self.code_use.assign(ops.where(check, ops.zeros_like(use), use))
        self.steps_since_check.assign(ops.where(check, ops.zeros_like(step), step))

    def draw_vectors(self, flat):
        """``K`` rows of ``flat`` ``(M, D)`` in a random order (the restarts' generator): all
        distinct when ``M >= K``, else the ``M`` rows repeated. ``(K, D)``."""
        m = ops.shape(flat)[0]
        order = ops.argsort(keras.random.uniform((m,), seed=self.restart_seed_generator))
        return ops.take(flat, ops.take(order, ops.arange(self.num_embeddings) % m), axis=0)

    # the restarts' random generator is no weight: its state is saved as SeededLayer saves its own
    def save_own_variables(self, store) -> None:
        super().save_own_variables(store)
        if self.restart_every is not None:
            store[SeededLayer.STATE_KEY] = self.restart_seed_generator.state

    def load_own_variables(self, store) -> None:
        if self.restart_every is not None and SeededLayer.STATE_KEY in store.keys():
            self.restart_seed_generator.state.assign(store[SeededLayer.STATE_KEY])
        super().load_own_variables({k: store[k] for k in store.keys() if k != SeededLayer.STATE_KEY})

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim, "ema": self.ema,
             "decay": self.decay, "epsilon": self.epsilon, "seed": self.seed, "restart_every": self.restart_every,
             "restart_threshold": self.restart_threshold}
        )  # fmt: skip
        return config


@keras.saving.register_keras_serializable(package="vae_tf")
class VQVAE(SharedStep, ChecksImageArrays, keras.Model):
    """Vector-quantised VAE (module docstring; its loss is :meth:`loss_terms`).

    Args:
        encoder: images to a grid ``(batch, h', w', D)`` (:func:`build_vq_encoder`).
        decoder: grids ``(batch, h', w', D)`` to pixel **logits** (:func:`build_vq_decoder`).
        num_embeddings: ``K``, the codebook size.
        beta: weight of the commitment loss (0.25 in the paper).
        ema, decay, epsilon: EMA codebook updates instead of the codebook loss (:class:`VectorQuantizer`).
        likelihood, sigma: as :class:`vae_tf.VAE` (Bernoulli by default).
        seed: seed of the codebook's initialiser and of the restarts' draws.
        restart_every, restart_threshold: dead-code restarts (module docstring; :class:`VectorQuantizer`):
            every ``restart_every`` training steps, each code used fewer than ``restart_threshold``
            times in them moves to a random encoder output of the batch. None (the default): none.

    Logged: ``loss``, ``reconstruction_loss``, ``codebook_loss`` (not with ``ema``) and
    ``commitment_loss``, per-image means, with ``loss = sum(loss_weights[t] * t)``: ``beta``
    weighs the commitment loss; and ``perplexity`` (:class:`CodePerplexity`), that of the codes of
    every image seen since the epoch (or ``evaluate``) began, not a mean over batches. Raises
    ``ValueError`` for a bad argument and :class:`vae_tf.InputError` for networks that do not fit.
    """

    conditions_on_digits = False

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        num_embeddings: int = 64,
        beta: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        likelihood: str = "bernoulli",
        sigma: float = 0.1,
        seed: int | None = None,
        *,
        restart_every: int | None = None,
        restart_threshold: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        grid = ("height", "width", "embedding_dim")  # the decoder takes the grid of z_e, quantised
        sizes = check_networks(self, ({"z_e": grid}, grid), build="vae_tf.family.vqvae.build_vq_encoder")
        self.beta = check_beta(beta)
        self.likelihood = check_likelihood(likelihood)
        self.sigma = check_sigma(sigma)
        self.seed = seed
        embedding_dim = int(sizes["embedding_dim"])
        self.quantizer = VectorQuantizer(  # in float32, also under mixed precision
            num_embeddings, embedding_dim, ema, decay, epsilon, seed=seed, restart_every=restart_every,
            restart_threshold=restart_threshold, dtype="float32", name="quantizer",
        )  # fmt: skip
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.codebook_loss_tracker = keras.metrics.Mean(name="codebook_loss")
        self.commitment_loss_tracker = keras.metrics.Mean(name="commitment_loss")
        self.perplexity_tracker = CodePerplexity(self.quantizer.num_embeddings, name="perplexity")
        self.built = True

    @property
    def metrics(self):
        codebook = [] if self.ema else [self.codebook_loss_tracker]
        return [self.loss_tracker, self.reconstruction_loss_tracker, *codebook, self.commitment_loss_tracker,
                self.perplexity_tracker]  # fmt: skip

    @property
    def loss_weights(self) -> dict:
        """``loss = reconstruction_loss + [codebook_loss +] beta * commitment_loss``; ``perplexity`` is not a term."""
        codebook = {} if self.ema else {"codebook_loss": 1.0}
        return {"reconstruction_loss": 1.0, **codebook, "commitment_loss": self.beta}

    @property
    def ema(self) -> bool:
        return self.quantizer.ema

    @property
    def num_embeddings(self) -> int:
        return self.quantizer.num_embeddings

    @property
    def restart_every(self) -> int | None:
        return self.quantizer.restart_every

    def loss_terms(self, x, y=None, training: bool = False) -> dict:
        """The loss, per image, float32 ``(batch,)``: ``reconstruction_loss`` (nats),
        ``codebook_loss`` (not with ``ema``), ``commitment_loss`` and ``loss`` (module docstring);
        and ``code_counts``, float32 ``(K,)``, how often each code was chosen in the batch (over
        images and grid positions; the ``perplexity`` metric adds them up). ``x``: float images
        ``(batch, *image_shape)``; ``y`` is ignored. With ``training=True`` the call also takes the
        quantizer's training step (the EMA step with ``ema``, the restarts' with ``restart_every``)."""
        z_e = ops.cast(self.encoder(x, training=training), "float32")  # (batch, h', w', D)
        z_q, indices = self.quantizer(z_e, training=training)  # nearest codebook vectors; indices (batch, h', w')
        z_st = z_e + ops.stop_gradient(z_q - z_e)  # z_q forward; the gradient goes to z_e (straight-through)
        logits = ops.cast(self.decoder(z_st, training=training), "float32")
        terms = {"reconstruction_loss": -reconstruction_log_likelihood(x, logits, self.likelihood, self.sigma),
                 "commitment_loss": ops.sum(ops.square(z_e - ops.stop_gradient(z_q)), axis=(1, 2, 3))}  # fmt: skip
        if not self.ema:  # the codebook learns from this term (with ema, from the quantizer's EMA step)
            terms["codebook_loss"] = ops.sum(ops.square(ops.stop_gradient(z_e) - z_q), axis=(1, 2, 3))
        terms["loss"] = sum(weight * terms[name] for name, weight in self.loss_weights.items())
        return {**terms, "code_counts": code_counts(indices, self.num_embeddings)}

    def logged(self, terms: dict) -> dict:
        """The shared step's logs (:meth:`vae_tf.family.step.SharedStep.logged`), with the
        ``perplexity`` metric fed the batch's ``code_counts``."""
        return super().logged({**terms, "perplexity": terms["code_counts"]})

    def call(self, inputs, training: bool = False):
        """Reconstructions: the pixel means of the decoded quantised grid ``(batch, *image_shape)``."""
        x = pixels_of(inputs, self.image_shape)
        z_q, _ = self.quantizer(ops.cast(self.encoder(x, training=training), "float32"))
        return pixel_mean(ops.cast(self.decoder(z_q, training=training), "float32"), self.likelihood)

    # ------------------------------------------------------------ using a trained model
    @property
    def image_shape(self) -> tuple:
        return tuple(int(d) for d in self.decoder.outputs[0].shape[1:])

    @property
    def grid_shape(self) -> tuple:
        """``(h', w')``: the code grid of one image."""
        return tuple(int(d) for d in self.encoder.outputs[0].shape[1:-1])

    def as_model_input(self, x, *, name: str = "x") -> np.ndarray:
        """``x`` as the float32 batch ``(m, *image_shape)`` (:func:`vae_tf.core.inputs.as_model_input`)."""
        return as_model_input(x, self.image_shape, name=name)

    def as_indices(self, indices, *, name: str = "indices") -> np.ndarray:
        """``indices`` as int64 ``(m, h', w')``, whole numbers in ``[0, K)``; :class:`vae_tf.InputError` otherwise."""
        arr = np.asarray(indices)
        h, w = self.grid_shape
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or arr.shape[1:] != (h, w) or not len(arr):
            raise InputError(f"{name} must be code indices of shape (m, {h}, {w}), m >= 1, got {arr.shape}.")
        whole = np.all(np.isfinite(arr)) and np.all(np.mod(arr, 1) == 0)
        if not (whole and arr.min() >= 0 and arr.max() < self.num_embeddings):
            raise InputError(f"{name} must be whole numbers in [0, {self.num_embeddings}).")
        return arr.astype("int64")

    def encode(self, x, *, batch_size: int = 512) -> np.ndarray:
        """The code index of every grid position: int64 ``(m, h', w')``. Raises :class:`vae_tf.InputError`."""
        fn = lambda xb: (self.quantizer(ops.cast(self.encoder(xb), "float32"))[1],)  # noqa: E731
        return in_batches(fn, self.as_model_input(x), batch_size=batch_size)[0].astype("int64")

    def decode(self, indices, *, batch_size: int = 512) -> np.ndarray:
        """Pixel means in ``[0, 1]`` for code grids ``indices`` ``(m, h', w')``: NumPy ``(m, *image_shape)``."""
        def fn(ib):
            return (pixel_mean(ops.cast(self.decoder(self.quantizer.lookup(ib)), "float32"), self.likelihood),)

        return in_batches(fn, self.as_indices(indices), batch_size=batch_size)[0]

    def reconstruct(self, x, *, batch_size: int = 512) -> np.ndarray:
        """``decode(encode(x))``: pixel means, NumPy ``(m, *image_shape)``."""
        return in_batches(lambda xb: (self(xb),), self.as_model_input(x), batch_size=batch_size)[0]

    def codebook_usage(self, x, *, batch_size: int = 512) -> np.ndarray:
        """How often each code is chosen over all grid positions of ``x``: int64 ``(K,)``, summing to
        ``m * h' * w'``."""
        return np.bincount(self.encode(x, batch_size=batch_size).ravel(), minlength=self.num_embeddings)

    def codebook_statistics(self, x, *, batch_size: int = 512) -> dict:
        """How ``x`` uses the codebook, over all its images and grid positions at once:
        ``{"codes_used": int, "perplexity": float}``, the number of codes chosen at least once and
        ``exp`` of the entropy of the code frequencies (:func:`perplexity_of_counts`, in float64),
        in ``[1, codes_used]``. Not a mean over batches: the same for any ``batch_size``. Raises
        :class:`vae_tf.InputError`."""
        counts = self.codebook_usage(x, batch_size=batch_size)
        p = counts[counts > 0] / counts.sum()
        return {"codes_used": int(len(p)), "perplexity": float(np.exp(-np.sum(p * np.log(p))))}

    def fit_code_prior(self, indices, *, pseudocount: float = 0.0) -> np.ndarray:
        """A prior over code grids with an independent categorical per position, fitted to
        ``indices`` ``(m, h', w')`` (e.g. ``encode(x_train)``): float64 ``(h', w', K)``, each
        position's code frequencies plus ``pseudocount``, normalised. The paper's prior is a
        PixelCNN, which also models how positions depend on each other. Raises :class:`vae_tf.InputError`."""
        indices = self.as_indices(indices)
        if not (math.isfinite(float(pseudocount)) and float(pseudocount) >= 0):
            raise InputError(f"pseudocount must be a finite number >= 0, got {pseudocount!r}.")
        k, positions = self.num_embeddings, int(np.prod(self.grid_shape))
        flat = np.arange(positions) * k + indices.reshape(len(indices), positions)  # (position, code) as one index
        counts = np.bincount(flat.ravel(), minlength=positions * k).reshape(*self.grid_shape, k) + float(pseudocount)
        return counts / counts.sum(axis=-1, keepdims=True)

    def sample(self, n: int, *, seed: int | None = None, prior=None) -> np.ndarray:
        """``n`` code grids drawn from ``prior`` (``(h', w', K)`` probabilities, :meth:`fit_code_prior`;
        uniform when None), position by position, decoded to pixel means: NumPy ``(n, *image_shape)``.
        Same ``seed``, same images. Raises :class:`vae_tf.InputError` for a bad prior."""
        n = check_count(n)
        seed = None if seed is None else check_count(seed, name="seed", minimum=0)
        shape = (*self.grid_shape, self.num_embeddings)
        p = np.full(shape, 1.0 / self.num_embeddings) if prior is None else np.asarray(prior, dtype="float64")
        if p.shape != shape or not np.all(np.isfinite(p)) or p.min() < 0 or not np.allclose(p.sum(-1), 1.0, atol=1e-6):
            raise InputError(f"prior must be probabilities of shape {shape}, each position summing to 1.")
        logits = np.where(p > 0, np.log(np.maximum(p, 1e-300)), -1e30).reshape(-1, self.num_embeddings)
        draws = keras.random.categorical(ops.convert_to_tensor(logits, "float32"), n, seed=seed)  # (h' * w', n)
        return self.decode(ops.convert_to_numpy(ops.transpose(draws)).reshape(n, *self.grid_shape))

    # ------------------------------------------------------------ saving
    def get_config(self) -> dict:
        networks = {"encoder": self.encoder, "decoder": self.decoder}
        q = self.quantizer
        return {
            **super().get_config(),
            **{key: keras.saving.serialize_keras_object(net) for key, net in networks.items()},
            "num_embeddings": q.num_embeddings, "beta": self.beta, "ema": q.ema, "decay": q.decay,
            "epsilon": q.epsilon, "likelihood": self.likelihood, "sigma": self.sigma, "seed": self.seed,
            "restart_every": q.restart_every, "restart_threshold": q.restart_threshold,
        }  # fmt: skip

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**deserialize_networks(config, custom_objects))
