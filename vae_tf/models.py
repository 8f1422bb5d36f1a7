"""The variational autoencoder as a ``keras.Model`` with a custom ``train_step``/``test_step``."""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from . import distribute
from .inputs import InputError, as_images, check_count, check_image_shape, is_checked
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


#: Keras warns on every ``fit(dataset)`` that its own ``shuffle=True`` default is ignored for a
#: ``tf.data.Dataset``; ``vae_tf.make_dataset`` shuffles itself. Silenced inside our ``fit`` only.
_SHUFFLE_IGNORED = r"`shuffle=True` was passed, but will be ignored"


class LossTermsModel(keras.Model):
    """Base of the models trained on per-example loss terms (:class:`VAE` and its subclasses,
    :class:`vae_tf.Autoencoder`): one custom ``train_step``/``test_step``, and ``fit``/``evaluate``
    that check their data first.

    A subclass provides ``loss_terms(x, y, training) -> {name: (batch,) tensor}`` with a
    ``"loss"`` entry, ``_metric_names()`` (the terms logged, ``"loss"`` first), ``image_shape``
    and, if it takes labels, ``_checked_labels``. Each logged metric is the mean over every
    example seen in the epoch.
    """

    #: Whether inputs are pixel intensities (the pixel rule of :mod:`vae_tf.inputs`) rather than
    #: arbitrary real numbers.
    inputs_are_pixels = True

    def _init_trackers(self) -> None:
        self._trackers = {name: keras.metrics.Mean(name=name) for name in self._metric_names()}

    def _metric_names(self) -> tuple[str, ...]:
        return ("loss",)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self._trackers.values())

    # ----------------------------------------------------------------- steps
    def train_step(self, data):
        x, y = self._unpack(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(x, y, training=True)
            # The mean over the GLOBAL batch: under a tf.distribute strategy each replica sees
            # part of the batch and Keras sums the replicas' gradients.
            loss = distribute.global_mean(terms["loss"])
            # Under mixed precision `optimizer` is a LossScaleOptimizer: scale here, and its
            # `apply` unscales the gradients (a no-op scaling for other optimizers).
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._record(terms)

    def test_step(self, data):
        x, y = self._unpack(data)
        return self._record(self.loss_terms(x, y, training=False))

    def make_train_function(self, force: bool = False):
        """Keras's training function, with the optimizer's variables created first.

        Without a ``tf.distribute`` strategy Keras leaves them to the first trace of the
        training step, and a ``tf.function`` whose first trace creates variables is traced a
        second time: building them here halves the tracing of the first epoch (on a 2-core CPU
        about 1.3 s of a dense VAE's 2.5 s). They are the same variables, created in the same
        order and scope as ``Optimizer.apply`` would, so the numbers do not change."""
        optimizer = self.optimizer
        if optimizer is not None and not optimizer.built and not distribute.is_distributed(self) and self.trainable_weights:
            with keras.name_scope(optimizer.name, caller=optimizer):  # as Optimizer.apply does
                optimizer.build(self.trainable_weights)
            optimizer.built = True
        return super().make_train_function(force)

    def make_test_function(self, force: bool = False):
        """Keras's test function, never compiled with XLA (the training step still is).

        XLA compiles one program per batch shape, and ``evaluate`` and a ``fit`` with
        validation meet three (the full batch, the validation set's last batch, the test set's
        last batch): on a 2-core CPU about 1 s each on the first epoch, more than a forward
        pass over the few evaluation batches of a whole run gains from it
        (``benchmarks/whole_process.py``). Only the speed differs: the losses are the same
        functions (the noise of the one ``z`` per image is drawn by TensorFlow's generator
        instead of XLA's, so a test ELBO differs from an XLA one as two seeds do)."""
        jit_compile = self.jit_compile
        self.jit_compile = False
        try:
            return super().make_test_function(force)
        finally:
            self.jit_compile = jit_compile

    def _unpack(self, data):
        """Images (as float32, the dtype of the losses) and labels of one batch; checks the
        images' dtype and static shape when the step is traced."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        self._check_batch_spec(x.dtype, x.shape)
        return ops.cast(x, "float32"), y

    def _record(self, terms: dict[str, Any]) -> dict[str, Any]:
        for name, tracker in self._trackers.items():
            tracker.update_state(ops.cast(terms[name], "float32"))
        return distribute.step_outputs({name: tracker.result() for name, tracker in self._trackers.items()})

    # ----------------------------------------------------------------- checked entry points
    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``, after checking the data (see :meth:`checked_data`; a
        ``validation_data`` tuple or dataset too). Raises :class:`vae_tf.InputError`."""
        x, y = self.checked_data(x, y)
        if kwargs.get("validation_data") is not None:
            kwargs["validation_data"] = self._checked_validation(kwargs["validation_data"])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_SHUFFLE_IGNORED, category=UserWarning)
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate``, after checking the data (see :meth:`checked_data`)."""
        if not kwargs.get("_use_cached_eval_dataset"):  # fit's validation data were checked once
            x, y = self.checked_data(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def checked_data(self, x, y=None):
        """``(x, y)`` as ``fit``/``evaluate`` use them. Arrays: images by the pixel rule
        (``float32``, shape ``(n, *image_shape)``), labels checked by the model. A
        ``tf.data.Dataset``: its element spec must be float images of ``image_shape`` and its
        first element is checked the same way (labels too), unless :func:`vae_tf.make_dataset`
        made it (already checked); it is returned unchanged (taking that element starts one
        iteration: a reshuffling dataset's later order shifts by one).
        Other inputs pass through (the steps check dtype and shape). Raises
        :class:`vae_tf.InputError` with the fix."""
        if isinstance(x, tf.data.Dataset):
            self._check_dataset(x)
            return x, y
        if isinstance(x, (np.ndarray, tf.Tensor)):
            x = self.as_model_input(x)
            return x, self._checked_labels(y, len(x))
        return x, y

    def _checked_validation(self, data):
        if isinstance(data, (tuple, list)) and data:
            x, y = self.checked_data(data[0], data[1] if len(data) > 1 else None)
            return (x,) if len(data) == 1 else (x, y, *data[2:])
        return self.checked_data(data)[0]

    def _checked_labels(self, y, n: int):
        """Labels as the model trains on them; this model ignores them."""
        return y

    def as_model_input(self, x, *, name: str = "x") -> np.ndarray:
        """``x`` as the model's ``float32`` input batch ``(n, *image_shape)``: by the pixel rule
        (:func:`vae_tf.inputs.as_images`), or any finite reals if ``inputs_are_pixels`` is
        False. Raises :class:`vae_tf.InputError`."""
        if self.inputs_are_pixels:
            arr = as_images(x, self.image_shape, name=name, allow_empty=True)
        else:
            arr = _as_finite(x, name)
            check_image_shape(arr.shape, self.image_shape, name=name)
        if not len(arr):
            raise InputError(f"{name} is empty: expected at least one example.")
        return arr

    def _check_batch_spec(self, dtype, shape) -> None:
        """Raise :class:`vae_tf.InputError` unless images of this dtype and (static) shape can
        enter the model."""
        dtype = keras.backend.standardize_dtype(dtype)
        if "float" not in dtype:
            raise InputError(
                f"images reach the model as {dtype}; pass float32 pixels in [0, 1]: build datasets with "
                "vae_tf.make_dataset (or map tf.cast(x, 'float32') / 255), or fit on the NumPy array."
            )
        shape = tf.TensorShape(shape)
        if shape.rank is not None and shape[1:].is_fully_defined():
            check_image_shape(tuple(shape), self.image_shape, name="images")

    def _check_dataset(self, ds: tf.data.Dataset) -> None:
        x_spec, _, _ = keras.utils.unpack_x_y_sample_weight(ds.element_spec)
        if not isinstance(x_spec, tf.TensorSpec):
            return  # a nested structure this model does not take; Keras reports it
        self._check_batch_spec(x_spec.dtype, x_spec.shape)
        if is_checked(ds):  # made by vae_tf.make_dataset: pixels and labels already checked
            return
        x, y, _ = keras.utils.unpack_x_y_sample_weight(next(iter(ds.take(1))))
        x = self.as_model_input(ops.convert_to_numpy(x), name="the dataset's first batch of images")
        self._checked_labels(None if y is None else ops.convert_to_numpy(y), len(x))


@keras.saving.register_keras_serializable(package="vae_tf")
class VAE(LossTermsModel):
    """Variational autoencoder ``p(x|z) p(z)`` with inference network ``q(z|x)``.

    Args:
        encoder: model from images to ``[z_mean, z_log_var, ...]`` (see
            :func:`vae_tf.build_encoder`); only the first two outputs are used.
        decoder: model from ``z`` to pixel **logits** (see :func:`vae_tf.build_decoder`).
        beta: weight of the KL term (``beta = 1`` is the ELBO; ``!= 1`` a beta-VAE).
        likelihood: one of :data:`vae_tf.losses.LIKELIHOODS`, e.g. ``"bernoulli"`` (binary
            cross-entropy from logits) or ``"gaussian"`` (``N(x | sigmoid(logits), sigma**2)``,
            the MSE up to scale and constant).
        sigma: standard deviation of the Gaussian likelihood (ignored for Bernoulli).
        seed: seed of the reparameterization noise used in ``train_step``/``test_step``.

    Training data are images of shape ``(batch, *image_shape)`` (NumPy arrays follow the pixel
    rule of :mod:`vae_tf.inputs`; datasets must yield float32 in ``[0, 1]``); a dataset may
    also yield ``(images, labels)``, and the labels are ignored. Per batch the step computes,
    per example and in nats (summed over pixels and latent dimensions),
    ``reconstruction_loss = -log p(x|z)`` with ``z ~ q(z|x)`` (one sample),
    ``kl_loss = KL(q(z|x) || N(0, I))`` and ``loss = reconstruction_loss + beta * kl_loss``,
    and minimises the batch mean of ``loss``. The metrics ``loss``, ``reconstruction_loss``
    and ``kl_loss`` are means over every example seen in the epoch, so the logged values
    satisfy ``loss == reconstruction_loss + beta * kl_loss`` up to float rounding, in ``fit``
    and in ``evaluate``. With ``beta = 1``, ``loss`` is the negative ELBO. Losses are computed
    in float32 also under a ``mixed_float16`` policy.
    """

    #: Capability flag: True for models whose generation takes a digit (``digits=``).
    conditions_on_digits = False

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
        self._init_trackers()
        # The encoder and decoder are functional models, built when they were created. Marking
        # the VAE built lets `save` store all weights and lets `load_model` restore the
        # optimizer state before the first step.
        self.built = True

    # ----------------------------------------------------------------- structure
    @property
    def loss_weights(self) -> dict[str, float]:
        """Weight of each logged per-example term in ``loss``: ``loss = sum(w * term)``."""
        return {"reconstruction_loss": 1.0, "kl_loss": self.beta}

    def _metric_names(self) -> tuple[str, ...]:
        return ("loss", "reconstruction_loss", "kl_loss")

    @property
    def latent_dim(self) -> int:
        return int(self.encoder.outputs[0].shape[-1])

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.decoder.outputs[0].shape[1:])

    def build(self, input_shape=None) -> None:
        self.built = True

    # ----------------------------------------------------------------- compilation
    def compile(self, optimizer="rmsprop", **kwargs) -> None:
        """``keras.Model.compile`` with fast defaults for training on any device, CPU included.

        Any keyword of ``keras.Model.compile`` may be given; two defaults differ:

        * ``jit_compile="auto"`` compiles each training step with XLA where that is faster
          (evaluation steps never are, see :meth:`make_test_function`): on GPUs/TPUs, and on CPU-only machines for models without convolution
          layers (Keras's own ``"auto"`` turns XLA off on every CPU-only machine). On CPU, XLA
          fuses the loss and the optimizer update into a few kernels, but its convolutions are
          slower than TensorFlow's oneDNN kernels, so convolutional models stay off XLA there.
          XLA is also off with ``run_eagerly=True``, under a ``tf.distribute`` strategy, with
          TensorFlow op determinism enabled, and in quick mode (:func:`vae_tf.quick_mode`):
          compiling takes 2-3 s per batch shape on a 2-core CPU, longer than a quick run's few
          dozen steps gain from it. ``jit_compile=True``/``False`` forces it.
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
        from .settings import quick_mode

        if quick_mode():  # a few dozen steps: the compile would cost more than it saves
            return False
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

    # ----------------------------------------------------------------- hooks for subclasses
    def _condition(self, x, labels=None, training: bool = False):
        """What the encoder and decoder receive besides ``x`` and ``z`` when the digits are
        ``labels`` (integers ``(batch,)``, or None): None for this unconditioned model."""
        return None

    def _training_condition(self, x, labels, training: bool):
        """``(condition, extra_terms)`` for :meth:`loss_terms`: the condition, and per-example
        terms this model adds to the VAE's (none here)."""
        return self._condition(x, labels, training), {}

    def _encoder_inputs(self, x, condition):
        return x if len(self.encoder.inputs) == 1 else [x, condition]

    def _decoder_inputs(self, z, condition):
        return z if condition is None else [z, condition]

    def _posterior(self, x, condition, training: bool = False):
        """``(z_mean, z_log_var)`` of ``q(z | x[, condition])`` as float32 tensors."""
        outputs = self.encoder(self._encoder_inputs(x, condition), training=training)
        return ops.cast(outputs[0], "float32"), ops.cast(outputs[1], "float32")

    # ----------------------------------------------------------------- forward pass and loss
    def call(self, inputs, training: bool = False):
        """Reconstruction pixel means ``sigmoid(decoder(z_mean))``, shape ``(batch, *image_shape)``;
        ``inputs`` are images, or ``(images, integer labels)`` for a digit-conditioned model."""
        x, labels = inputs if isinstance(inputs, (list, tuple)) else (inputs, None)
        condition = self._condition(x, labels, training)
        z_mean, _ = self._posterior(x, condition, training)
        logits = self.decoder(self._decoder_inputs(z_mean, condition), training=training)
        return ops.sigmoid(ops.cast(logits, "float32"))

    def loss_terms(self, x, y=None, training: bool = False) -> dict[str, Any]:
        """Per-example loss terms in nats (float32), each of shape ``(batch,)``.

        Keys: ``reconstruction_loss`` (``-log p(x|z)``, one ``z ~ q(z|x)``), ``kl_loss``
        (closed-form ``KL(q(z|x) || N(0, I))``), the terms a subclass adds, and ``loss`` (their
        sum weighted by :attr:`loss_weights`). ``y``: integer labels (used by the
        digit-conditioned models only).
        """
        condition, terms = self._training_condition(x, y, training)
        z_mean, z_log_var = self._posterior(x, condition, training)
        z = self.sampling([z_mean, z_log_var])
        logits = ops.cast(self.decoder(self._decoder_inputs(z, condition), training=training), "float32")
        terms = {
            "reconstruction_loss": -reconstruction_log_likelihood(x, logits, self.likelihood, self.sigma),
            "kl_loss": kl_divergence(z_mean, z_log_var),
            **terms,
        }
        loss = 0.0
        for name, weight in self.loss_weights.items():
            loss = loss + weight * terms[name]
        return {"loss": loss, **terms}

    # ----------------------------------------------------------------- convenience
    def _digit_array(self, digits, n: int) -> np.ndarray | None:
        """``digits`` as ``n`` class indices, or None; a model without digits takes none."""
        if digits is not None:
            raise InputError(
                f"{type(self).__name__} is not digit-conditioned: call it without digits= "
                "(ConditionalVAE and AuxiliaryClassifierVAE take them)."
            )
        return None

    def encode(self, x, *, digits=None, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Posterior parameters for images ``x`` ``(n, *image_shape)`` (pixel rule of
        :mod:`vae_tf.inputs`): ``(z_mean, z_log_var)``, NumPy, each ``(n, latent_dim)``.
        Raises :class:`vae_tf.InputError` for bad images, digits or batch size."""
        x = self.as_model_input(x)
        fn = lambda xb, *lb: self._posterior(xb, self._condition(xb, *lb))  # noqa: E731
        z_mean, z_log_var = _batched(fn, x, batch_size, *self._digits_or_nothing(digits, len(x)))
        return z_mean, z_log_var

    def decode(self, z, *, digits=None, batch_size: int = 512) -> np.ndarray:
        """Pixel means in ``[0, 1]`` for latent codes ``z`` of shape ``(n, latent_dim)``
        (and, for a digit-conditioned model, the required ``digits``: one int or ``n`` ints):
        NumPy ``(n, *image_shape)``. Raises :class:`vae_tf.InputError`."""
        z = _as_codes(z, self.latent_dim)
        labels = self._digits_or_nothing(digits, len(z))
        if self.conditions_on_digits and not labels:
            raise InputError(f"{type(self).__name__}.decode needs digits=: one digit or one per code.")

        def fn(zb, *lb):
            condition = self._condition(None, *lb)
            return (ops.sigmoid(ops.cast(self.decoder(self._decoder_inputs(zb, condition)), "float32")),)

        return _batched(fn, z, batch_size, *labels)[0]

    def reconstruct(self, x, *, digits=None, batch_size: int = 512) -> np.ndarray:
        """Decode the posterior mean of each image: pixel means, shape ``(n, *image_shape)``."""
        x = self.as_model_input(x)
        fn = lambda xb, *lb: (self((xb, *lb) if lb else xb, training=False),)  # noqa: E731
        return _batched(fn, x, batch_size, *self._digits_or_nothing(digits, len(x)))[0]

    def sample(self, n: int, *, digits=None, seed: int | None = None) -> np.ndarray:
        """``n`` images from the model: ``z ~ N(0, I)`` decoded to pixel means in ``[0, 1]``,
        shape ``(n, *image_shape)``. A digit-conditioned model draws ``digits`` uniformly when
        they are None. The same ``seed`` gives the same images. Raises :class:`vae_tf.InputError`."""
        n = check_count(n)
        seed = None if seed is None else check_count(seed, name="seed", minimum=0)
        z = ops.convert_to_numpy(keras.random.normal((n, self.latent_dim), seed=seed))
        if digits is None and self.conditions_on_digits:
            digits = ops.convert_to_numpy(keras.random.randint((n,), 0, self.num_classes, seed=seed))
        return self.decode(z, digits=digits)

    def kl_per_dimension(self, x, *, digits=None, batch_size: int = 512) -> np.ndarray:
        """Mean over ``x`` of ``KL(q(z_i|x) || N(0, 1))`` for each latent dimension ``i``:
        shape ``(latent_dim,)``, nats. Dimensions near 0 are unused (posterior collapse)."""
        z_mean, z_log_var = self.encode(x, digits=digits, batch_size=batch_size)
        kl = kl_divergence(z_mean, z_log_var, per_dimension=True)
        return ops.convert_to_numpy(ops.mean(kl, axis=0))

    def _digits_or_nothing(self, digits, n: int) -> tuple[np.ndarray, ...]:
        labels = self._digit_array(digits, n)
        return () if labels is None else (labels,)

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


def _as_finite(x, name: str) -> np.ndarray:
    """``x`` as a ``float32`` array with at least one axis and only finite values."""
    try:
        arr = np.asarray(x, dtype="float32")
    except (TypeError, ValueError) as e:
        raise InputError(f"{name} must be a numeric array ({e}).") from None
    if arr.ndim == 0:
        raise InputError(f"{name} must be a batch (an array with a leading batch axis), got a scalar.")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or infinite values.")
    return arr


def _as_codes(z, width: int, name: str = "z") -> np.ndarray:
    """Codes ``(n, width)`` as ``float32``; :class:`vae_tf.InputError` for any other shape."""
    arr = _as_finite(z, name)
    if arr.ndim != 2 or arr.shape[1] != width or not len(arr):
        raise InputError(f"{name} must have shape (n, {width}) with n >= 1, got {arr.shape}.")
    return arr


def _batched(fn, x, batch_size: int, *more) -> list[np.ndarray]:
    """Apply ``fn(x_batch, *more_batches)`` (returning a tuple of tensors) over batches of
    ``x`` and the equally long arrays ``more``; concatenate each output as NumPy."""
    # Not `predict(batch_size=)`: measured on CPU (Keras 3.15), predict costs ~230 ms per call on
    # 10 images against ~20 ms here, and the notebooks and figures make many such small calls.
    batch_size = check_count(batch_size, name="batch_size")
    if len(x) == 0:
        raise InputError("expected at least one example, got an empty array.")
    tensors = lambda i: [ops.convert_to_tensor(a[i : i + batch_size]) for a in (x, *more)]  # noqa: E731
    parts = [fn(*tensors(i)) for i in range(0, len(x), batch_size)]
    return [np.concatenate([ops.convert_to_numpy(p[k]) for p in parts]) for k in range(len(parts[0]))]
