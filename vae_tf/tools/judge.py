"""An independent judge of generated digits: a small convolutional MNIST classifier (99.15 %
test accuracy) that scores samples (:mod:`vae_tf.tools.quality`).

The judge of the course ships with the package (:data:`SHIPPED_WEIGHTS`, 1.7 MB, and its record
beside it): :func:`train_judge_model` with seed 0 on the course training set (the first 24,345
images of MNIST's training file, :func:`vae_tf.tools.data.load_course_mnist`), so every user, online
or offline, scores with the same judge and :func:`load_judge` returns it at once. For other
training data or seeds the judge is trained (about 1-4 minutes on 2 CPU cores, with a progress
bar) once per (training data, seed, architecture version) and cached in the user cache
directory, never in the project:

* ``$VAE_TF_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vae_tf``, else ``~/.cache/vae_tf``;
* files ``judge/judge-v{JUDGE_VERSION}-seed{seed}-{data checksum[:16]}.keras`` (the model) and
  the same name with ``.json`` beside it (test accuracy, full data checksum, seed, training
  time, versions). The JSON is written first and the model last, both atomically, so a model
  file on disk always has its record.

Training is announced through the ``vae_tf.tools.judge`` logger (INFO; ``vae-tf evaluate`` prints
it, in Python ``logging.basicConfig(level=logging.INFO)`` shows it), never by printing.

Training is deterministic for a seed on a given machine: weights are initialised and batches
shuffled from generators seeded by ``seed`` alone (no global random state is read or changed).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import scipy.special

from . import files
from .data import COURSE_TRAIN_SIZE, data_checksum, load_mnist
from ..core.arrays import as_class_indices, as_images
from ..core.inputs import check_count, check_image_shape
from .settings import resolve_cache_dir

log = logging.getLogger(__name__)
#: A temporary file in the cache folder older than this (seconds) is a killed writer's: saving a
#: judge takes about a second, and other processes may be saving theirs there now.
STALE_TEMP_S = 3600

#: Bump when the judge's architecture or training recipe changes: old cache entries are ignored.
JUDGE_VERSION = 1
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
FEATURES_LAYER = "features"
#: The training recipe (part of the architecture version): epochs, batch size, peak learning rate.
EPOCHS, BATCH_SIZE, LEARNING_RATE = 10, 64, 3e-3
#: The course's judge, trained by :func:`train_judge_model` (seed 0) on the course training set;
#: its record (test accuracy, data checksums, training time, versions) is the ``.json`` beside it.
SHIPPED_SEED = 0
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[1] / "assets" / f"judge-v{JUDGE_VERSION}-seed{SHIPPED_SEED}.weights.h5"


class JudgeError(RuntimeError):
    """The judge could not be loaded or trained; the message says what to do."""


def build_judge_model(seed: int = 0) -> keras.Model:
    """The judge's network: images ``(batch, 28, 28, 1)`` in ``[0, 1]`` to class logits
    ``(batch, 10)``: random rotations (up to about 11 degrees) and shifts (up to 2 pixels) while
    training, two 3x3 conv + max-pool blocks (32, 64 filters), a 128-unit ReLU layer named
    ``"features"`` (what the Fréchet distance uses) and dropout. Every random draw is seeded
    from ``seed``."""
    seeds = iter(np.random.SeedSequence(seed).generate_state(8).tolist())

    def init():
        return keras.initializers.HeNormal(seed=next(seeds))

    inputs = keras.Input(shape=IMAGE_SHAPE, name="image")
    # Small random rotations and shifts while training (identity at inference): 24k images
    # alone leave the network just short of 99 % test accuracy.
    x = keras.layers.RandomRotation(0.03, fill_mode="constant", seed=next(seeds), name="rotate")(inputs)
    x = keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=next(seeds), name="shift")(x)
    for i, filters in enumerate((32, 64)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=init(), name=f"conv_{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", kernel_initializer=init(), name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(0.3, seed=next(seeds), name="dropout")(x)
    logits = keras.layers.Dense(NUM_CLASSES, kernel_initializer=init(), name="logits")(x)
    return keras.Model(inputs, logits, name="judge")


class _ShuffledBatches(keras.utils.PyDataset):
    """Batches of ``(x, y)`` reshuffled every epoch by a NumPy generator seeded with ``seed``."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i: int):
        idx = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        return self.x[idx], self.y[idx]

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.x))


