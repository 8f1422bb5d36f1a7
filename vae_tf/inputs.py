"""What the package accepts as input, checked in one place.

Every entry point that takes images, labels, digits or counts (the models' ``fit``/``evaluate``
and ``encode``/``decode``/``reconstruct``/``sample``, :func:`vae_tf.make_dataset`, the
evaluators, the command line's loader) goes through these checks, so the same input means the
same thing everywhere and a wrong one fails with a message that says how to fix it.

**The pixel rule.** Images are pixel intensities in ``[0, 1]``:

* floating-point arrays are taken as they are and must lie in ``[0, 1]`` (no NaN/Inf);
  anything outside is an error (divide 0-255 grey levels by 255, or pass them as ``uint8``);
* integer arrays (``uint8`` files) are 8-bit grey levels 0-255 and are divided by 255, except
  an integer array whose values are all 0 or 1, which is already binary (binarized digits)
  and is kept as 0/1; integers outside 0-255 are an error;
* booleans are binary (0/1).

All raise :class:`InputError` (a ``ValueError``) with one line that says what was wrong.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

#: Tolerance for float pixels just outside [0, 1] (rounding in the user's own scaling).
PIXEL_TOLERANCE = 1e-6


class InputError(ValueError):
    """Input the package cannot use as given; the message says what was wrong and the fix."""


def pixel_kind(x: np.ndarray) -> str:
    """``"binary"`` (every value 0 or 1) or ``"grey"`` for images already in ``[0, 1]``."""
    x = np.asarray(x)
    return "binary" if x.size and bool(np.all((x == 0) | (x == 1))) else "grey"


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


def check_image_shape(shape: Sequence[int | None], image_shape: Sequence[int], *, name: str = "x") -> None:
    """Raise :class:`InputError` unless ``shape`` is ``(batch, *image_shape)``; for
    ``(batch, h, w)`` where ``(h, w, 1)`` is expected the message says to add the channel axis."""
    shape, image_shape = tuple(shape), tuple(int(d) for d in image_shape)
    if shape[1:] == image_shape:
        return
    fix = ""
    if image_shape[-1] == 1 and shape[1:] == image_shape[:-1]:
        fix = " Add the channel axis: x[..., None] (or use vae_tf.scale_images / vae_tf.make_dataset)."
    elif len(shape) == len(image_shape):
        fix = " Pass a batch of images, e.g. x[None] for a single image."
    shown = ", ".join("batch" if d is None else str(int(d)) for d in shape) + ("," if len(shape) == 1 else "")
    raise InputError(f"{name} must have shape (batch, {', '.join(map(str, image_shape))}), got ({shown}).{fix}")


def as_images(x, image_shape: Sequence[int] | None = None, *, name: str = "x", allow_empty: bool = False) -> np.ndarray:
    """``x`` as a ``float32`` batch of images in ``[0, 1]`` (the pixel rule), checked against
    ``image_shape`` when given. Raises :class:`InputError`."""
    arr = as_unit_pixels(x, name=name)
    if arr.ndim == 0:
        raise InputError(f"{name} must be a batch of images, got a scalar.")
    if image_shape is not None:
        check_image_shape(arr.shape, image_shape, name=name)
    if not allow_empty and len(arr) == 0:
        raise InputError(f"{name} is empty: expected at least one image.")
    return arr


def _is_integral(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_count(n, *, name: str = "n", minimum: int = 1) -> int:
    """``n`` as a Python int ``>= minimum``; :class:`InputError` for anything else (floats,
    strings, booleans, ``None``)."""
    if _is_integral(n) and int(n) >= minimum:
        return int(n)
    if isinstance(n, float) and n.is_integer() and n >= minimum:
        return int(n)
    raise InputError(f"{name} must be an integer >= {minimum}, got {n!r}.")


def as_class_indices(values, num_classes: int, *, n: int | None = None, name: str = "labels") -> np.ndarray:
    """``values`` (one integer, or ``n`` integers) as an ``int64`` array of shape ``(n,)`` with
    every value in ``[0, num_classes)``. Integral floats (``3.0``) are accepted; strings,
    ``None``, booleans, non-integral or out-of-range values raise :class:`InputError`."""
    if values is None or isinstance(values, (str, bytes)):
        raise InputError(f"{name} must be integers in [0, {num_classes}), got {values!r}.")
    arr = np.asarray(values)
    if arr.dtype == bool or arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{name} must be integers in [0, {num_classes}), got {values!r}.")
    if arr.size == 0:
        raise InputError(f"{name} is empty: expected integers in [0, {num_classes}).")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(np.mod(arr, 1) == 0):
            raise InputError(f"{name} must be whole numbers in [0, {num_classes}), got {_show(arr)}.")
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi >= num_classes:
        bad = arr[(arr < 0) | (arr >= num_classes)]
        raise InputError(
            f"{name} must be in [0, {num_classes}) (one class per digit), got {_show(np.unique(bad))}"
            + (" (labels 1..10 as in SVHN? subtract 1, and map 10 to 0)" if hi == num_classes and lo >= 1 else "")
            + "."
        )
    arr = arr.astype("int64").reshape(-1)
    if n is not None:
        if arr.size == 1:
            arr = np.full((n,), arr[0], dtype="int64")
        elif arr.size != n:
            raise InputError(f"{name} must be one integer or {n} integers, got {arr.size}.")
    return arr


def _show(arr: np.ndarray, most: int = 5) -> str:
    items = [f"{v:g}" if isinstance(v, float) else str(v) for v in arr.reshape(-1)[:most].tolist()]
    return "[" + ", ".join(items) + (", ...]" if arr.size > most else "]")


_CHECKED = "_vae_tf_checked"


def mark_checked(dataset):
    """Mark a ``tf.data.Dataset`` whose images and labels were already checked by these rules
    (:func:`vae_tf.make_dataset` does this), so the models need not take its first element to
    check it (which would start an iteration and move an epoch-seeded dataset on by one)."""
    setattr(dataset, _CHECKED, True)
    return dataset


def is_checked(dataset) -> bool:
    """True if :func:`mark_checked` marked ``dataset``."""
    return bool(getattr(dataset, _CHECKED, False))
