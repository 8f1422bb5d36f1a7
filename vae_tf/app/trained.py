"""A trained model as ``vae-tf evaluate`` and ``vae-tf sample`` find it: a run directory of
``vae-tf train`` (``model.keras`` plus ``metrics.json``) or a bare ``.keras`` file.

Pixel preprocessing names (what the model was trained on, and what it is scored on):
``"grey"`` (grey levels in [0, 1]), ``"threshold"`` (binarized at 0.5) and ``"static"`` (each
pixel 1 with probability its grey level, one seeded draw: the fixed test set of both static and
dynamic binarization; see :data:`vae_tf.tools.data.BINARIZATIONS`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

import numpy as np

from ..tools.data import binarize, binarize_static, scale_images
from .run import UsageError, WriteFailedError

MODEL_FILE, METRICS_FILE = "model.keras", "metrics.json"
PREPROCESSINGS = ("grey", "threshold", "static")
DESCRIPTIONS = {
    "grey": "grey levels in [0, 1]",
    "threshold": "binarized at 0.5",
    "static": "one seeded Bernoulli draw per pixel (the fixed test set of static and dynamic binarization)",
}


@dataclasses.dataclass
class Trained:
    """A loaded model; ``run`` is the run's ``metrics.json`` (empty for a bare model file) and
    ``folder`` where results are written (the run directory, or the model file's folder)."""

    model: object
    model_path: Path
    folder: Path
    run: dict

    @property
    def preprocessing(self) -> str | None:
        """The pixel preprocessing the run recorded (one of :data:`PREPROCESSINGS`), or None."""
        return recorded_preprocessing(self.run) if self.run else None


def load_trained(path: str | Path) -> Trained:
    """Load the model at ``path`` (a run directory or a ``.keras`` file). Raises
    :class:`vae_tf.app.run.UsageError` for a missing path, a folder without ``model.keras``, a file
    that is not a Keras model, or a model that is not a ``vae_tf`` VAE."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UsageError(f"{path} does not exist; pass a run directory of 'vae-tf train' or its model.keras.")
    model_path = path / MODEL_FILE if path.is_dir() else path
    if not model_path.is_file():
        raise UsageError(f"{path} holds no {MODEL_FILE}; pass a finished run directory of 'vae-tf train'.")
    import keras  # only now: a wrong path is answered without starting TensorFlow

    import vae_tf  # noqa: F401  (registers the package's classes for load_model)

    try:
        model = keras.models.load_model(model_path, compile=False)
    except Exception as e:  # Keras raises ValueError, OSError, zipfile errors... for non-models
        raise UsageError(f"{model_path} is not a Keras model file ({type(e).__name__}: {e}).") from None
    if not hasattr(type(model), "conditions_on_digits") or not hasattr(model, "sample"):
        raise UsageError(f"{model_path} holds a {type(model).__name__}, not a vae_tf VAE.")
    run = _read_metrics(model_path.parent / METRICS_FILE) if path.is_dir() else {}
    return Trained(model, model_path, model_path.parent, run)


def _read_metrics(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{path} could not be read ({e}); restore it or pass the model.keras file itself.") from None


def recorded_preprocessing(metrics: dict) -> str:
    """The pixel preprocessing in a run's ``metrics.json``: its ``"preprocessing"`` entry (a
    name, or a dict with ``"binarization"``), else the config's ``"binarization"``; runs that
    record neither trained on grey levels."""
    value = metrics.get("preprocessing")
    if isinstance(value, dict):
        value = value.get("binarization")
    if value is None:
        value = (metrics.get("config") or {}).get("binarization")
    value = "grey" if value in (None, "none", "grey") else value
    value = "static" if value == "dynamic" else value  # a dynamically binarized run is scored on one draw
    if value not in PREPROCESSINGS:
        raise UsageError(f"metrics.json records an unknown pixel preprocessing {value!r}; expected one of {PREPROCESSINGS}.")
    return value


def preprocess(x: np.ndarray, preprocessing: str, seed: int) -> np.ndarray:
    """Images ``x`` (uint8 0-255 or the pixel rule) as float32 ``(n, h, w, c)`` under
    ``preprocessing`` (a name of :data:`PREPROCESSINGS`; ``"static"`` draws with ``seed``)."""
    x = scale_images(x)
    if preprocessing == "threshold":
        return binarize(x)
    if preprocessing == "static":
        return binarize_static(x, seed=seed)
    return x


@contextlib.contextmanager
def writing_outputs():
    """Turn an ``OSError`` while writing outputs (disk full, read-only folder) into
    :class:`vae_tf.app.run.WriteFailedError` (exit 4); the atomic writers leave no partial file."""
    try:
        yield
    except OSError as e:
        what = repr(e.filename) if e.filename else "an output file"
        raise WriteFailedError(f"could not write {what} ({e.strerror or e}); nothing was half-written.") from None
