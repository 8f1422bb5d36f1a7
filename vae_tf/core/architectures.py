"""Encoder and decoder builders: functional ``keras.Model``s for images.

``arch="mlp"`` is the classic dense VAE of Kingma & Welling (one 512-unit hidden layer by
default). ``arch="conv"`` is the convolutional VAE of the keras.io example: two stride-2
``Conv2D`` layers (32 and 64 filters) in the encoder, mirrored by ``Conv2DTranspose`` layers in
the decoder. Both are configurable; ``batch_norm=True`` with ``activation="leaky_relu"`` gives
the "vanilla VAE" style of PyTorch-VAE.

The encoder maps images ``(batch, *input_shape)`` to ``[z_mean, z_log_var]``, each of shape
``(batch, latent_dim)``: the model that uses it draws ``z`` with its own
:class:`~vae_tf.core.layers.Sampling` layer (one sampler per model). The decoder maps ``z`` (plus an optional ``condition_dim``-wide conditioning vector concatenated
to it) to **logits** of shape ``(batch, *output_shape)``; pixel means are ``sigmoid(logits)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import keras
import numpy as np

#: Encoder/decoder families of :func:`build_encoder` / :func:`build_decoder`.
ARCHITECTURES = ("mlp", "conv")

_DEFAULT_HIDDEN = {"mlp": (512,), "conv": (16,)}


def check_architecture(arch: str, latent_dim: int, shape: Sequence[int], filters: Sequence[int]) -> None:
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}.")
    if not isinstance(latent_dim, (int, np.integer)) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}.")
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise ValueError(f"image shape must be (height, width, channels), got {tuple(shape)!r}.")
    if arch == "conv":
        factor = 2 ** len(filters)
        if shape[0] % factor or shape[1] % factor:
            raise ValueError(
                f"arch='conv' with {len(filters)} stride-2 layers needs height and width "
                f"divisible by {factor}, got {tuple(shape)!r}; pad the images or change `filters`."
            )


def _activate(x, activation: str, batch_norm: bool, name: str):
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation(activation, name=f"{name}_act")(x)


def encoder_trunk(
    input_shape: Sequence[int],
    arch: str,
    hidden_units: Sequence[int],
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    activation: str = "relu",
    batch_norm: bool = False,
    condition_dim: int = 0,
):
    """The shared image-to-features stack of :func:`build_encoder` and
    :func:`vae_tf.build_classifier`: stride-2 ``Conv2D`` layers (``"conv"`` only), ``Flatten``,
    the optional conditioning vector concatenated, then the ``Dense`` hidden layers.

    Returns ``(inputs, features)``: the ``keras.Input`` (or ``[image, condition]`` when
    ``condition_dim > 0``) and the last hidden tensor ``(batch, features)``.
    """
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    if arch == "conv":
        for i, f in enumerate(filters):
            x = keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", name=f"conv_{i}")(x)
            x = _activate(x, activation, batch_norm, f"conv_{i}")
    x = keras.layers.Flatten(name="flatten")(x)
    model_inputs = inputs
    if condition_dim:
        c_in = keras.Input(shape=(condition_dim,), name="condition")
        model_inputs = [inputs, c_in]
        x = keras.layers.Concatenate(name="features_and_condition")([x, c_in])
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, name=f"dense_{i}")(x)
        x = _activate(x, activation, batch_norm, f"dense_{i}")
    return model_inputs, x


def build_encoder(
    input_shape: Sequence[int] = (28, 28, 1),
    latent_dim: int = 2,
    arch: str = "mlp",
    hidden_units: Sequence[int] | None = None,
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    activation: str = "relu",
    batch_norm: bool = False,
    condition_dim: int = 0,
    variational: bool = True,
    seed: int | None = None,
    name: str = "encoder",
) -> keras.Model:
    """Build the inference network ``q(z | x) = N(z_mean, exp(z_log_var))``.

    Args:
        input_shape: image shape ``(height, width, channels)``.
        latent_dim: size of ``z``.
        arch: ``"mlp"`` (Flatten, Dense layers) or ``"conv"`` (stride-2 Conv2D layers,
            Flatten, Dense layers).
        hidden_units: widths of the dense hidden layers; default ``(512,)`` for ``"mlp"``
            and ``(16,)`` for ``"conv"``. ``()`` for none.
        filters: filters of the stride-2 conv layers (``"conv"`` only).
        kernel_size: conv kernel size (``"conv"`` only).
        activation: hidden activation, e.g. ``"relu"`` or ``"leaky_relu"``.
        batch_norm: insert ``BatchNormalization`` before each hidden activation.
        condition_dim: if > 0, a second input: a conditioning vector of this width (e.g. a
            one-hot label), concatenated to the flattened image features.
        variational: if False, a deterministic encoder with one output, the code
            ``(batch, latent_dim)`` (for plain autoencoders).
        seed: unused, kept so that calls written for earlier versions (whose encoder had its own
            sampler, discarded by the models) still run; passing it warns (``DeprecationWarning``).

    Returns:
        A functional model from images (and, if ``condition_dim``, ``[images, condition]``)
        to ``[z_mean, z_log_var]``, each of shape ``(batch, latent_dim)`` (or to the code alone
        when ``variational=False``).

    Raises:
        ValueError: unknown ``arch``, ``latent_dim < 1``, or an image shape the conv stack
            cannot halve.
    """
    if seed is not None:
        warnings.warn("build_encoder's seed is unused (the model's Sampling layer draws z): drop it; the model "
                      "takes seed=.", DeprecationWarning, stacklevel=2)
    check_architecture(arch, latent_dim, input_shape, filters)
    hidden_units = _DEFAULT_HIDDEN[arch] if hidden_units is None else tuple(hidden_units)
    model_inputs, x = encoder_trunk(
        input_shape, arch, hidden_units, filters, kernel_size, activation, batch_norm, condition_dim
    )
    if not variational:
        return keras.Model(model_inputs, keras.layers.Dense(latent_dim, name="code")(x), name=name)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(model_inputs, [z_mean, z_log_var], name=name)


def build_decoder(
    output_shape: Sequence[int] = (28, 28, 1),
    latent_dim: int = 2,
    arch: str = "mlp",
    hidden_units: Sequence[int] | None = None,
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    activation: str = "relu",
    batch_norm: bool = False,
    condition_dim: int = 0,
    name: str = "decoder",
) -> keras.Model:
    """Build the generative network ``p(x | z)``: latent codes to pixel **logits**.

    Arguments mirror :func:`build_encoder`; the conv decoder reverses ``filters`` with
    stride-2 ``Conv2DTranspose`` layers and ends in a 3x3 ``Conv2DTranspose`` to the output
    channels. ``condition_dim > 0`` adds a second input, a conditioning vector (e.g. a
    one-hot digit) of that width, concatenated to ``z``.

    Returns:
        A functional model from ``z`` of shape ``(batch, latent_dim)`` (and, if
        ``condition_dim``, ``[z, condition]``) to logits of shape ``(batch, *output_shape)``.
        Apply ``keras.ops.sigmoid`` for pixel means in ``[0, 1]``.
    """
    check_architecture(arch, latent_dim, output_shape, filters)
    hidden_units = _DEFAULT_HIDDEN[arch] if hidden_units is None else tuple(hidden_units)
    output_shape = tuple(int(s) for s in output_shape)
    z_in = keras.Input(shape=(latent_dim,), name="z")
    inputs = [z_in]
    x = z_in
    if condition_dim:
        c_in = keras.Input(shape=(condition_dim,), name="condition")
        inputs.append(c_in)
        x = keras.layers.Concatenate(name="z_and_condition")([z_in, c_in])
    if arch == "mlp":
        for i, units in enumerate(hidden_units):
            x = keras.layers.Dense(units, name=f"dense_{i}")(x)
            x = _activate(x, activation, batch_norm, f"dense_{i}")
        x = keras.layers.Dense(int(np.prod(output_shape)), name="logits_flat")(x)
        logits = keras.layers.Reshape(output_shape, name="logits")(x)
    else:
        factor = 2 ** len(filters)
        base = (output_shape[0] // factor, output_shape[1] // factor, filters[-1])
        for i, units in enumerate(reversed(hidden_units)):
            x = keras.layers.Dense(units, name=f"dense_{i}")(x)
            x = _activate(x, activation, batch_norm, f"dense_{i}")
        x = keras.layers.Dense(int(np.prod(base)), name="project")(x)
        x = _activate(x, activation, batch_norm, "project")
        x = keras.layers.Reshape(base, name="reshape")(x)
        for i, f in enumerate(reversed(filters)):
            x = keras.layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", name=f"deconv_{i}")(x)
            x = _activate(x, activation, batch_norm, f"deconv_{i}")
        logits = keras.layers.Conv2DTranspose(output_shape[-1], 3, padding="same", name="logits")(x)
    return keras.Model(inputs if condition_dim else z_in, logits, name=name)
