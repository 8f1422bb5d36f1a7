"""Trained models the course ships, so that a notebook can start where an earlier one ended.

Notebook 03 explores the 2-D MLP VAE that notebook 02 trains (30 epochs, section 4). On Colab every
notebook runs on a fresh machine, where 02's saved file does not exist; the package therefore
ships the weights of that model as notebook 02's stored run saved it, rounded to float16
(:data:`NOTEBOOK02_WEIGHTS`, 1.6 MB; the rounding moves no weight by more than 0.001 and the test
negative ELBO by about 1e-5 nats), with its record :data:`NOTEBOOK02_RECORD`.
:func:`load_notebook02_vae` prefers the file a run of 02 on this machine wrote.

``python -m vae_tf.course ship-02 notebooks/artifacts/vae_2d_mlp.keras`` rewrites the shipped copy
from a full run of notebook 02 (:func:`ship_notebook02_vae`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parents[1] / "assets"
#: Weights of notebook 02's trained 2-D MLP VAE: HDF5, one float16 dataset per array of
#: ``build_notebook02_vae().get_weights()``, named ``"0"``, ``"1"``, ... in that order.
NOTEBOOK02_WEIGHTS = ASSETS / "vae-2d-mlp-notebook02.float16.h5"
#: Its record: where it comes from and what it scores (JSON).
NOTEBOOK02_RECORD = ASSETS / "vae-2d-mlp-notebook02.json"
#: The seed of :func:`vae_tf.evaluate_elbo` behind the record's test numbers.
RECORD_SEED = 0


def build_notebook02_vae():
    """Notebook 02's 2-D MLP VAE, untrained: ``VAE(build_encoder(latent_dim=2, arch="mlp"),
    build_decoder(latent_dim=2, arch="mlp"), seed=0, name="vae_mlp")``."""
    from .. import VAE, build_decoder, build_encoder

    return VAE(build_encoder(latent_dim=2, arch="mlp"), build_decoder(latent_dim=2, arch="mlp"), seed=0, name="vae_mlp")


def notebook02_record() -> dict[str, Any]:
    """The shipped model's record (a dict read from :data:`NOTEBOOK02_RECORD`)."""
    return json.loads(NOTEBOOK02_RECORD.read_text())


def load_notebook02_vae(saved: str | os.PathLike | None = None):
    """Notebook 02's trained 2-D MLP VAE and where it came from: ``(model, source)``.

    ``saved`` is the file notebook 02 writes (``notebooks/artifacts/vae_2d_mlp.keras``): when it
    exists, that model is loaded (a run of 02 on this machine); otherwise the copy shipped with the
    package, from 02's stored run, compiled with 02's optimizer (its state is not shipped).
    ``source`` says which, in words. Either model is ready for ``evaluate``.

    Raises:
        TypeError: ``saved`` holds a model that is not a 2-D ``vae_tf.VAE``.
        FileNotFoundError: neither exists (the package was installed without its assets); the
            message names the file and the fix.
    """
    import keras

    from .. import VAE

    if saved is not None and os.path.isfile(saved):
        model = keras.models.load_model(saved)
        if not isinstance(model, VAE) or model.latent_dim != 2:
            raise TypeError(f"{os.fspath(saved)} holds a {type(model).__name__}, not notebook 02's 2-D VAE: delete it and "
                            "run notebook 02 again, or leave it out to use the shipped model.")
        return model, f"notebook 02's saved model ({os.fspath(saved)})"
    if not NOTEBOOK02_WEIGHTS.is_file():
        raise FileNotFoundError(f"The shipped model {NOTEBOOK02_WEIGHTS} is missing: reinstall vae-tf with its package "
                                "data, or run notebook 02, which saves the model this notebook loads.")
    model = build_notebook02_vae()
    model.set_weights(read_weights(NOTEBOOK02_WEIGHTS))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))  # 02's optimizer (fresh), so evaluate and fit work as on 02's file
    return model, "the copy of notebook 02's model shipped with vae_tf (its stored run's weights, rounded to float16)"


