"""MNIST loading (offline first), preprocessing and ``tf.data`` input pipelines.

Where :func:`load_mnist` looks, in order:

1. the ``path`` argument;
2. the environment variable ``VAE_TF_MNIST`` (a path to a ``mnist.npz``);
3. ``data/mnist.npz`` in the current directory, then in the project checkout that holds this
   package (so notebooks run from ``notebooks/`` find it too; only when the package sits in a
   checkout, :func:`checkout_root`, not after a regular install into ``site-packages``);
4. ``keras.datasets.mnist.load_data()``: Keras's cache ``~/.keras/datasets/mnist.npz``, or a
   download (what users with internet get).

A file must be in Keras's ``mnist.npz`` layout: ``x_train``/``x_test`` of shape ``(n, 28, 28)``
with integer pixel values 0-255, ``y_train``/``y_test`` of shape ``(n,)`` with labels 0-9. Any
number of examples is accepted (the offline copy has 24,345 training images, not 60,000).

The course trains on :func:`load_course_mnist`: the first 24,345 images of MNIST's training
file, the same images whether the file holds all 60,000 (``keras.datasets.mnist``, Colab) or
only that prefix (the offline copy), so every reader reproduces the stored numbers.

Other images (the command line's ``--data``, ``--dataset`` and ``--images``): :func:`load_images_npz`
(a Keras-format ``.npz`` of any image shape, labels optional), :func:`load_keras_dataset`
(``keras.datasets`` by name) and :func:`load_image_folder` (a folder of image files, split into
training and test images by a seed); :func:`read_images` reads the images a trained model encodes.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from ..core.arrays import as_class_indices, as_images
from ..core.inputs import InputError, as_unit_pixels, check_count

#: The binarization schemes of MNIST, one name each (as in the literature):
#: ``"threshold"`` pixel > 0.5 becomes 1 (deterministic); ``"static"`` each pixel 1 with
#: probability its grey level, drawn ONCE and kept (Larochelle & Murray's static MNIST);
#: ``"dynamic"`` such a draw made afresh every epoch (training only; Burda et al. 2016).
BINARIZATIONS = ("threshold", "static", "dynamic")
ENV_VAR = "VAE_TF_MNIST"
KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout, if the package sits in one
PROJECT_NAME = "vae-tf"

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
#: The course training set: the first this many images (and labels) of MNIST's training file.
COURSE_TRAIN_SIZE = 24_345
#: :func:`data_checksum` of the course training set (official MNIST's first 24,345 images).
COURSE_TRAIN_SHA256 = "a52ebba036c246f4e45ac727c384b74c1e6f7fa334cd31864f81c6b4f8cc88be"


class MNISTError(ValueError):
    """MNIST could not be loaded; the message says what was wrong and how to fix it."""


def checkout_root() -> Path | None:
    """The project checkout that holds this package (:data:`PROJECT_ROOT`, the folder above
    ``vae_tf/``) when it is one: its ``pyproject.toml`` names the project ``vae-tf``. ``None``
    after a regular install (the folder above is ``site-packages``)."""
    try:
        text = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    named = re.search(rf"""^name\s*=\s*["']{re.escape(PROJECT_NAME)}["']\s*(#.*)?$""", text, re.M)
    return PROJECT_ROOT if named else None


def _local_candidates() -> list[Path]:
    seen, out = set(), []
    checkout = checkout_root()
    folders = [Path.cwd()] + ([checkout] if checkout is not None else [])
    for p in (folder / "data" / "mnist.npz" for folder in folders):
        key = p.resolve() if p.exists() else p
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


_HOW_TO_FIX = (
    "Put a Keras-format mnist.npz at data/mnist.npz in the project, or pass its path "
    f"(load_mnist(path=...), the CLI's --data PATH), or set {ENV_VAR}=/path/to/mnist.npz."
)


def find_mnist(path: str | os.PathLike | None = None) -> Path | None:
    """The local ``mnist.npz`` that :func:`load_mnist` would read, or ``None`` (then Keras's
    loader is used). Raises :class:`MNISTError` if ``path`` or ``$VAE_TF_MNIST`` names a
    file that does not exist."""
    for given, origin in ((path, "path"), (os.environ.get(ENV_VAR) or None, f"${ENV_VAR}")):
        if given is None:
            continue
        p = Path(given).expanduser()
        if p.is_dir():
            p = p / "mnist.npz"
        if not p.is_file():
            raise MNISTError(f"MNIST file not found: {str(given)!r} (from {origin}). {_HOW_TO_FIX}")
        return p
    return next((p for p in _local_candidates() if p.is_file()), None)


def describe_mnist_source(path: str | os.PathLike | None = None) -> str:
    """Where :func:`load_mnist` reads from, for printing without machine paths: a file in
    this project as a path relative to it (``data/mnist.npz``), any other file by its name
    alone, or ``"keras.datasets.mnist (download)"``. Raises :class:`MNISTError` like
    :func:`find_mnist`."""
    found = find_mnist(path)
    if found is None:
        return "keras.datasets.mnist (download)"
    absolute = Path(os.path.abspath(found))  # the link's own place: data/mnist.npz may be a symlink
    checkout = checkout_root()
    if checkout is not None and absolute.is_relative_to(checkout):
        return absolute.relative_to(checkout).as_posix()
    return absolute.name


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not os.access(path, os.R_OK):
        raise MNISTError(f"MNIST file {str(path)!r} is not readable (check its permissions).")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in KEYS if k not in f.files]
            if missing:
                raise MNISTError(
                    f"MNIST file {str(path)!r} lacks the arrays {missing} (it has {sorted(f.files)}); "
                    "expected Keras's mnist.npz layout with x_train, y_train, x_test, y_test."
                )
            return {k: f[k] for k in KEYS}
    except MNISTError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise MNISTError(
            f"MNIST file {str(path)!r} is corrupt, truncated or not an .npz archive ({type(e).__name__}: {e}). "
            "Replace it with a fresh copy of Keras's mnist.npz."
        ) from None


