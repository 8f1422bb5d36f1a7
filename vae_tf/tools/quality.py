"""Sample quality measured by the independent judge (:func:`vae_tf.load_judge`).

* :func:`class_histogram`: which digits the judge sees in generated images (counts, how many
  classes appear, and the entropy of the histogram in nats, at most ``log 10``);
* :func:`digit_accuracy`: how often digit-conditioned samples are the digit that was asked for;
* :func:`frechet_distance`: the Fréchet distance between Gaussians fitted to the judge's
  features of two image sets (the MNIST analogue of FID; 0 for identical sets), and
  :func:`frechet_floor`, its value between two random halves of one set (the floor that
  sampling noise alone gives: compare a model's distance with it, at similar sample sizes,
  since the distance is biased upward for small sets).

The first two take digit labels (``judge.predict(images)``), so they work with any classifier.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg
import scipy.stats

from ..core.arrays import as_class_indices
from ..core.inputs import InputError, check_count

if TYPE_CHECKING:
    from .judge import Judge

NUM_CLASSES = 10
#: Largest imaginary part (relative to the trace) tolerated in sqrtm(cov_a @ cov_b) as rounding.
IMAGINARY_TOLERANCE = 1e-3


def class_histogram(labels, num_classes: int = NUM_CLASSES) -> dict[str, Any]:
    """The histogram of predicted digits ``labels`` (``(n,)`` integers in ``[0, num_classes)``):
    ``counts`` (list, one per class), ``n``, ``classes_covered`` (classes with a count > 0),
    ``entropy_nats`` (of the normalised histogram) and ``max_entropy_nats``
    (``log num_classes``, reached by a uniform histogram). Raises :class:`vae_tf.InputError`."""
    labels = as_class_indices(labels, num_classes, name="labels")
    counts = np.bincount(labels, minlength=num_classes)
    return {
        "counts": counts.tolist(),
        "n": int(counts.sum()),
        "classes_covered": int(np.count_nonzero(counts)),
        "entropy_nats": float(scipy.stats.entropy(counts)),
        "max_entropy_nats": math.log(num_classes),
    }


def digit_accuracy(predicted, requested, num_classes: int = NUM_CLASSES) -> dict[str, Any]:
    """How often the predicted digit equals the requested one, for ``(n,)`` integer arrays:
    ``accuracy`` (all samples), ``per_digit`` (list, one fraction per requested digit, ``None``
    for a digit never requested) and ``requested_counts``. Raises :class:`vae_tf.InputError`
    for labels out of range or arrays of different lengths."""
    requested = as_class_indices(requested, num_classes, name="requested digits")
    predicted = as_class_indices(predicted, num_classes, n=len(requested), name="predicted digits")
    hit = predicted == requested
    counts = np.bincount(requested, minlength=num_classes)
    hits = np.bincount(requested, weights=hit, minlength=num_classes)
    return {
        "accuracy": float(hit.mean()),
        "per_digit": [float(h / c) if c else None for h, c in zip(hits, counts)],
        "requested_counts": counts.tolist(),
    }


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and covariance ``(d, d)`` (float64) of ``features`` ``(n, d)``, n >= 2."""
    f = np.asarray(features, dtype="float64")
    if f.ndim != 2 or len(f) < 2:
        raise InputError(f"features must have shape (n, d) with n >= 2, got {f.shape}.")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance_from_statistics(mean_a, cov_a, mean_b, cov_b) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mean_a, cov_a) and N(mean_b, cov_b):
    ``|mean_a - mean_b|^2 + tr(cov_a + cov_b - 2 (cov_a cov_b)^(1/2))``, >= 0.

    ``scipy.linalg.sqrtm`` of a product of (near-)singular covariances can fail or carry tiny
    imaginary parts from rounding: a singular product is retried with ``1e-6`` added to both
    diagonals, imaginary parts up to :data:`IMAGINARY_TOLERANCE` times the trace are dropped
    (larger ones raise ``ValueError``), and a negative total from rounding is returned as 0."""
    mean_a, mean_b = np.asarray(mean_a, "float64"), np.asarray(mean_b, "float64")
    cov_a, cov_b = np.atleast_2d(cov_a).astype("float64"), np.atleast_2d(cov_b).astype("float64")
    root = _sqrtm_of_product(cov_a, cov_b)
    if np.iscomplexobj(root):
        scale = max(abs(np.trace(root).real), np.finfo("float64").tiny)
        if np.max(np.abs(np.diagonal(root).imag)) > IMAGINARY_TOLERANCE * scale:
            raise ValueError("sqrtm(cov_a @ cov_b) has a large imaginary part: the covariances are not valid.")
        root = root.real
    diff = mean_a - mean_b
    distance = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root)
    return float(max(distance, 0.0))


def _sqrtm_of_product(cov_a: np.ndarray, cov_b: np.ndarray) -> np.ndarray:
    """``sqrtm(cov_a @ cov_b)``; if SciPy finds the product singular (features that never
    vary, such as ReLU units that stay at 0) or the result is not finite, ``sqrtm`` of the
    product with ``1e-6`` added to both diagonals."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            root = scipy.linalg.sqrtm(cov_a @ cov_b)
            if np.all(np.isfinite(root)):
                return root
        except scipy.linalg.LinAlgWarning:
            pass
    eye = 1e-6 * np.eye(len(cov_a))
    return scipy.linalg.sqrtm((cov_a + eye) @ (cov_b + eye))


def frechet_distance(judge: Judge, images_a, images_b, *, batch_size: int = 1024) -> float:
    """Fréchet distance between the judge's features of two image sets (each ``(n, 28, 28)`` or
    ``(n, 28, 28, 1)``, n >= 2, pixel rule); 0 for identical sets, in squared feature units."""
    stats = [feature_statistics(judge.features(x, batch_size=batch_size)) for x in (images_a, images_b)]
    return frechet_distance_from_statistics(*stats[0], *stats[1])


def frechet_floor(judge: Judge, images, *, seed: int = 0, batch_size: int = 1024) -> float:
    """The Fréchet distance between two random halves of ``images`` (split by ``seed``): what
    two samples of the same distribution, each half the size, score. For the test set this is
    the floor for a model's samples compared with test images."""
    seed = check_count(seed, name="seed", minimum=0)
    features = judge.features(images, batch_size=batch_size)
    if len(features) < 4:
        raise InputError(f"images must hold at least 4 images to split in halves, got {len(features)}.")
    order = np.random.default_rng(seed).permutation(len(features))
    half = len(order) // 2
    a, b = feature_statistics(features[order[:half]]), feature_statistics(features[order[half : 2 * half]])
    return frechet_distance_from_statistics(*a, *b)
