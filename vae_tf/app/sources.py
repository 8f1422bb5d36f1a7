"""Where the images of ``vae-tf train`` and ``vae-tf evaluate`` come from, and whether a model fits them.

One of three sources (:class:`DataOptions`): ``--data FILE.npz`` (a Keras-format ``.npz`` of any image
shape, labels optional; without any option the MNIST search order of :func:`vae_tf.load_mnist`),
``--dataset mnist|fashion_mnist|cifar10`` (``keras.datasets``) or ``--images DIR`` (a folder of
image files, resized to ``--image-size``, ``--channels`` 1 or 3, and split into training and test
images: ``--test-fraction`` of them, drawn with the fixed seed :data:`SPLIT_SEED`, so every run on
a folder tests on the same images). :func:`load_source` returns the arrays and the record a run keeps
in ``state.json`` and ``metrics.json`` (``kind``, ``image_shape``, ``labels``, the checksum, and for a
folder how it was read), from which ``--resume`` and ``evaluate`` read the same data again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..tools.data import (
    KERAS_DATASETS, MNISTError, data_checksum, find_mnist, image_shape_of, load_image_folder, load_images_npz,
    load_keras_dataset,
)
from .run import UsageError

#: The share of a folder's images kept for testing when ``--test-fraction`` is not given.
TEST_FRACTION = 0.2
#: The seed of a folder's train/test split: fixed, so runs with any ``--seed`` share their test images.
SPLIT_SEED = 0
#: The images the digit judge reads (:mod:`vae_tf.tools.judge`).
JUDGE_SHAPE = (28, 28, 1)


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """The data options of ``train`` and ``evaluate``: at most one of ``data``, ``dataset``,
    ``images``; ``image_size`` ``(height, width)``, ``channels`` and ``test_fraction`` for ``images``."""

    data: str | None = None
    dataset: str | None = None
    images: str | None = None
    image_size: tuple[int, int] | None = None
    channels: int | None = None
    test_fraction: float | None = None

    def check(self) -> DataOptions:
        """``self`` if the options go together; else :class:`UsageError` naming the option to drop."""
        given = [f"--{k}" for k in ("data", "dataset", "images") if getattr(self, k) is not None]
        if len(given) > 1:
            raise UsageError(f"{' and '.join(given)} name two data sources; give only one.")
        folder_only = [f"--{k.replace('_', '-')}" for k in ("image_size", "channels", "test_fraction")
                       if getattr(self, k) is not None]
        if folder_only and self.images is None and (self.data or self.dataset):
            raise UsageError(f"{', '.join(folder_only)} apply to a folder of images (--images DIR); drop them.")
        return self


def resolved(options: DataOptions, saved: dict | None) -> DataOptions:
    """``options``, or where they name no source, the source recorded in ``saved`` (a run's
    ``data`` record; older runs record only an npz ``path``): a resumed or evaluated run reads
    its own data. A folder's reading options not given are the recorded ones."""
    options, saved = options.check(), saved or {}
    if options.data or options.dataset:
        return options
    if options.images is None and saved.get("kind") == "keras":
        return dataclasses.replace(options, dataset=saved["dataset"])
    if options.images is None and saved.get("kind") == "images" and saved.get("path"):
        options = dataclasses.replace(options, images=saved["path"])
    if options.images is not None:
        same = saved.get("kind") == "images" and Path(options.images).expanduser().resolve() == Path(saved["path"])
        defaults = saved if same else {}
        size = defaults.get("image_size")
        return dataclasses.replace(
            options, image_size=options.image_size or (tuple(size) if size else None),
            channels=options.channels or defaults.get("channels"),
            test_fraction=options.test_fraction or defaults.get("test_fraction") or TEST_FRACTION)
    if (options.channels or options.image_size or options.test_fraction) and not saved.get("kind") == "images":
        raise UsageError("--image-size, --channels and --test-fraction apply to a folder of images: add --images DIR.")
    path = saved.get("path")
    return dataclasses.replace(options, data=path) if path and Path(path).is_file() else options


def load_source(options: DataOptions, saved: dict | None = None) -> tuple[tuple, dict]:
    """The images of ``options`` (:func:`resolved` against ``saved``): ``(arrays, info)`` with
    ``arrays`` as :func:`vae_tf.tools.data.validate_images` returns them (labels ``None`` when the
    data have none) and ``info`` the run's data record. Raises :class:`UsageError`."""
    options = resolved(options, saved)
    try:
        if options.dataset == "mnist":  # the search order: the local copy first, recorded as the file it is
            arrays, info = _load_file(None)
        elif options.dataset is not None:
            arrays, info = load_keras_dataset(options.dataset), {"kind": "keras", "dataset": options.dataset,
                                                                 "path": None, "source": f"keras.datasets.{options.dataset}"}
        elif options.images is not None:
            folder = Path(options.images).expanduser()
            arrays, details = load_image_folder(folder, image_size=options.image_size, channels=options.channels,
                                                test_fraction=options.test_fraction or TEST_FRACTION, seed=SPLIT_SEED)
            info = {"kind": "images", "path": str(folder.resolve()), "source": str(options.images), **details}
        else:
            arrays, info = _load_file(options.data)
    except MNISTError as e:  # ImageDataError is one
        raise UsageError(str(e)) from None
    return arrays, {**info, **describe(arrays)}