def train_judge_model(x: np.ndarray, y: np.ndarray, *, seed: int = 0, epochs: int = EPOCHS, verbose: int = 0) -> keras.Model:
    """Train :func:`build_judge_model` on images ``x`` (any form the pixel rule accepts,
    ``(n, 28, 28)`` or ``(n, 28, 28, 1)``) and labels ``y`` (``(n,)``, 0-9) with Adam and a
    cosine learning-rate decay; ``verbose`` as in ``keras.Model.fit``. Raises
    :class:`vae_tf.InputError` for images or labels the package cannot use."""
    x = _judge_images(x)
    y = as_class_indices(y, NUM_CLASSES, n=len(x), name="y").astype("int32")
    batches = _ShuffledBatches(x, y, BATCH_SIZE, seed)
    model = build_judge_model(seed)
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, decay_steps=max(1, epochs * len(batches)))
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(batches, epochs=epochs, verbose=verbose, shuffle=False)
    return model


def _judge_images(images) -> np.ndarray:
    """``images`` ``(n, 28, 28)`` or ``(n, 28, 28, 1)`` as float32 ``(n, 28, 28, 1)`` in [0, 1]."""
    x = as_images(images, name="images")
    x = x[..., None] if x.ndim == 3 else x
    check_image_shape(x.shape, IMAGE_SHAPE, name="images")
    return x


