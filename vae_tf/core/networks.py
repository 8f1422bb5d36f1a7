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


#: A VAE's code (:func:`check_networks`): the encoder outputs z_mean and z_log_var of one width, the decoder takes it.
GAUSSIAN_CODE = ({"z_mean": ("latent_dim",), "z_log_var": ("latent_dim",)}, ("latent_dim",))


def check_networks(model, code=GAUSSIAN_CODE, *, build: str = "vae_tf.build_encoder", logits: bool = True) -> dict:
    """Raise :class:`vae_tf.InputError` naming the network, the shape and the fix unless
    ``model.encoder``'s first outputs have the shapes ``code[0]`` (``{name: shape}``, batch axis
    left out, a named size the same wherever it appears), ``model.decoder`` takes codes of shape
    ``code[1]`` (names, or a function of the sizes) and outputs the encoder's images, as logits
    (no squashing activation) if ``logits``. ``build`` names a fitting encoder's builder. Returns
    the sizes by name; subclassed networks (no symbolic shapes) are not checked: ``{}``."""
    kind, encoder, decoder, sizes = type(model).__name__, model.encoder, model.decoder, {}
    if all(hasattr(net, "outputs") and hasattr(net, "inputs") for net in (encoder, decoder)):
        got = [tuple(o.shape[1:]) for o in encoder.outputs]
        ranks_fit = len(got) >= len(code[0]) and all(len(w) == len(g) for w, g in zip(code[0].values(), got))
        named = [(name, size) for want, shape in zip(code[0].values(), got) for name, size in zip(want, shape)]
        if not ranks_fit or any(sizes.setdefault(name, size) != size for name, size in named):
            wanted = ", ".join(str(shape).replace("'", "") for shape in code[0].values())
            raise InputError(
                f"{kind}'s encoder must output [{', '.join(code[0])}, ...] of shapes {wanted}, got {len(got)} "
                f"output(s) of shapes {got}: build it with {build}."
            )
        images, produced = tuple(encoder.inputs[0].shape[1:]), tuple(decoder.outputs[0].shape[1:])
        if None not in images + produced and images != produced:
            raise InputError(
                f"{kind}'s decoder outputs shape {produced} but the encoder takes images of shape {images}: "
                f"build the decoder with output_shape={images} (vae_tf.build_decoder does)."
            )
        takes = tuple(decoder.inputs[0].shape[1:])
        wanted = code[1](**sizes) if callable(code[1]) else tuple(sizes[n] for n in code[1])
        if takes != wanted:
            describe = lambda shape: f"width {shape[0]}" if len(shape) == 1 else f"shape {shape}"  # noqa: E731
            raise InputError(
                f"{kind}'s decoder takes codes of {describe(takes)} but the encoder gives "
                f"{', '.join(f'{n}={d}' for n, d in sizes.items())} (codes of {describe(wanted)}): "
                f"build both with the same {', '.join(sizes)}."
            )
    last, activation = None, "linear"
    for last in reversed(getattr(decoder, "layers", []) if logits else []):  # the last layer that computes
        if not isinstance(last, (keras.layers.Reshape, keras.layers.Flatten, keras.layers.Permute)):
            activation = getattr(getattr(last, "activation", None), "__name__", "linear")
            break
    if activation in _SQUASHING:
        raise InputError(
            f"{kind}'s decoder ends in a {activation!r} activation (layer {last.name!r}); it must output logits, "
            f"which the likelihood turns into pixel means: build its last layer with activation=None."
        )
    return sizes
