"""``vae-tf sample``: draw images from a trained model's prior and save them as an image grid in
the format ``--out``'s suffix names (:data:`IMAGE_FORMATS`), and, with ``--npy``, the raw pixel
means as a NumPy array ``(n, 28, 28, 1)`` float32."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ..tools.files import atomic_write
from .run import PROG, UsageError, say
from .trained import load_trained, writing_outputs


#: The suffixes ``--out`` may end with (any case) and the Matplotlib format each one writes.
IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".pdf": "pdf", ".svg": "svg"}


def image_format(path: str | Path) -> str:
    """The Matplotlib format that ``path``'s suffix names (``"png"``, ``"jpeg"``, ``"pdf"``,
    ``"svg"``). Raises :class:`UsageError` naming the allowed suffixes for any other."""
    suffix = Path(path).suffix
    if suffix.lower() not in IMAGE_FORMATS:
        what = f"unknown image suffix {suffix!r}" if suffix else "no image suffix"
        raise UsageError(f"--out {path}: {what}; end the file name with one of {', '.join(IMAGE_FORMATS)}.")
    return IMAGE_FORMATS[suffix.lower()]


def save_grid(fig, path: Path, dpi: int = 100) -> Path:
    """Save ``fig`` atomically in the format of ``path``'s suffix (:func:`image_format`), then close it."""
    import matplotlib.pyplot as plt

    fmt = image_format(path)
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"),
                            suffix=Path(path).suffix)
    finally:
        plt.close(fig)


@dataclasses.dataclass(frozen=True)
class SampleRequest:
    """The options of ``vae-tf sample`` (see its ``--help``)."""

    path: Path
    n: int
    out: Path
    digit: int | None = None
    seed: int | None = None
    npy: Path | None = None


def sample_command(request: SampleRequest) -> np.ndarray:
    """Run ``vae-tf sample``; return the images ``(n, 28, 28, 1)``. Raises
    :class:`vae_tf.app.run.UsageError` for a bad model, ``--n``, ``--digit`` or output path."""
    if request.n < 1:
        raise UsageError(f"--n must be an integer >= 1, got {request.n}.")
    image_format(request.out)
    for target in (request.out, request.npy):
        if target is not None and not Path(target).parent.is_dir():
            raise UsageError(f"the folder of {target} does not exist; create it first.")
    trained = load_trained(request.path)
    model = trained.model
    import matplotlib  # only now: bad input is answered without loading the plotting stack

    matplotlib.use("Agg")
    from ..tools.plotting import plot_image_grid

    digits = check_digit(model, request.digit)
    images = model.sample(request.n, digits=None if digits is None else np.full(request.n, digits), seed=request.seed)
    cols = math.ceil(math.sqrt(request.n))
    rows = math.ceil(request.n / cols)
    what = f"digit {digits}" if digits is not None else ("digits drawn uniformly" if model.conditions_on_digits else "prior")
    fig = plot_image_grid(_padded(images, rows * cols), rows, cols, title=f"{request.n} samples ({what})")
    with writing_outputs():
        written = [save_grid(fig, request.out)]
        if request.npy is not None:
            written.append(atomic_write(request.npy, lambda tmp: np.save(tmp, images), suffix=".npy"))
    seeded = "unseeded" if request.seed is None else f"seed {request.seed}"
    say(f"{PROG}: wrote {request.n} samples ({what}, {seeded}) to " + " and ".join(map(str, written)))
    note = quick_run_note(trained.run)
    if note:
        say(note)
    return images


def quick_run_note(run: dict) -> str | None:
    """A line for samples of a ``--quick`` run (a few epochs on a data subset): they are rough, and
    what to do for clean digits; None for other runs and bare model files."""
    config = run.get("config", {}) if run else {}
    if not config.get("quick"):
        return None
    return (f"{PROG}: note: this is a --quick run ({config.get('epochs')} epochs on {config.get('train_size') or 'a subset of'} "
            "training images), so its samples are rough (a conditional quick run's digits are grey blobs); train without "
            "--quick, or with more --epochs, for clean digits.")


def check_digit(model, digit: int | None) -> int | None:
    """``digit`` if the model can take it: None for any model, 0..num_classes-1 for a
    digit-conditioned one. Raises :class:`UsageError` otherwise."""
    if digit is None:
        return None
    if not model.conditions_on_digits:
        raise UsageError(f"--digit {digit}: this {type(model).__name__} is not digit-conditioned; drop --digit "
                         "(train with --conditional for a model that takes one).")
    if not 0 <= digit < model.num_classes:
        raise UsageError(f"--digit must be in 0..{model.num_classes - 1}, got {digit}.")
    return digit


def _padded(images: np.ndarray, size: int) -> np.ndarray:
    """``images`` with blank images appended up to ``size`` (to fill the grid's last row)."""
    blank = np.zeros((size - len(images), *images.shape[1:]), images.dtype)
    return np.concatenate([images, blank])
