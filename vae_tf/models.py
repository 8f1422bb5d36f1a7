"""The variational autoencoder as a ``keras.Model`` with a custom ``train_step``/``test_step``."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from .layers import Sampling
from .losses import check_likelihood, kl_divergence, reconstruction_log_likelihood


#: ``steps_per_execution`` used by :meth:`VAE.compile` unless given: the number of training
#: steps run per call into the compiled graph. Fewer Python round trips per step; callbacks'
#: ``on_*_batch_end`` then run every this many batches (epoch-level callbacks are unaffected).
DEFAULT_STEPS_PER_EXECUTION = 32

_CONV_LAYERS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
)


def _check_beta(beta: float) -> float:
    beta = float(beta)
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}.")
    return beta


@keras.saving.register_keras_serializable(package="vae_tf")
class VAE(keras.Model):
    """Variational autoencoder ``p(x|z) p(z)`` with inference network ``q(z|x)``.

    Args:
        encoder: model from images to ``[z_mean, z_log_var, ...]`` (see
            :func:`vae_tf.build_encoder`); only the first two outputs are used.
        decoder: model from ``z`` to pixel **logits** (see :func:`vae_tf.build_decoder`).
        beta: weight of the KL term (``beta = 1`` is the ELBO; ``!= 1`` a beta-VAE).
        likelihood: ``"bernoulli"`` (binary cross-entropy from logits) or ``"gaussian"``
            (``N(x | sigmoid(logits), sigma**2)``, the MSE up to scale and constant).
        sigma: standard deviation of the Gaussian likelihood (ignored for Bernoulli).
        seed: seed of the reparameterization noise used in ``train_step``/``test_step``.

    Training data are images in ``[0, 1]`` of shape ``(batch, *image_shape)``; a dataset may
    also yield ``(images, labels)``, and the labels are ignored. Per batch the step computes,
    per example and in nats (summed over pixels and latent dimensions),
    ``reconstruction_loss = -log p(x|z)`` with ``z ~ q(z|x)`` (one sample),
    ``kl_loss = KL(q(z|x) || N(0, I))`` and ``loss = reconstruction_loss + beta * kl_loss``,
    and minimises the batch mean of ``loss``. The metrics ``loss``, ``reconstruction_loss``
    and ``kl_loss`` are means over every example seen in the epoch, so the logged values
    satisfy ``loss == reconstruction_loss + beta * kl_loss`` up to float rounding, in ``fit``
    and in ``evaluate``. With ``beta = 1``, ``loss`` is the negative ELBO.
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        beta: float = 1.0,
        likelihood: str = "bernoulli",
        sigma: float = 0.1,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not float(sigma) > 0:
            raise ValueError(f"sigma must be a positive number, got {sigma!r}.")
        self.encoder = encoder
        self.decoder = decoder
        self.beta = _check_beta(beta)
        self.likelihood = check_likelihood(likelihood)
        self.sigma = float(sigma)
        self.seed = seed
        self.sampling = Sampling(seed=seed, name="sampling")
        self._trackers = {name: keras.metrics.Mean(name=name) for name in self._metric_names()}
        # The encoder and decoder are functional models, built when they were created. Marking
        # the VAE built lets `save` store all weights and lets `load_model` restore the
        # optimizer state before the first step.
        self.built = True

    #: Capability flag: True for models whose generation takes a digit (``digits=``).
    conditions_on_digits = False

    # ----------------------------------------------------------------- structure
    @property
    def loss_weights(self) -> dict[str, float]:
        """Weight of each logged per-example term in ``loss``: ``loss = sum(w * term)``."""
        return {"reconstruction_loss": 1.0, "kl_loss": self.beta}

    def _metric_names(self) -> tuple[str, ...]:
        return ("loss", "reconstruction_loss", "kl_loss")

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self._trackers.values())

    @property
    def latent_dim(self) -> int:
        return int(self.encoder.outputs[0].shape[-1])

    @property
    def image_shape(self) -> tuple[int, ...]:
        image_input = self.encoder.inputs[0]
        return tuple(int(d) for d in image_input.shape[1:])

    def build(self, input_shape=None) -> None:
        self.built = True

    # ----------------------------------------------------------------- compilation
    def compile(self, optimizer="rmsprop", **kwargs) -> None:
        """``keras.Model.compile`` with fast defaults for training on any device, CPU included.

        Any keyword of ``keras.Model.compile`` may be given; two defaults differ:

        * ``jit_compile="auto"`` compiles each training/evaluation step with XLA where that
          is faster: on GPUs/TPUs, and on CPU-only machines for models without convolution
          layers (Keras's own ``"auto"`` turns XLA off on every CPU-only machine). On CPU, XLA
          fuses the loss and the optimizer update into a few kernels, but its convolutions are
          slower than TensorFlow's oneDNN kernels, so convolutional models stay off XLA there.
          XLA is also off with ``run_eagerly=True``, under a ``tf.distribute`` strategy and
          with TensorFlow op determinism enabled. ``jit_compile=True``/``False`` forces it.
        * ``steps_per_execution`` defaults to :data:`DEFAULT_STEPS_PER_EXECUTION`, and is 1
          (with a warning if more was asked for) when the model was built, or is compiled,
          under a ``tf.distribute`` strategy. Keras runs more than one step per execution in a
          ``tf.while_loop`` whose body calls the step inside a ``tf.cond``; the collective
          all-reduce of the gradients (the default of ``MirroredStrategy`` on CPUs and GPUs, and
          of ``MultiWorkerMirroredStrategy``) takes its instance key as a call-time captured
          placeholder that TensorFlow does not feed through ``tf.cond``, so ``fit`` fails with
          ``You must feed a value for placeholder tensor ... multi_step_on_iterator``, plain
          ``keras.Model`` included (keras-team/keras#19246). Strategies without collectives
          run there but were slower than one step per execution in our measurements.

        The maths is unchanged. One visible difference: XLA draws the reparameterization
        noise with a different (equally valid) random-number algorithm than plain TensorFlow,
        so runs with the same seed follow different, statistically equivalent trajectories
        with and without XLA. ``model.jit_compile`` and ``model.steps_per_execution`` report
        what is in effect, and both are saved with the model and restored by ``load_model``.
        """
        from .distribute import is_distributed

        if not is_distributed(self):
            kwargs.setdefault("steps_per_execution", DEFAULT_STEPS_PER_EXECUTION)
        elif kwargs.setdefault("steps_per_execution", 1) != 1:
            import warnings

            warnings.warn(
                f"steps_per_execution={kwargs['steps_per_execution']} fails under tf.distribute "
                "(keras-team/keras#19246); using 1.",
                stacklevel=2,
            )
            kwargs["steps_per_execution"] = 1
        if kwargs.get("jit_compile", "auto") == "auto":
            kwargs["jit_compile"] = (
                not kwargs.get("run_eagerly", False) and self._xla_supported() and self._xla_is_faster()
            )
        super().compile(optimizer=optimizer, **kwargs)

    def _xla_supported(self) -> bool:
        from .distribute import is_distributed

        if is_distributed(self):
            return False
        try:  # Keras's own check: every layer supports XLA, TF op determinism is off, ...
            from keras.src.trainers.trainer import model_supports_jit
        except ImportError:  # a Keras without it: check the layers only
            return all(getattr(layer, "supports_jit", True) for layer in self._flatten_layers())
        return bool(model_supports_jit(self))

    def _xla_is_faster(self) -> bool:
        if any(d.device_type != "CPU" for d in tf.config.list_physical_devices()):
            return True
        return not any(isinstance(layer, _CONV_LAYERS) for layer in self._flatten_layers())

    def compile_from_config(self, config: dict) -> None:
        """Re-compile from :meth:`get_compile_config` when a saved model is loaded (Keras skips
        that for models that override ``compile`` unless this method is overridden too)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if hasattr(self, "optimizer") and self.built:
            self.optimizer.build(self.trainable_variables)  # so load_model can restore its state

    # ----------------------------------------------------------------- forward pass
    def call(self, inputs, training: bool = False):
        """Reconstruction pixel means ``sigmoid(decoder(z_mean))``, shape ``(batch, *image_shape)``."""
        z_mean, _, _ = self.encoder(inputs, training=training)
        return ops.sigmoid(self.decoder(z_mean, training=training))

    def loss_terms(self, x, y=None, training: bool = False) -> dict[str, Any]:
        """Per-example loss terms in nats, each of shape ``(batch,)``.

        Keys: ``reconstruction_loss`` (``-log p(x|z)``, one ``z ~ q(z|x)``), ``kl_loss``
        (closed-form ``KL(q(z|x) || N(0, I))``) and ``loss`` (their sum with ``beta``).
        """
        z_mean, z_log_var, _ = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        logits = self.decoder(z, training=training)
        reconstruction = -reconstruction_log_likelihood(x, logits, self.likelihood, self.sigma)
        kl = kl_divergence(z_mean, z_log_var)
        return {"loss": reconstruction + self.beta * kl, "reconstruction_loss": reconstruction, "kl_loss": kl}

    # ----------------------------------------------------------------- steps
    def _unpack(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return ops.cast(x, self.compute_dtype), y

    def _record(self, terms: dict[str, Any]) -> dict[str, Any]:
        for name, tracker in self._trackers.items():
            tracker.update_state(terms[name])
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def train_step(self, data):
        x, y = self._unpack(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(x, y, training=True)
            loss = ops.mean(terms["loss"])
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._record(terms)

    def test_step(self, data):
        x, y = self._unpack(data)
        return self._record(self.loss_terms(x, y, training=False))

    # ----------------------------------------------------------------- convenience
    def encode(self, x, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Posterior parameters for images ``x`` in ``[0, 1]``: ``(z_mean, z_log_var)``, each
        a NumPy array of shape ``(n, latent_dim)``."""
        outputs = _batched(lambda b: self.encoder(b, training=False)[:2], _as_float(x), batch_size)
        return outputs[0], outputs[1]

    def decode(self, z, batch_size: int = 512) -> np.ndarray:
        """Pixel means in ``[0, 1]`` for latent codes ``z`` of shape ``(n, latent_dim)``:
        a NumPy array of shape ``(n, *image_shape)``."""
        return _batched(lambda b: (ops.sigmoid(self.decoder(b, training=False)),), _as_float(z), batch_size)[0]

    def reconstruct(self, x, batch_size: int = 512) -> np.ndarray:
        """Decode the posterior mean of each image: pixel means, same shape as ``x``."""
        return self.decode(self.encode(x, batch_size)[0], batch_size)

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` images from the model: ``z ~ N(0, I)`` decoded to pixel means in ``[0, 1]``,
        shape ``(n, *image_shape)``. The same ``seed`` gives the same images."""
        z = keras.random.normal((int(n), self.latent_dim), seed=seed)
        return self.decode(ops.convert_to_numpy(z))

    def kl_per_dimension(self, x, batch_size: int = 512) -> np.ndarray:
        """Mean over ``x`` of ``KL(q(z_i|x) || N(0, 1))`` for each latent dimension ``i``:
        shape ``(latent_dim,)``, nats. Dimensions near 0 are unused (posterior collapse)."""
        z_mean, z_log_var = self.encode(x, batch_size)
        kl = kl_divergence(z_mean, z_log_var, per_dimension=True)
        return ops.convert_to_numpy(ops.mean(kl, axis=0))

    # ----------------------------------------------------------------- serialization
    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "beta": self.beta,
                "likelihood": self.likelihood,
                "sigma": self.sigma,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return cls(**deserialize_submodels(config, custom_objects))


def deserialize_submodels(config: dict, custom_objects=None) -> dict:
    """A copy of a model's ``get_config()`` with its serialized sub-models (``encoder``,
    ``decoder``, ``classifier``, where present) rebuilt: what ``from_config`` passes to ``cls``."""
    config = dict(config)
    for key in ("encoder", "decoder", "classifier"):
        if key in config:
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
    return config


def _as_float(x) -> np.ndarray:
    return np.asarray(x, dtype="float32")


def _batched(fn, x, batch_size: int, *more) -> list[np.ndarray]:
    """Apply ``fn(x_batch, *more_batches)`` (returning a tuple of tensors) over batches of
    ``x`` and the equally long arrays ``more``; concatenate each output as NumPy."""
    if len(x) == 0:
        raise ValueError("expected at least one example, got an empty array.")
    parts = [fn(x[i : i + batch_size], *(m[i : i + batch_size] for m in more)) for i in range(0, len(x), batch_size)]
    return [np.concatenate([ops.convert_to_numpy(p[k]) for p in parts]) for k in range(len(parts[0]))]