def validate_mnist(arrays: dict[str, np.ndarray], source: str = "MNIST") -> Arrays:
    """Check Keras-layout MNIST arrays and return ``((x_train, y_train), (x_test, y_test))``
    with ``uint8`` images and ``uint8`` labels. Raises :class:`MNISTError` naming the problem:
    a wrong shape, a non-integer dtype, pixel values outside 0-255, labels outside 0-9, or
    image and label counts that differ."""
    out = {}
    for split in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"])
        if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
            raise MNISTError(f"{source}: x_{split} has shape {x.shape}, expected (n, 28, 28).")
        if y.ndim != 1:
            raise MNISTError(f"{source}: y_{split} has shape {y.shape}, expected (n,).")
        if len(x) != len(y):
            raise MNISTError(f"{source}: x_{split} has {len(x)} images but y_{split} has {len(y)} labels.")
        if len(x) == 0:
            raise MNISTError(f"{source}: x_{split} is empty.")
        if not np.issubdtype(x.dtype, np.integer):
            raise MNISTError(
                f"{source}: x_{split} has dtype {x.dtype}, expected integer pixel values 0-255 (uint8) "
                "as in Keras's mnist.npz; if your images are scaled to [0, 1], save (x * 255).astype('uint8')."
            )
        if x.min() < 0 or x.max() > 255:
            raise MNISTError(
                f"{source}: x_{split} pixel values are out of range [{x.min()}, {x.max()}]; expected 0-255."
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise MNISTError(f"{source}: y_{split} has dtype {y.dtype}, expected integer labels 0-9.")
        if y.min() < 0 or y.max() >= NUM_CLASSES:
            raise MNISTError(f"{source}: y_{split} has labels outside 0-9 (range [{y.min()}, {y.max()}]).")
        out[split] = (x.astype("uint8", copy=False), y.astype("uint8", copy=False))
    return out["train"], out["test"]


def load_mnist(path: str | os.PathLike | None = None) -> Arrays:
    """Load MNIST like ``keras.datasets.mnist.load_data()``: ``((x_train, y_train), (x_test, y_test))``.

    Images are ``uint8`` of shape ``(n, 28, 28)``, labels ``uint8`` of shape ``(n,)``. The
    search order is in this module's docstring. Raises :class:`MNISTError` with what to do
    for a missing, unreadable, corrupt or wrongly formatted file, and when no local copy
    exists and the download fails (offline).
    """
    local = find_mnist(path)
    if local is not None:
        return validate_mnist(_read_npz(local), source=f"MNIST file {str(local)!r}")
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as e:  # offline: the download raises from deep inside urllib
        looked = ", ".join(str(p) for p in _local_candidates())
        raise MNISTError(
            f"MNIST is not available: no local copy (looked at {looked} and ${ENV_VAR}) and the download "
            f"by keras.datasets.mnist.load_data() failed ({type(e).__name__}: {e}). "
            f"On an offline machine: {_HOW_TO_FIX}"
        ) from None
    return validate_mnist(
        {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, source="Keras MNIST"
    )


def data_checksum(*arrays: np.ndarray) -> str:
    """SHA-256 (hex) of ``arrays`` in order: each one's shape, dtype and bytes. The package's one
    data checksum: ``data_checksum(x, y)`` identifies a split (the judge's records,
    :data:`COURSE_TRAIN_SHA256`), ``data_checksum(x_train, y_train, x_test, y_test)`` a whole
    MNIST file's arrays (``vae-tf train`` and ``evaluate``). Raises ``TypeError`` with no arrays."""
    if not arrays:
        raise TypeError("data_checksum() needs at least one array, e.g. data_checksum(x, y).")
    h = hashlib.sha256()
    for a in map(np.ascontiguousarray, arrays):
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def load_course_mnist(path: str | os.PathLike | None = None, *, all_training_images: bool = False) -> Arrays:
    """MNIST as the course trains on it: ``((x_train, y_train), (x_test, y_test))`` as
    :func:`load_mnist` returns them, with the training split cut to its first
    :data:`COURSE_TRAIN_SIZE` (24,345) images, the same images in Keras's 60,000-image file and
    in the offline copy; the test set whole (10,000). ``all_training_images=True`` keeps every
    training image the file has (on Colab 60,000: the notebooks' numbers then differ from their
    prose).

    Raises :class:`MNISTError` as :func:`load_mnist` does, and when the file has fewer than
    24,345 training images (unless ``all_training_images``).
    """
    (x, y), test = load_mnist(path)
    if all_training_images:
        return (x, y), test
    if len(x) < COURSE_TRAIN_SIZE:
        raise MNISTError(
            f"The course trains on the first {COURSE_TRAIN_SIZE:,} images of MNIST's training file, but this one "
            f"has {len(x):,}. Use Keras's mnist.npz (or the offline copy), or pass all_training_images=True "
            f"to train on the {len(x):,} it has."
        )
    return (x[:COURSE_TRAIN_SIZE], y[:COURSE_TRAIN_SIZE]), test


def is_course_training_set(x: np.ndarray, y: np.ndarray) -> bool:
    """True when ``(x, y)`` are exactly the course training set (:data:`COURSE_TRAIN_SHA256`):
    the images the stored notebook runs trained on."""
    return data_checksum(np.asarray(x), np.asarray(y)) == COURSE_TRAIN_SHA256


# --------------------------------------------------------------------------- any image data
#: Datasets ``vae-tf train --dataset`` loads by name through ``keras.datasets.<name>.load_data()``.
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")
#: The image files a folder may hold (what ``keras.utils.image_dataset_from_directory`` reads).
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
#: Channels an image set may have: grey (1) or RGB colour (3).
CHANNELS = (1, 3)
#: Image modes of ``keras.utils.load_img`` (PIL) that are grey; any other mode is colour.
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


class ImageDataError(MNISTError):
    """Images could not be loaded or have a shape the models cannot take; the message names the fix."""


def image_shape_of(x: np.ndarray) -> tuple[int, int, int]:
    """The ``(height, width, channels)`` of an image batch ``(n, h, w)`` or ``(n, h, w, c)``."""
    return (*x.shape[1:3], x.shape[3] if x.ndim == 4 else 1)


def _checked_images(x, name: str, source: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in CHANNELS):
        raise ImageDataError(f"{source}: {name} has shape {x.shape}; expected uint8 images (n, height, width) or "
                             "(n, height, width, channels) with 1 (grey) or 3 (RGB) channels.")
    if len(x) == 0:
        raise ImageDataError(f"{source}: {name} is empty.")
    if not np.issubdtype(x.dtype, np.integer):
        raise ImageDataError(f"{source}: {name} has dtype {x.dtype}; expected integer pixel values 0-255 (uint8); "
                             "if your images are scaled to [0, 1], save (x * 255).astype('uint8').")
    if x.min() < 0 or x.max() > 255:
        raise ImageDataError(f"{source}: {name} pixel values are out of range [{x.min()}, {x.max()}]; expected 0-255.")
    return x.astype("uint8", copy=False)


def _checked_labels(y, n: int, name: str, source: str) -> np.ndarray:
    """Labels 0-9 (:data:`NUM_CLASSES`), one per image, as ``uint8``; ``(n, 1)`` is flattened."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # keras.datasets.cifar10 gives (n, 1)
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise ImageDataError(f"{source}: {name} has shape {y.shape}; expected one integer label per image, ({n},).")
    if not np.issubdtype(y.dtype, np.integer):
        raise ImageDataError(f"{source}: {name} has dtype {y.dtype}, expected integer labels 0-9.")
    if y.min() < 0 or y.max() >= NUM_CLASSES:
        raise ImageDataError(f"{source}: {name} has labels outside 0-9 (range [{y.min()}, {y.max()}]); the models take "
                             "at most 10 classes: save the file without y_train and y_test to train without labels.")
    return y.astype("uint8", copy=False)


def validate_images(arrays: dict, source: str = "images") -> Arrays:
    """Check Keras-layout arrays of any image shape and return ``((x_train, y_train), (x_test,
    y_test))``: ``uint8`` images ``(n, h, w)`` or ``(n, h, w, c)`` (``c`` 1 or 3; train and test of one
    shape) and integer labels 0-9 ``(n,)`` (``(n, 1)`` is flattened), or ``None`` for both label arrays
    when ``arrays`` has none. For MNIST-shaped arrays the result equals :func:`validate_mnist`'s.
    Raises :class:`ImageDataError` naming the array and the fix."""
    labelled = [arrays.get(k) is not None for k in ("y_train", "y_test")]
    if any(labelled) and not all(labelled):
        absent = ["y_train", "y_test"][labelled.index(False)]
        raise ImageDataError(f"{source} lacks the arrays ['{absent}'] but has the other labels; give labels for both "
                             "splits (x_train, y_train, x_test, y_test), or for neither.")
    out = {}
    for split in ("train", "test"):
        x = _checked_images(arrays[f"x_{split}"], f"x_{split}", source)
        y = _checked_labels(arrays[f"y_{split}"], len(x), f"y_{split}", source) if all(labelled) else None
        out[split] = (x, y)
    if image_shape_of(out["train"][0]) != image_shape_of(out["test"][0]) or out["train"][0].ndim != out["test"][0].ndim:
        raise ImageDataError(f"{source}: x_train has shape {out['train'][0].shape[1:]} per image but x_test "
                             f"{out['test'][0].shape[1:]}; both splits must have one image shape.")
    return out["train"], out["test"]


def load_images_npz(path: str | os.PathLike) -> Arrays:
    """A Keras-format ``.npz`` of any images (``x_train``, ``x_test``; ``y_train``, ``y_test``
    optional), checked by :func:`validate_images`; labels ``None`` when absent. Raises
    :class:`ImageDataError` for a missing, unreadable, corrupt or malformed file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ImageDataError(f"--data {str(path)!r}: no such file; pass a Keras-format .npz (x_train, x_test, "
                             "optional y_train, y_test), or a folder of images with --images.")
    if not os.access(path, os.R_OK):
        raise ImageDataError(f"data file {str(path)!r} is not readable (check its permissions).")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "x_test") if k not in f.files]
            if missing:
                raise ImageDataError(f"data file {str(path)!r} lacks the arrays {missing} (it has {sorted(f.files)}); "
                                     "expected Keras's layout: x_train, x_test and optionally y_train, y_test.")
            arrays = {k: f[k] for k in KEYS if k in f.files}
    except ImageDataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise ImageDataError(f"data file {str(path)!r} is corrupt, truncated or not an .npz archive "
                             f"({type(e).__name__}: {e}).") from None
    return validate_images(arrays, source=f"data file {str(path)!r}")