def read_weights(path: str | os.PathLike) -> list:
    """The float32 arrays a :data:`NOTEBOOK02_WEIGHTS`-style file holds, in ``get_weights()`` order."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        return [np.asarray(f[str(i)], dtype="float32") for i in range(len(f))]


def write_weights(arrays, path: str | os.PathLike) -> None:
    """Write ``arrays`` (``get_weights()`` of a model) to ``path`` as float16 datasets."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        for i, a in enumerate(arrays):
            f.create_dataset(str(i), data=np.asarray(a, dtype="float16"))


def weights_sha256(path: str | os.PathLike | None = None) -> str:
    """SHA-256 (hex) of a weights file (default :data:`NOTEBOOK02_WEIGHTS`)."""
    return hashlib.sha256(Path(path or NOTEBOOK02_WEIGHTS).read_bytes()).hexdigest()


def record_scores(model) -> dict[str, float]:
    """The record's numbers for ``model`` on the 10,000 MNIST test images (grey levels), nats per
    image: ``test_neg_elbo``, ``test_reconstruction``, ``test_kl`` (:func:`vae_tf.evaluate_elbo`,
    one sample, seed :data:`RECORD_SEED`)."""
    import warnings

    import numpy as np

    from .. import evaluate_elbo, load_course_mnist, scale_images
    from ..tools.evaluation import NotADensityWarning

    _, (x_test, _) = load_course_mnist()
    with warnings.catch_warnings():  # grey levels, as notebook 02 trains and scores: a training objective
        warnings.simplefilter("ignore", NotADensityWarning)
        terms = evaluate_elbo(model, scale_images(x_test), seed=RECORD_SEED)
    return {"test_neg_elbo": float(-np.mean(terms["elbo"])), "test_reconstruction": float(np.mean(terms["reconstruction_loss"])),
            "test_kl": float(np.mean(terms["kl_loss"]))}


def ship_notebook02_vae(saved: str | os.PathLike, *, weights: str | os.PathLike | None = None,
                        record_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write ``weights`` and ``record_path`` (default :data:`NOTEBOOK02_WEIGHTS` and
    :data:`NOTEBOOK02_RECORD`) from the model a full run of notebook 02 saved at ``saved``: its
    weights rounded to float16 (no optimizer state), and the record, which gives the test scores of
    the shipped (rounded) model and of the original. Returns the record. Raises ``TypeError``
    as :func:`load_notebook02_vae`, ``FileNotFoundError`` if ``saved`` does not exist."""
    import keras
    import tensorflow as tf

    from .. import __version__
    from ..tools.data import COURSE_TRAIN_SHA256

    if not os.path.isfile(saved):
        raise FileNotFoundError(f"{os.fspath(saved)} does not exist: run notebook 02 in full first.")
    import numpy as np

    trained, _ = load_notebook02_vae(saved)
    weights, record_path = Path(weights or NOTEBOOK02_WEIGHTS), Path(record_path or NOTEBOOK02_RECORD)
    write_weights(trained.get_weights(), weights)
    model = build_notebook02_vae()
    model.set_weights(read_weights(weights))
    record = {
        "notebook": "notebooks/02_mnist_vae_2d.ipynb",
        "model": "vae_tf.course.models.build_notebook02_vae(), trained by notebook 02 section 4: Adam 1e-3, batches of "
                 "128, 30 epochs, XLA and 32 steps per execution, on the course training set (the first 24,345 images of "
                 "MNIST's training file, 10 % held out for validation)",
        "course_train_sha256": COURSE_TRAIN_SHA256,
        "weights_sha256": weights_sha256(weights),
        "storage": "float16: each weight of the trained model rounded to the nearest float16",
        "largest_rounding_change": float(max(np.max(np.abs(a - b)) for a, b in zip(model.get_weights(), trained.get_weights()))),
        "record_seed": RECORD_SEED,
        **{k: round(v, 4) for k, v in record_scores(model).items()},
        "float32_original": {k: round(v, 4) for k, v in record_scores(trained).items()},
        "versions": {"vae_tf": __version__, "keras": keras.__version__, "tensorflow": tf.__version__},
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    return record