def _load_file(data: str | None) -> tuple[tuple, dict]:
    """An npz named by ``--data`` (a folder given there holds ``mnist.npz``), else the MNIST search
    order; MNIST from ``keras.datasets`` when no local copy exists."""
    source = find_mnist(data)
    if source is None:
        return load_keras_dataset("mnist"), {"kind": "keras", "dataset": "mnist", "path": None,
                                             "source": "keras.datasets.mnist"}
    return load_images_npz(source), {"kind": "file", "path": str(source.resolve()), "source": str(source)}


def describe(arrays) -> dict:
    """The record of loaded arrays: counts, checksum (of the arrays that exist, as before labels
    became optional), ``image_shape`` ``[h, w, c]``, ``file_shape`` (one image as stored), labels."""
    (x_train, y_train), (x_test, y_test) = arrays
    labelled = y_train is not None
    present = [a for a in (x_train, y_train, x_test, y_test) if a is not None]
    return {
        "n_train_file": int(len(x_train)),
        "n_test_file": int(len(x_test)),
        "sha256": data_checksum(*present),
        "image_shape": list(image_shape_of(x_train)),
        "file_shape": list(x_train.shape[1:]),
        "labels": labelled,
        "num_classes": int(max(y_train.max(), y_test.max())) + 1 if labelled else None,
    }


def shape_text(shape) -> str:
    """``[32, 32, 3]`` -> ``"32x32x3"``."""
    return "x".join(str(int(s)) for s in shape)


def check_model_fits(arch: str, conditional: bool, info: dict) -> None:
    """Raise :class:`UsageError` (naming the option that fixes it) when a model of ``arch`` (and
    ``conditional``) cannot take the images of ``info``: conv needs a height and width divisible
    by 4 (two stride-2 layers); ``--conditional`` needs labels 0-9."""
    shape = info.get("image_shape") or list(JUDGE_SHAPE)
    if conditional and not info.get("labels", True):
        raise UsageError(f"--conditional needs labelled images (y_train and y_test in the .npz, or one sub-folder per "
                         f"class with --images); {info['source']} has none: drop --conditional.")
    if conditional and (info.get("num_classes") or 10) > 10:
        raise UsageError(f"--conditional takes labels 0-9 (up to 10 classes); {info['source']} has "
                         f"{info['num_classes']} classes: drop --conditional.")
    if arch == "conv" and (shape[0] % 4 or shape[1] % 4):
        fix = "--arch mlp"
        if info.get("kind") == "images":
            fix += f", or --image-size {_multiple(shape[0])} {_multiple(shape[1])}"
        raise UsageError(f"--arch conv halves the height and width twice (two stride-2 layers), so both must be "
                         f"divisible by 4, but these images are {shape_text(shape)}: use {fix}.")


def _multiple(n: int, of: int = 4) -> int:
    return max(of, int(round(n / of)) * of)


def judge_skip_reason(info: dict) -> str | None:
    """Why the digit judge cannot score these data (one line), or None when it applies: it reads
    28x28 grey images and trains on an MNIST-layout file's labelled digits (0-9)."""
    shape = info.get("image_shape") or list(JUDGE_SHAPE)
    if tuple(shape) != JUDGE_SHAPE:
        return f"the judge reads 28x28 grey digits; these images are {shape_text(shape)}"
    if not info.get("labels", True) or (info.get("num_classes") or 10) > 10:
        return "the judge is trained on the data's digit labels 0-9; these images have none"
    if info.get("kind") == "images" or (info.get("kind") == "keras" and info.get("dataset") != "mnist"):
        return (f"the judge is trained on an MNIST-layout .npz; these images come from {info['source']} "
                "(save them as an .npz and pass --data)")
    if list(info.get("file_shape") or [28, 28]) != [28, 28]:
        return "the judge reads an MNIST-layout .npz, images (n, 28, 28); this file stores (n, 28, 28, 1)"
    return None


def data_arg(info: dict) -> str | None:
    """The ``load_mnist``/``load_judge`` path of an MNIST-layout record (None: the search order)."""
    return info.get("path") if info.get("kind", "file") == "file" else None


def same_data_check(info: dict, saved: dict) -> None:
    """A resume must see the checkpointed run's data: same counts and checksum (older
    checkpoints without a checksum: counts only). Raises :class:`UsageError`."""
    old = (saved.get("sha256"), saved.get("n_train_file"), saved.get("n_test_file"))
    new = (info["sha256"] if old[0] else None, info["n_train_file"], info["n_test_file"])
    if old != new:
        raise UsageError(
            f"--resume: the data ({info['source']}: {info['n_train_file']} train / {info['n_test_file']} test images, "
            f"sha256 {info['sha256'][:12]}) differ from the checkpointed run's ({old[1]} / {old[2]}, "
            f"sha256 {str(old[0])[:12]}); drop the data options (the run reads its own), or pass the checkpointed "
            "run's --data, --dataset or --images.")


def labels_or_none(y: np.ndarray | None) -> np.ndarray | None:
    """Labels for the figures: ``y`` when they are digits 0-9 (coloured as such), else None."""
    return y if y is not None and len(y) and int(np.max(y)) < 10 else None


__all__ = ["KERAS_DATASETS", "DataOptions", "load_source", "check_model_fits", "judge_skip_reason"]