def load_keras_dataset(name: str) -> Arrays:
    """``keras.datasets.<name>.load_data()`` for a name of :data:`KERAS_DATASETS` (a download on a
    connected machine, then Keras's cache; ``"mnist"`` looks for a local copy first, as
    :func:`load_mnist`), checked by :func:`validate_images`. Raises :class:`ImageDataError`."""
    if name not in KERAS_DATASETS:
        raise ImageDataError(f"--dataset {name!r}: unknown; choose one of {', '.join(KERAS_DATASETS)}.")
    if name == "mnist":
        return load_mnist()
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as e:  # offline: the download raises from deep inside urllib
        raise ImageDataError(
            f"--dataset {name}: keras.datasets.{name}.load_data() failed ({type(e).__name__}: {e}); on an offline "
            "machine save the arrays as a Keras-format .npz elsewhere and pass it with --data FILE.npz.") from None
    return validate_images({"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test},
                           source=f"keras.datasets.{name}")


def _folder_layout(directory: Path) -> tuple[list[Path], list[str]]:
    """The image files of ``directory`` (sorted; in its class sub-folders when it has any) and the
    class names (sorted sub-folder names, or ``[]``). Raises :class:`ImageDataError`."""
    if not directory.is_dir():
        raise ImageDataError(f"--images {str(directory)!r} is not a folder; pass a folder of image files "
                             f"({', '.join(IMAGE_SUFFIXES)}), or an .npz with --data.")
    is_image = lambda p: p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES  # noqa: E731
    classes = sorted(p.name for p in directory.iterdir() if p.is_dir() and any(map(is_image, p.rglob("*"))))
    loose = sorted(p for p in directory.iterdir() if is_image(p))
    if classes and loose:
        raise ImageDataError(f"--images {str(directory)!r} holds image files and class sub-folders {classes}; put "
                             "every image into a sub-folder (one per class), or have no sub-folders.")
    files = sorted(p for c in classes for p in (directory / c).rglob("*") if is_image(p)) if classes else loose
    if not files:
        raise ImageDataError(f"--images {str(directory)!r} holds no image files ({', '.join(IMAGE_SUFFIXES)}); "
                             "pass a folder of images (or of one sub-folder per class).")
    return files, classes


def read_image_folder(directory: str | os.PathLike, image_size: tuple[int, int] | None = None,
                      channels: int | None = None) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Every image of a folder through ``keras.utils.image_dataset_from_directory``, in its order:
    ``(x, y, details)`` with ``x`` ``uint8`` ``(n, height, width, channels)`` resized (bilinear) to
    ``image_size`` (default: the first file's size), ``channels`` 1 (grey) or 3 (RGB) (default: 1
    if the first file is a grey image, else 3), ``y`` the class index of each image (its
    sub-folder's place among the sorted sub-folder names) or ``None`` without sub-folders, and
    ``details`` (``image_size``, ``channels``, ``class_names``, ``n_files``). Raises
    :class:`ImageDataError` for a missing folder, one without images, or an unreadable image."""
    import keras

    directory = Path(directory).expanduser()
    files, classes = _folder_layout(directory)
    if channels is not None and channels not in CHANNELS:
        raise ImageDataError(f"--channels {channels}: give 1 (grey) or 3 (RGB colour).")
    try:
        if image_size is None or channels is None:
            from PIL import Image  # what keras.utils.load_img reads with; it converts the mode, so ask PIL

            with Image.open(files[0]) as first:
                image_size = image_size or (first.height, first.width)
                channels = channels or (1 if first.mode in _GREY_MODES else 3)
        ds = keras.utils.image_dataset_from_directory(
            str(directory), labels="inferred" if classes else None, class_names=classes or None,
            color_mode="grayscale" if channels == 1 else "rgb", batch_size=256, image_size=tuple(image_size),
            shuffle=False, verbose=False)
        batches = [b if classes else (b, None) for b in ds]
    except Exception as e:  # PIL's and TensorFlow's decode errors, Keras's ValueErrors
        raise ImageDataError(f"--images {str(directory)!r}: an image could not be read ({type(e).__name__}: "
                             f"{' '.join(str(e).split())[:200]}); remove or fix the file.") from None
    x = np.concatenate([np.asarray(b) for b, _ in batches])
    x = np.clip(np.round(x), 0, 255).astype("uint8")
    y = np.concatenate([np.asarray(lb) for _, lb in batches]).astype("uint8" if len(classes) <= 256 else "int32") if classes else None
    details = {"image_size": [int(s) for s in image_size], "channels": int(channels), "class_names": classes or None,
               "n_files": len(x)}
    return x, y, details


def split_test(x: np.ndarray, y: np.ndarray | None, test_fraction: float, seed: int = 0) -> Arrays:
    """``((x_train, y_train), (x_test, y_test))``: a random ``test_fraction`` of the images (at least
    one) for testing, the rest for training (at least 2), drawn by ``seed`` (same seed, same split).
    ``y`` may be ``None``. Raises :class:`ImageDataError` when too few images are left."""
    if not 0 < test_fraction < 1:
        raise ImageDataError(f"--test-fraction must be in (0, 1), got {test_fraction!r}.")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(round(len(x) * test_fraction)))
    if len(x) - n_test < 2:
        raise ImageDataError(f"{len(x)} image(s) with --test-fraction {test_fraction} leave {len(x) - n_test} for "
                             "training; need at least 2: add images or lower --test-fraction.")
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    pick = lambda idx: (x[idx], None if y is None else y[idx])  # noqa: E731
    return pick(train), pick(test)


def load_image_folder(directory: str | os.PathLike, *, image_size: tuple[int, int] | None = None,
                      channels: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> tuple[Arrays, dict]:
    """A folder of images (:func:`read_image_folder`) split into training and test images
    (:func:`split_test`): ``(arrays, details)``. Raises :class:`ImageDataError`."""
    x, y, details = read_image_folder(directory, image_size, channels)
    return split_test(x, y, test_fraction, seed), {**details, "test_fraction": test_fraction, "split_seed": seed}


def read_images(path: str | os.PathLike, image_shape: tuple[int, int, int], key: str | None = None) -> np.ndarray:
    """Images for a model taking ``image_shape`` ``(h, w, c)``, as ``float32`` ``(n, h, w, c)`` in
    ``[0, 1]``: from an ``.npz`` (its ``x_test``, or ``key``), an ``.npy``, or a folder of image files
    (resized to ``(h, w)``, read with ``c`` channels). Pixels follow the pixel rule of
    :mod:`vae_tf.core.inputs` (``uint8`` 0-255, or floats in ``[0, 1]``). Raises
    :class:`ImageDataError` for a missing or unreadable file, a missing key, or another shape."""
    path = Path(path).expanduser()
    h, w, c = (int(s) for s in image_shape)
    if path.is_dir():
        x = read_image_folder(path, (h, w), c)[0]
    elif not path.is_file():
        raise ImageDataError(f"--images {str(path)!r} does not exist; pass an .npz, an .npy or a folder of images.")
    elif path.suffix.lower() not in (".npz", ".npy"):
        raise ImageDataError(f"--images {str(path)!r}: not an .npz, an .npy or a folder of images.")
    else:
        x = _read_array(path, key)
    try:
        x = as_unit_pixels(x, name=f"--images {path.name}")
    except InputError as e:
        raise ImageDataError(str(e)) from None
    if x.ndim == 3 and c == 1:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (h, w, c) or not len(x):
        raise ImageDataError(f"--images {str(path)!r}: the images have shape {x.shape}, but the model takes "
                             f"(n, {h}, {w}, {c}) ({h}x{w}x{c}); pass images of that shape (a folder is resized to it).")
    return x


def _read_array(path: Path, key: str | None) -> np.ndarray:
    """The array of an ``.npy``, or of an ``.npz``'s ``key`` (default ``x_test``)."""
    if key is not None and path.suffix.lower() != ".npz":
        raise ImageDataError(f"--key {key} applies to an .npz; {path.name} is an .npy (drop --key).")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as f:
            name = key or "x_test"
            if name not in f.files:
                raise ImageDataError(f"--images {str(path)!r} has no array {name!r} (it has {sorted(f.files)}); "
                                     "pass --key NAME to choose one.")
            return f[name]
    except ImageDataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise ImageDataError(f"--images {str(path)!r} could not be read ({type(e).__name__}: {e}).") from None


# --------------------------------------------------------------------------- preprocessing
def scale_images(x: np.ndarray) -> np.ndarray:
    """Images ``(n, h, w)`` to ``float32`` in ``[0, 1]`` with a channel axis: ``(n, h, w, 1)``
    (images that already have one keep their shape), by the pixel rule of :mod:`vae_tf.core.inputs`:
    ``uint8`` 0-255 is divided by 255, integer 0/1 (already binarized) is kept, floats must be
    in ``[0, 1]``. Raises :class:`vae_tf.InputError` otherwise (e.g. float 0-255 or NaN)."""
    x = as_unit_pixels(x)
    return x[..., None] if x.ndim == 3 else x




def binarize(x: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Threshold binarization (scheme ``"threshold"``): pixels of ``x`` (in ``[0, 1]``) above
    ``threshold`` become 1, others 0; ``float32``, same shape."""
    return (np.asarray(x) > threshold).astype("float32")


def binarize_static(x: np.ndarray, seed: int | None = None) -> np.ndarray:
    """Static binarization (scheme ``"static"``): one Bernoulli draw per pixel, 1 with
    probability its grey level in ``[0, 1]``; ``float32``, same shape. The same ``seed`` gives the
    same images, so a test set binarized this way is fixed (dynamic binarization instead draws
    anew each epoch: ``make_dataset(binarization="dynamic")``)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype="float32")
    return (rng.random(x.shape, dtype="float32") < x).astype("float32")


def split_validation(
    x: np.ndarray, y: np.ndarray | None, val_fraction: float = 0.1, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Random split of ``(x, y)`` into ``((x_fit, y_fit), (x_val, y_val))``; ``val_fraction``
    of the examples (at least one) go to validation (``y=None``: no labels, ``None`` in both).
    Keeps the test set for final numbers."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}.")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(round(len(x) * val_fraction)))
    val, fit = order[:n_val], order[n_val:]
    return (x[fit], None if y is None else y[fit]), (x[val], None if y is None else y[val])


def subset(x: np.ndarray, y: np.ndarray | None = None, n: int | None = None, seed: int = 0):
    """A random subset of ``n`` examples (all of them if ``n`` is None or >= len(x)),
    returned as ``(x, y)``, order shuffled by ``seed``."""
    if n is None or n >= len(x):
        return x, y
    idx = np.random.default_rng(seed).permutation(len(x))[:n]
    return x[idx], (None if y is None else y[idx])


def _dataset_arrays(x, y, num_classes: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` as checked ``float32`` images with a channel axis and ``y`` (if given) as ``int32``
    labels in ``[0, num_classes)``, one per image; :class:`vae_tf.InputError` otherwise."""
    x = as_images(scale_images(x))
    if y is None:
        return x, None
    y = as_class_indices(y, check_count(num_classes, name="num_classes"), name="y").astype("int32")
    if len(y) != len(x):
        raise InputError(f"x has {len(x)} images but y has {len(y)} labels; pass one label per image.")
    return x, y


#: Batches :func:`make_dataset` prepares ahead of the training step (a fixed buffer; see there).
PREFETCH_BATCHES = 2


def _epoch_batches(x, y, batch_size: int, shuffle: bool, seed: int, dynamic: bool, start_epoch: int):
    """The batches of :func:`make_dataset` before prefetching: one epoch per iteration."""
    import tensorflow as tf

    seed = tf.constant(seed, tf.int64)
    images, labels = tf.constant(x), (None if y is None else tf.constant(y))
    n = len(x)
    num_batches = -(-n // batch_size)
    # The epoch lives in the dataset: its first batch (the map is sequential) advances the epoch
    # and draws that epoch's order; everything random is a stateless op keyed by (seed, epoch).
    # (A flat_map of per-epoch datasets says the same more plainly but cost 1 ms per batch.)
    epoch = tf.Variable(start_epoch - 1, dtype=tf.int64, trainable=False)
    order = tf.Variable(tf.range(n, dtype=tf.int64), trainable=False)

    def _begin_epoch():
        e = epoch.assign_add(1)
        new_order = tf.range(n, dtype=tf.int64)
        if shuffle:
            new_order = tf.random.experimental.stateless_shuffle(new_order, seed=tf.stack([seed, e]))
        with tf.control_dependencies([order.assign(new_order)]):
            return tf.identity(e), tf.identity(new_order)

    def take(b):
        e, epoch_order = tf.cond(tf.equal(b, 0), _begin_epoch, lambda: (epoch.read_value(), order.read_value()))
        idx = epoch_order[b * batch_size : (b + 1) * batch_size]
        batch = tf.gather(images, idx)
        if dynamic:
            batch_key = tf.random.experimental.stateless_fold_in(tf.stack([seed, e]), b)
            batch = tf.cast(tf.random.stateless_uniform(tf.shape(batch), seed=batch_key) < batch, batch.dtype)
        return batch if labels is None else (batch, tf.gather(labels, idx))

    return tf.data.Dataset.range(num_batches).map(take)


def make_dataset(
    x: np.ndarray,
    y: np.ndarray | None = None,
    batch_size: int = 128,
    shuffle: bool = True,
    seed: int | None = None,
    binarization: str | None = None,
    num_classes: int = NUM_CLASSES,
    start_epoch: int = 0,
):
    """A ``tf.data.Dataset`` of ``float32`` image batches in ``[0, 1]``, ``(batch, h, w, c)``
    (or ``(images, labels)`` batches when ``y`` is given: ``int32`` labels in
    ``[0, num_classes)``).

    ``x`` follows the pixel rule of :mod:`vae_tf.core.inputs` (as :func:`scale_images`: ``uint8``
    0-255 is scaled, integer 0/1 kept binary, floats must be in ``[0, 1]``). ``binarization``:
    ``None`` (grey levels) or a scheme of :data:`BINARIZATIONS`: ``"threshold"`` (at 0.5),
    ``"static"`` (one Bernoulli draw keyed by ``seed``, the same every epoch) or ``"dynamic"`` (a
    fresh Bernoulli draw per epoch). Each iteration of the dataset is one epoch: every example once,
    reshuffled (if ``shuffle``). The order and the dynamic draws of epoch ``e`` are a function
    of ``(seed, e)`` only, and iteration ``k`` is epoch ``start_epoch + k``: a run resumed at
    epoch ``s`` with ``start_epoch=s`` sees exactly the batches the uninterrupted run saw.
    ``seed=None`` draws a seed from NumPy's global generator (set by
    ``keras.utils.set_random_seed``). Batches are prefetched (:data:`PREFETCH_BATCHES`, with
    tf.data's autotuner off: it stalled each epoch's start by up to a second).

    Raises :class:`vae_tf.InputError` (a ``ValueError``) for images outside the pixel rule, no
    images, a ``batch_size`` that is not a positive integer, a negative ``start_epoch``, an
    unknown ``binarization``, labels that are not integers in ``[0, num_classes)``, or a label
    count that differs from the image count.
    """
    import tensorflow as tf

    if binarization is not None and binarization not in BINARIZATIONS:
        raise InputError(f"binarization must be None (grey levels), 'threshold', 'static' or 'dynamic', got {binarization!r}.")
    batch_size = check_count(batch_size, name="batch_size")
    start_epoch = check_count(start_epoch, name="start_epoch", minimum=0)
    x, y = _dataset_arrays(x, y, num_classes)
    seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed) % 2**63
    if binarization == "threshold":
        x = binarize(x)
    elif binarization == "static":
        x = binarize_static(x, seed=seed)
    ds = _epoch_batches(x, y, batch_size, shuffle, seed, binarization == "dynamic", start_epoch)
    # A fixed prefetch buffer, and tf.data's autotuner off: with the autotuner on, destroying
    # an epoch's iterator (which Keras does at the start of the next epoch) waits for the
    # autotuner's background thread: an idle stall of about 1 s in roughly one epoch in three
    # on a 2-core CPU, which halved those epochs' throughput for the dense MNIST VAE. The work
    # per batch is a gather from memory, so a fixed buffer of a few batches is enough.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(PREFETCH_BATCHES).with_options(options)
