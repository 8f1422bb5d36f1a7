"""``vae-tf encode`` and ``vae-tf reconstruct``: the latent codes, or the reconstructions, of a
user's images under a trained model.

``encode RUN --images PATH --out FILE``: the Gaussian posterior ``q(z|x) = N(z_mean, exp(z_log_var))``
of each image (the model's ``encode``). ``.npy``: a ``float32`` array ``(n, 2, latent_dim)``,
``[:, 0]`` the means and ``[:, 1]`` the log-variances; ``.csv``: one row per image, header
``z_mean_0, ..., z_log_var_0, ...`` (float32 values written with 9 significant digits, which read
back exactly).

``reconstruct RUN --images PATH --out FILE``: the pixel means ``E[x | z = z_mean]`` of each image:
``.npy`` a ``float32`` array ``(n, h, w, c)`` in ``[0, 1]``; an image suffix (:data:`IMAGE_FORMATS`)
a grid of the first :data:`GRID_IMAGES` images, each row of originals above its reconstructions.

``--images`` is an ``.npz`` (its ``x_test``, or ``--key``), an ``.npy``, or a folder of image files
(read at the model's size and channels): :func:`vae_tf.tools.data.read_images`. The pixels are used
as given (the run's ``--binarization`` is not applied). A digit-conditioned model encodes as its
``encode`` does (z does not depend on the digit) and reconstructs with the digit its classifier predicts.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ..tools.files import atomic_write, atomic_write_text
from .run import PROG, UsageError, say
from .sampling_cmd import IMAGE_FORMATS, save_grid
from .trained import load_trained, writing_outputs

CODE_FORMATS = (".npy", ".csv")
RECON_FORMATS = (".npy", *IMAGE_FORMATS)
#: Images a reconstruction grid shows (the ``.npy`` holds them all).
GRID_IMAGES = 100
GRID_COLUMNS = 10


@dataclasses.dataclass(frozen=True)
class EncodeRequest:
    """The options of ``vae-tf encode`` and ``vae-tf reconstruct`` (``command`` names which)."""

    command: str
    path: Path
    images: Path
    out: Path
    key: str | None = None


def encode_command(request: EncodeRequest) -> np.ndarray:
    """Run ``encode`` or ``reconstruct``; return what was written (codes ``(n, 2, d)`` or pixel means
    ``(n, h, w, c)``). Raises :class:`vae_tf.app.run.UsageError` for bad input (exit 2) and
    :class:`vae_tf.app.run.WriteFailedError` when ``--out`` cannot be written (exit 4)."""
    formats = CODE_FORMATS if request.command == "encode" else RECON_FORMATS
    suffix = request.out.suffix.lower()
    if suffix not in formats:
        raise UsageError(f"--out {request.out}: {'unknown suffix ' + repr(request.out.suffix) if suffix else 'no suffix'}; "
                         f"end the file name with one of {', '.join(formats)}.")
    if not request.out.parent.is_dir():
        raise UsageError(f"the folder of {request.out} does not exist; create it first.")
    trained = load_trained(request.path)
    model = trained.model
    x = _images(model, request)
    from ..core.inputs import InputError

    try:
        result = _codes(model)(x) if request.command == "encode" else np.asarray(model.reconstruct(x), dtype="float32")
    except InputError as e:  # e.g. a model that needs digits
        raise UsageError(f"this {type(model).__name__} cannot {request.command} these images alone: {e}") from None
    if request.command == "encode":
        with writing_outputs():
            _write_codes(result, request.out)
        say(f"{PROG}: wrote the latent means and log-variances of {len(x):,} images (latent_dim {result.shape[2]}) "
            f"to {request.out}")
        return result
    with writing_outputs():
        if suffix == ".npy":
            atomic_write(request.out, lambda tmp: np.save(tmp, result), suffix=".npy")
        else:
            save_grid(_recon_figure(x, result), request.out)
    shown = "" if suffix == ".npy" or len(x) <= GRID_IMAGES else f" (the grid shows the first {GRID_IMAGES})"
    say(f"{PROG}: wrote the reconstructions of {len(x):,} images to {request.out}{shown}")
    return result


def _images(model, request: EncodeRequest) -> np.ndarray:
    """``--images`` read for ``model``'s image shape (:func:`vae_tf.tools.data.read_images`)."""
    from ..tools.data import MNISTError, read_images

    try:
        return read_images(request.images, tuple(model.image_shape), key=request.key)
    except MNISTError as e:  # ImageDataError is one
        raise UsageError(str(e)) from None


def _codes(model):
    """A function from images to ``(n, 2, latent_dim)`` codes for a Gaussian VAE; :class:`UsageError`
    for a model without a Gaussian posterior (the discrete models and plain autoencoders)."""
    if not hasattr(model, "latent_dim") or not hasattr(model, "posterior"):
        raise UsageError(f"this {type(model).__name__} has no Gaussian posterior (z_mean, z_log_var) for encode to "
                         "write; use its encode method in Python (vae_tf's models document theirs).")
    return lambda x: np.stack([np.asarray(a, dtype="float32") for a in model.encode(x)], axis=1)


def _write_codes(codes: np.ndarray, out: Path) -> Path:
    """``codes`` ``(n, 2, d)`` as an ``.npy``, or as a ``.csv`` with a header row."""
    if out.suffix.lower() == ".npy":
        return atomic_write(out, lambda tmp: np.save(tmp, codes), suffix=".npy")
    d = codes.shape[2]
    header = ",".join([f"z_mean_{i}" for i in range(d)] + [f"z_log_var_{i}" for i in range(d)])
    rows = codes.reshape(len(codes), 2 * d)
    text = header + "\n" + "".join(",".join(f"{v:.9g}" for v in row) + "\n" for row in rows)
    return atomic_write_text(out, text)


def _recon_figure(x: np.ndarray, recon: np.ndarray):
    """The first :data:`GRID_IMAGES` images in rows of :data:`GRID_COLUMNS`, each row of originals
    above the row of their reconstructions."""
    import matplotlib

    matplotlib.use("Agg")
    from ..tools.plotting import plot_image_grid

    n = min(len(x), GRID_IMAGES)
    cols = min(n, GRID_COLUMNS)
    rows = math.ceil(n / cols)
    blank = np.zeros((rows * cols - n, *x.shape[1:]), "float32")
    originals, recons = (np.concatenate([a[:n], blank]).reshape(rows, cols, *x.shape[1:]) for a in (x, recon))
    pairs = np.stack([originals, recons], axis=1).reshape(2 * rows * cols, *x.shape[1:])
    return plot_image_grid(pairs, 2 * rows, cols, title=f"{n} images (odd rows) and their reconstructions (even rows)")
