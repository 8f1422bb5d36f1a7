"""Checks of the arrays the family and the tools take beyond the VAE's own images and codes:
class labels and digits (:func:`as_class_indices`), batches of images of a given shape
(:func:`as_images`), and whether pixels are binary (:func:`pixel_kind`). Each raises
:class:`~vae_tf.core.inputs.InputError` with one line that says what was wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .inputs import InputError, as_unit_pixels, check_image_shape


def pixel_kind(x: np.ndarray) -> str:
    """``"binary"`` (every value 0 or 1) or ``"grey"`` for images already in ``[0, 1]``."""
    x = np.asarray(x)
    return "binary" if x.size and bool(np.all((x == 0) | (x == 1))) else "grey"


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
