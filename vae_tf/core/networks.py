"""Checks that a model's networks and settings fit together, and the networks' serialization.

Used by every model of the family when it is built (:func:`check_networks`, :func:`check_beta`,
:func:`check_sigma`) and loaded (:func:`deserialize_networks`).
"""

from __future__ import annotations

import math

import keras

from .inputs import InputError


def deserialize_networks(config: dict, custom_objects=None) -> dict:
    """A copy of a model's ``get_config()`` with its serialized networks (``encoder``,
    ``decoder``, ``classifier``, where present) rebuilt: what ``from_config`` passes to ``cls``."""
    config = dict(config)
    for key in ("encoder", "decoder", "classifier"):
        if key in config:
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
    return config


def check_beta(beta) -> float:
    beta = float(beta)
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}.")
    return beta


def check_sigma(sigma) -> float:
    if not float(sigma) > 0:
        raise ValueError(f"sigma must be a positive number, got {sigma!r}.")
    return float(sigma)


#: Output activations that turn logits into probabilities: a decoder ending in one of them
#: outputs pixel means, and the losses would apply the sigmoid a second time.
_SQUASHING = ("sigmoid", "softmax", "hard_sigmoid", "tanh", "relu", "softplus")


def check_networks(model) -> None:
    """Raise :class:`vae_tf.InputError` naming the network and the fix unless the encoder gives
    ``[z_mean, z_log_var, ...]`` of one width, the decoder takes codes of that width (plus the
    model's condition) and outputs logits (no output activation) of the encoder's image shape."""
    encoder, decoder, kind = model.encoder, model.decoder, type(model).__name__
    outputs = getattr(encoder, "outputs", None)
    if outputs is not None:
        if len(outputs) < 2 or outputs[0].shape[-1] != outputs[1].shape[-1]:
            raise InputError(
                f"{kind}'s encoder must output [z_mean, z_log_var, ...] of one width, got {len(outputs)} output(s) "
                f"of shapes {[tuple(o.shape) for o in outputs]}: build it with vae_tf.build_encoder (variational=True)."
            )
        images, produced = tuple(encoder.inputs[0].shape[1:]), tuple(getattr(decoder, "outputs", [encoder.inputs[0]])[0].shape[1:])
        if None not in images + produced and images != produced:
            raise InputError(
                f"{kind}'s decoder outputs shape {produced} but the encoder takes images of shape {images}: "
                f"build the decoder with output_shape={images} (vae_tf.build_decoder does)."
            )
        inputs = getattr(decoder, "inputs", None)
        if inputs is not None and inputs[0].shape[-1] != outputs[0].shape[-1]:
            raise InputError(
                f"{kind}'s decoder takes codes of width {inputs[0].shape[-1]} but the encoder gives latent_dim="
                f"{outputs[0].shape[-1]}: build both with the same latent_dim."
            )
    last, activation = None, "linear"
    for last in reversed(getattr(decoder, "layers", [])):  # the last layer that computes, past reshapes
        if not isinstance(last, (keras.layers.Reshape, keras.layers.Flatten, keras.layers.Permute)):
            activation = getattr(getattr(last, "activation", None), "__name__", "linear")
            break
    if activation in _SQUASHING:
        raise InputError(
            f"{kind}'s decoder ends in a {activation!r} activation (layer {last.name!r}); it must output logits, "
            f"which the likelihood turns into pixel means: build its last layer with activation=None."
        )
