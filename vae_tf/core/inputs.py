"""What the models accept: images, codes and counts (labels: :mod:`vae_tf.core.arrays`), checked
in one place so that a wrong input fails with one line (:class:`InputError`) saying the fix.

**The pixel rule.** Images are pixel intensities in ``[0, 1]``: floats are taken as they are and
must lie in ``[0, 1]`` (no NaN/Inf); integers (``uint8`` files) are grey levels 0-255, divided by
255, except all-0/1 integers, kept as binary; booleans are binary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Tolerance for float pixels just outside [0, 1] (rounding in the user's own scaling).
PIXEL_TOLERANCE = 1e-6


class InputError(ValueError):
    """Input the package cannot use as given; the message says what was wrong and the fix."""


def as_unit_pixels(x, *, name: str = "x") -> np.ndarray:
    """``x`` as ``float32`` pixel intensities in ``[0, 1]`` following the pixel rule (module
    doc); same shape. Raises :class:`InputError` for non-numeric, non-finite or out-of-range
    values."""
    try:
        arr = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise InputError(f"{name} could not be read as an array of images ({e}).") from None
    if arr.dtype == bool:
        return arr.astype("float32")
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0:
            return arr.astype("float32")
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise InputError(
                f"{name} has integer pixel values in [{lo}, {hi}]; integer images must be 8-bit grey "
                "levels 0-255 (or binary 0/1)."
            )
        return arr.astype("float32") if hi <= 1 else arr.astype("float32") / np.float32(255.0)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{name} must be numeric images, got an array of dtype {arr.dtype}.")
    arr = arr.astype("float32", copy=False)
    if arr.size == 0:
        return arr
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or infinite pixel values.")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -PIXEL_TOLERANCE or hi > 1 + PIXEL_TOLERANCE:
        hint = (
            " They look like 0-255 grey levels: divide by 255 (vae_tf.scale_images does) or pass the uint8 array."
            if hi > 1.5 and lo >= 0
            else ""
        )
        raise InputError(f"{name} must hold pixel values in [0, 1], got values in [{lo:g}, {hi:g}].{hint}")
    return np.clip(arr, 0.0, 1.0) if (lo < 0 or hi > 1) else arr


def check_image_shape(
    shape: Sequence[int | None], image_shape: Sequence[int], *, name: str = "x", channel_optional: bool = False
) -> None:
    """Raise :class:`InputError` unless ``shape`` is ``(batch, *image_shape)`` (or, with
    ``channel_optional``, that without a trailing channel axis of size 1); for ``(batch, h, w)``
    where ``(h, w, 1)`` is expected the message says to add the channel axis."""
    shape, image_shape = tuple(shape), tuple(int(d) for d in image_shape)
    if shape[1:] == image_shape or (channel_optional and image_shape[-1] == 1 and shape[1:] == image_shape[:-1]):
        return
    fix = ""
    if image_shape[-1] == 1 and shape[1:] == image_shape[:-1]:
        fix = " Add the channel axis: x[..., None] (or use vae_tf.scale_images / vae_tf.make_dataset)."
    elif len(shape) == len(image_shape):
        fix = " Pass a batch of images, e.g. x[None] for a single image."
    shown = ", ".join("batch" if d is None else str(int(d)) for d in shape) + ("," if len(shape) == 1 else "")
    raise InputError(f"{name} must have shape (batch, {', '.join(map(str, image_shape))}), got ({shown}).{fix}")


def check_count(n, *, name: str = "n", minimum: int = 1) -> int:
    """``n`` (an integer, or a whole float) as a Python int ``>= minimum``; else :class:`InputError`."""
    whole = isinstance(n, (int, np.integer)) or (isinstance(n, float) and n.is_integer())
    if whole and not isinstance(n, bool) and n >= minimum:
        return int(n)
    raise InputError(f"{name} must be an integer >= {minimum}, got {n!r}.")


def as_model_input(x, image_shape: Sequence[int], *, pixels: bool = True, name: str = "x") -> np.ndarray:
    """``x`` as a model's ``float32`` input batch ``(n, *image_shape)``, ``n >= 1``: by the pixel
    rule (:func:`as_images`), or any finite reals when ``pixels`` is False. Images missing a
    trailing channel axis of size 1 (``(n, 28, 28)`` from :func:`vae_tf.load_mnist`) get it.
    Raises :class:`InputError`."""
    image_shape = tuple(int(d) for d in image_shape)
    arr = as_unit_pixels(x, name=name) if pixels else as_finite(x, name)
    if arr.ndim == len(image_shape) and image_shape[-1] == 1 and arr.shape[1:] == image_shape[:-1]:
        arr = arr[..., None]
    if arr.ndim == 0:
        raise InputError(f"{name} must be a batch of images, got a scalar.")
    check_image_shape(arr.shape, image_shape, name=name)
    if not len(arr):
        raise InputError(f"{name} is empty: expected at least one example.")
    return arr


def as_finite(x, name: str) -> np.ndarray:
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


def as_codes(z, width: int, name: str = "z") -> np.ndarray:
    """Latent codes ``(n, width)``, ``n >= 1``, as ``float32``; :class:`InputError` otherwise."""
    arr = as_finite(z, name)
    if arr.ndim != 2 or arr.shape[1] != width or not len(arr):
        raise InputError(f"{name} must have shape (n, {width}) with n >= 1, got {arr.shape}.")
    return arr


def in_batches(fn, x: np.ndarray, *more: np.ndarray, batch_size: int = 512) -> list[np.ndarray]:
    """``fn(x_batch, *more_batches)`` (a tuple of tensors) over batches of ``x`` and the equally long
    ``more``, each output concatenated as NumPy. Not ``Model.predict``: on a CPU (Keras 3.15) it costs
    about 230 ms per call on 10 images against 20 ms here. Raises :class:`InputError`."""
    from keras import ops

    batch_size = check_count(batch_size, name="batch_size")
    if len(x) == 0:
        raise InputError("expected at least one example, got an empty array.")
    tensors = lambda i: [ops.convert_to_tensor(a[i : i + batch_size]) for a in (x, *more)]  # noqa: E731
    parts = [fn(*tensors(i)) for i in range(0, len(x), batch_size)]
    return [np.concatenate([ops.convert_to_numpy(p[k]) for p in parts]) for k in range(len(parts[0]))]


def pixels_of(data, image_shape: Sequence[int]):
    """The images of ``data`` (what Keras passes to ``train_step``: images, or ``(images, labels[,
    weights])``) as float32 ``(batch, *image_shape)``, by the pixel rule: ``uint8`` divided by 255,
    other integers and booleans cast; a missing trailing channel axis of size 1 added."""
    import keras
    from keras import ops

    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    dtype = keras.backend.standardize_dtype(x.dtype)
    x = ops.cast(x, "float32") / 255.0 if dtype == "uint8" else ops.cast(x, "float32")
    image_shape = tuple(image_shape)
    if len(x.shape) == len(image_shape) and image_shape[-1] == 1:
        x = ops.expand_dims(x, -1)
    return x


def is_dataset(x) -> bool:
    import tensorflow as tf

    return isinstance(x, tf.data.Dataset)


class ChecksImageArrays:
    """``fit`` and ``evaluate`` that check their data before Keras sees it, so that a wrong array
    fails with the fix: NumPy or tensor images go through the model's ``as_model_input`` and
    their labels through its ``checked_labels`` (``validation_data`` too); a ``tf.data.Dataset``'s
    images must have the model's ``image_shape`` (or lack only its channel axis). Mixed in before
    ``keras.Model`` by every model of the package; raises :class:`InputError` naming the argument."""

    def fit(self, x=None, y=None, *args, **kwargs):
        x, y = self.checked_data(x, y)
        if is_dataset(x) and len(args) < 7:  # fit's 9th parameter: Keras ignores it for a dataset (which
            kwargs.setdefault("shuffle", False)  # shuffles itself, e.g. vae_tf.make_dataset) and warns if True
        if kwargs.get("validation_data") is not None:
            kwargs["validation_data"] = self.checked_validation(kwargs["validation_data"])
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x, y = self.checked_data(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def checked_data(self, x, y=None, *, name: str = "x"):
        """``(x, y)`` as ``fit``/``evaluate`` take them, checked as the class docstring says."""
        import tensorflow as tf

        if is_dataset(x):
            import keras

            spec, _, _ = keras.utils.unpack_x_y_sample_weight(x.element_spec)
            if isinstance(spec, tf.TensorSpec) and spec.shape.rank is not None:
                check_image_shape(tuple(spec.shape), self.image_shape, name=f"the images of {name}", channel_optional=True)
            return x, y
        if isinstance(x, (np.ndarray, tf.Tensor)):
            x = self.as_model_input(x, name=name)
            return x, self.checked_labels(y, len(x), name=name)
        return x, y

    def checked_validation(self, data):
        """``validation_data`` (images, ``(images,)``, ``(images, labels[, weights])`` or a dataset), checked."""
        if isinstance(data, tuple) and 1 <= len(data) <= 3:
            x, y = self.checked_data(data[0], data[1] if len(data) > 1 else None, name="validation_data")
            return (x,) if y is None and len(data) == 1 else (x, y, *data[2:])
        return self.checked_data(data, name="validation_data")[0]

    def checked_labels(self, y, n: int, name: str = "x"):
        """Labels for ``n`` images: passed on unchanged here; the digit-conditioned models check them."""
        return y