@dataclass
class Judge:
    """A trained judge. ``info``: its record (test accuracy, data checksum, seed, training time,
    versions); ``path``: the file it was read from or cached to (``None``: not on disk);
    ``from_cache``: True when read from disk (the shipped file or the cache) rather than trained now."""

    model: keras.Model
    info: dict[str, Any]
    path: Path | None = None
    from_cache: bool = False
    _features: keras.Model | None = field(default=None, repr=False)

    @property
    def test_accuracy(self) -> float:
        """Accuracy on the test set of the data it was trained with (fraction in [0, 1])."""
        return float(self.info["test_accuracy"])

    def predict_proba(self, images, *, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities ``(n, 10)`` (float64, rows sum to 1) for images ``(n, 28, 28)``
        or ``(n, 28, 28, 1)`` (pixel rule). Raises :class:`vae_tf.InputError`."""
        logits = self.model.predict(_judge_images(images), batch_size=batch_size, verbose=0)
        return scipy.special.softmax(logits.astype("float64"), axis=-1)

    def predict(self, images, *, batch_size: int = 1024) -> np.ndarray:
        """The most probable digit ``(n,)`` (int64) for each image."""
        logits = self.model.predict(_judge_images(images), batch_size=batch_size, verbose=0)
        return np.argmax(logits, axis=-1).astype("int64")

    def features(self, images, *, batch_size: int = 1024) -> np.ndarray:
        """Penultimate-layer activations ``(n, 128)`` (float64) for the Fréchet distance."""
        if self._features is None:
            self._features = keras.Model(self.model.inputs, self.model.get_layer(FEATURES_LAYER).output)
        out = self._features.predict(_judge_images(images), batch_size=batch_size, verbose=0)
        return out.astype("float64")


def judge_paths(checksum: str, seed: int, directory: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """``(model_path, record_path)`` of the cached judge for a training-data ``checksum``
    (:func:`data_checksum`) and ``seed`` in :func:`resolve_cache_dir` ``(directory)/judge``."""
    stem = f"judge-v{JUDGE_VERSION}-seed{seed}-{checksum[:16]}"
    folder = resolve_cache_dir(directory) / "judge"
    return folder / f"{stem}.keras", folder / f"{stem}.json"


def load_judge(
    data_path: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    train_if_missing: bool = True,
    verbose: int = 1,
    shipped: bool = True,
) -> Judge:
    """The judge for the MNIST at ``data_path`` (found as :func:`vae_tf.load_mnist` does) and
    ``seed``, trained on the first :data:`~vae_tf.tools.data.COURSE_TRAIN_SIZE` training images
    (fewer if the file has fewer) and scored on the test images.

    For the course training set and seed 0 this is the shipped judge (:data:`SHIPPED_WEIGHTS`;
    ``shipped=False`` trains it anew instead). Otherwise it is read from the cache (module doc)
    or trained there: about 1-4 minutes on 2 CPU cores, once, announced at INFO level in the
    ``vae_tf.tools.judge`` logger and (``verbose`` 1 or 2, as in ``keras.Model.fit``) shown by
    Keras's progress bar. A cache that cannot be written costs a warning, not the trained judge.

    Raises:
        JudgeError: no cached judge and ``train_if_missing`` is False, or an unreadable
            cache entry or shipped file (the message names the file and the fix).
        vae_tf.MNISTError: the data could not be loaded.
    """
    seed = check_count(seed, name="seed", minimum=0)
    (x, y), (x_test, y_test) = load_mnist(data_path)
    x, y = x[:COURSE_TRAIN_SIZE], y[:COURSE_TRAIN_SIZE]
    checksum = data_checksum(x, y)
    if shipped and seed == SHIPPED_SEED:
        record = _shipped_record()
        if record["train_data_sha256"] == checksum and record["test_data_sha256"] == data_checksum(x_test, y_test):
            return _load_shipped(record)
    model_path, record_path = judge_paths(checksum, seed, cache_dir)
    files.remove_stale_temps(model_path.parent, older_than_s=STALE_TEMP_S)
    if model_path.is_file():
        return _load_cached(model_path, record_path, checksum, seed)
    if not train_if_missing:
        raise JudgeError(
            f"No cached judge at {model_path}; call load_judge(train_if_missing=True) to train one "
            "(1-4 minutes on 2 CPU cores)."
        )
    return _train_and_cache(((x, y), (x_test, y_test)), checksum, seed, model_path, record_path, verbose)


def _train_and_cache(data: tuple, checksum: str, seed: int, model_path: Path, record_path: Path, verbose: int) -> Judge:
    """Train the judge on ``data`` (announced in the log) and cache it at ``model_path`` with its
    record; a cache that cannot be written costs a warning (the judge is returned uncached)."""
    (x, y), _ = data
    log.info("Training the judge (seed %d, %d epochs) on %s images, once: 1-4 minutes on 2 CPU cores; "
             "it will be cached at %s.", seed, EPOCHS, f"{len(x):,}", model_path)
    wall, cpu = time.perf_counter(), time.process_time()
    model = train_judge_model(x, y, seed=seed, verbose=verbose)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    judge = Judge(model, {}, model_path)
    judge.info = _record(judge, checksum, seed, data, wall, cpu)
    try:
        model_path.parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write_json(record_path, judge.info)  # the record first: a model file always has one
        files.atomic_save_model(model, model_path)
    except OSError as e:
        judge.path = None
        warnings.warn(
            f"The judge could not be cached at {model_path} ({type(e).__name__}: {e}); it is used now and will be "
            "trained again next time. Set VAE_TF_CACHE_DIR to a writable folder to keep it.",
            stacklevel=3,
        )
    log.info("Judge test accuracy %.4f; trained in %.0f s (%.0f s CPU).", judge.test_accuracy, wall, cpu)
    return judge


def _shipped_record() -> dict[str, Any]:
    path = SHIPPED_WEIGHTS.with_suffix("").with_suffix(".json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise JudgeError(
            f"The shipped judge's record {path} could not be read ({type(e).__name__}: {e}); reinstall vae-tf, or "
            "call load_judge(shipped=False) to train the judge."
        ) from None


def _load_shipped(record: dict[str, Any]) -> Judge:
    model = build_judge_model(SHIPPED_SEED)
    try:
        model.load_weights(SHIPPED_WEIGHTS)
    except (OSError, ValueError) as e:
        raise JudgeError(
            f"The shipped judge {SHIPPED_WEIGHTS} could not be read ({type(e).__name__}: {e}); reinstall vae-tf, or "
            "call load_judge(shipped=False) to train the judge."
        ) from None
    return Judge(model, record, SHIPPED_WEIGHTS, from_cache=True)


def _load_cached(model_path: Path, record_path: Path, checksum: str, seed: int) -> Judge:
    fix = f"delete {model_path} (and {record_path.name}) to retrain it"
    try:
        info = json.loads(record_path.read_text(encoding="utf-8"))
        model = keras.models.load_model(model_path, compile=False)
    except (OSError, ValueError) as e:
        raise JudgeError(f"The cached judge could not be read ({type(e).__name__}: {e}); {fix}.") from None
    expected = {"judge_version": JUDGE_VERSION, "seed": seed, "train_data_sha256": checksum}
    wrong = {k: info.get(k) for k, v in expected.items() if info.get(k) != v}
    if wrong:
        raise JudgeError(f"The cached judge's record does not match its name ({wrong}); {fix}.")
    return Judge(model, info, model_path, from_cache=True)


def _record(judge: Judge, checksum: str, seed: int, data: tuple, wall: float, cpu: float) -> dict[str, Any]:
    """The cache record of a freshly trained judge: its test accuracy (grey levels, and on
    images binarized at 0.5), data identity, training recipe, time and versions."""
    import tensorflow as tf

    from .. import __version__

    (x_train, _), (x_test, y_test) = data
    predicted = judge.predict(x_test)
    return {
        "judge_version": JUDGE_VERSION,
        "seed": seed,
        "train_data_sha256": checksum,
        "test_data_sha256": data_checksum(x_test, y_test),
        "train_size": int(len(x_train)),
        "test_size": int(len(y_test)),
        "test_accuracy": float(np.mean(predicted == y_test)),
        "test_accuracy_binarized": float(np.mean(judge.predict(x_test > 127) == y_test)),
        "epochs": EPOCHS,
        "batch_size": BATCH_SIZE,
        "learning_rate": LEARNING_RATE,
        "train_wall_seconds": round(wall, 2),
        "train_cpu_seconds": round(cpu, 2),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": {
            "vae_tf": __version__,
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
