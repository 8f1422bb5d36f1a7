"""Latent-space tools: interpolation, a Gaussian fitted to codes, PCA, k-NN and coverage.

Everything here is NumPy (SciPy for the Gaussian density) and works on codes of any dimension
``d``: arrays of shape ``(n, d)``. :func:`load_or_train` caches a trained Keras model on disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

INTERPOLATIONS = ("linear", "spherical")


def _codes(z, name: str = "codes") -> np.ndarray:
    z = np.asarray(z, dtype="float64")
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty array of shape (n, d), got shape {z.shape}.")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{name} contain NaN or infinite values.")
    return z


def _vector(z, name: str) -> np.ndarray:
    z = np.asarray(z, dtype="float64")
    if z.ndim != 1 or z.size == 0 or not np.all(np.isfinite(z)):
        raise ValueError(f"{name} must be a finite 1-D vector, got shape {z.shape}.")
    return z


# --------------------------------------------------------------------------- interpolation
def interpolate(z_a, z_b, steps: int = 10, method: str = "linear") -> np.ndarray:
    """Codes on a path from ``z_a`` to ``z_b`` (each of shape ``(d,)``), both ends included.

    ``method="linear"``: ``(1 - t) z_a + t z_b``. ``method="spherical"`` (slerp, White 2016):
    ``sin((1-t) w) / sin(w) z_a + sin(t w) / sin(w) z_b`` with ``w`` the angle between the
    vectors, which keeps the path at a typical distance from the origin of ``N(0, I)``;
    falls back to linear when the vectors are (anti-)parallel (``sin(w) < 1e-6``).
    ``t`` runs over ``steps`` evenly spaced values in ``[0, 1]``.

    Returns ``float32`` codes of shape ``(steps, d)``; row 0 is ``z_a`` and row ``-1`` is
    ``z_b`` exactly. Raises ``ValueError`` for ``steps < 2``, vectors of different shapes,
    or an unknown ``method``.
    """
    z_a, z_b = _vector(z_a, "z_a"), _vector(z_b, "z_b")
    if z_a.shape != z_b.shape:
        raise ValueError(f"z_a and z_b must have the same shape, got {z_a.shape} and {z_b.shape}.")
    if int(steps) != steps or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}.")
    if method not in INTERPOLATIONS:
        raise ValueError(f"method must be one of {INTERPOLATIONS}, got {method!r}.")
    t = np.linspace(0.0, 1.0, int(steps))[:, None]
    path = (1 - t) * z_a + t * z_b
    if method == "spherical":
        norms = np.linalg.norm(z_a) * np.linalg.norm(z_b)
        if norms > 0:
            omega = np.arccos(np.clip(z_a @ z_b / norms, -1.0, 1.0))
            if np.sin(omega) >= 1e-6:
                path = (np.sin((1 - t) * omega) * z_a + np.sin(t * omega) * z_b) / np.sin(omega)
    path[0], path[-1] = z_a, z_b
    return path.astype("float32")


# --------------------------------------------------------------------------- Gaussian fit
@dataclass(frozen=True)
class Gaussian:
    """A multivariate normal ``N(mean, cov)``: ``mean`` ``(d,)``, ``cov`` ``(d, d)``."""

    mean: np.ndarray
    cov: np.ndarray

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` draws, ``float32`` of shape ``(n, d)``; the same ``seed`` gives the same draws."""
        if int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        rng = np.random.default_rng(seed)
        return rng.multivariate_normal(self.mean, self.cov, size=int(n), method="eigh").astype("float32")

    def log_density(self, z) -> np.ndarray:
        """``log N(z | mean, cov)`` for codes ``z`` ``(n, d)``: shape ``(n,)``, nats
        (``scipy.stats.multivariate_normal.logpdf``). Raises ``ValueError`` for codes of another
        dimension or a covariance that is not positive definite."""
        from scipy.stats import multivariate_normal

        z = _codes(z)
        if z.shape[1] != self.mean.shape[0]:
            raise ValueError(f"codes have dimension {z.shape[1]}, the Gaussian has {self.mean.shape[0]}.")
        try:
            dist = multivariate_normal(self.mean, self.cov, allow_singular=False)
        except (np.linalg.LinAlgError, ValueError):
            raise ValueError("the covariance is not positive definite.") from None
        return np.atleast_1d(dist.logpdf(z))


def fit_gaussian(codes) -> Gaussian:
    """Maximum-likelihood Gaussian fitted to ``codes`` ``(n, d)`` (``n >= 2``): the sample mean
    and the (biased, ``1/n``) sample covariance. Raises ``ValueError`` for bad input."""
    z = _codes(codes)
    if len(z) < 2:
        raise ValueError(f"need at least 2 codes to fit a Gaussian, got {len(z)}.")
    mean = z.mean(axis=0)
    diff = z - mean
    return Gaussian(mean=mean, cov=diff.T @ diff / len(z))


# --------------------------------------------------------------------------- PCA
@dataclass(frozen=True)
class PCA:
    """Principal components of data ``x`` ``(n, p)``, from :func:`fit_pca`.

    ``mean`` ``(p,)``; ``components`` ``(k, p)``, orthonormal rows, by decreasing variance;
    ``explained_variance`` ``(k,)`` (variance of the data along each component, ``1/n``) and
    ``explained_variance_ratio`` ``(k,)`` (fraction of the total variance).
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray

    def transform(self, x) -> np.ndarray:
        """Project data ``(n, ...)`` (flattened to ``(n, p)``) onto the components: ``(n, k)``."""
        x = np.asarray(x, dtype="float64").reshape(len(x), -1)
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"data have {x.shape[1]} features, the PCA was fitted on {self.mean.shape[0]}.")
        return ((x - self.mean) @ self.components.T).astype("float32")

    def inverse_transform(self, codes) -> np.ndarray:
        """Map codes ``(n, k)`` back to data space: ``(n, p)``, the best rank-``k`` reconstruction."""
        codes = _codes(codes)
        if codes.shape[1] != self.components.shape[0]:
            raise ValueError(f"codes have dimension {codes.shape[1]}, the PCA has {self.components.shape[0]}.")
        return (codes @ self.components + self.mean).astype("float32")


def fit_pca(x, k: int = 2) -> PCA:
    """PCA of ``x`` ``(n, ...)`` (flattened to ``(n, p)``) keeping ``k`` components: the SVD
    of the centred data (when ``n > p``, the equivalent and faster eigendecomposition of their
    ``p x p`` scatter matrix). Component signs are fixed so that the largest-magnitude entry of
    each is positive (deterministic output). Raises ``ValueError`` unless
    ``1 <= k <= min(n, p)``."""
    x = np.asarray(x, dtype="float64").reshape(len(x), -1)
    n, p = x.shape
    if int(k) != k or not 1 <= k <= min(n, p):
        raise ValueError(f"k must be an integer in [1, min(n, p) = {min(n, p)}], got {k!r}.")
    mean = x.mean(axis=0)
    xc = x - mean
    if n > p:  # eigenvectors of the p x p scatter matrix xc^T xc = V diag(s^2) V^T: faster for n >> p
        s2, v = np.linalg.eigh(xc.T @ xc)
        s2, vt = np.maximum(s2[::-1], 0.0), v[:, ::-1].T
    else:
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
        s2 = s**2
    vt = vt[: int(k)]
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    variance = s2 / n
    return PCA(
        mean=mean,
        components=vt * signs[:, None],
        explained_variance=variance[: int(k)],
        explained_variance_ratio=variance[: int(k)] / variance.sum(),
    )


# --------------------------------------------------------------------------- neighbours
def _pairwise_sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.sum(a**2, axis=1)[:, None] - 2 * a @ b.T + np.sum(b**2, axis=1)[None, :]
    return np.maximum(d, 0.0)


def nearest_distances(queries, reference, k: int = 1, batch_size: int = 512) -> np.ndarray:
    """Euclidean distance from each query ``(m, d)`` to its ``k``-th nearest point of
    ``reference`` ``(n, d)`` (``k=1``: the nearest): shape ``(m,)``. Brute force, in
    batches of ``batch_size`` queries."""
    q, r = _codes(queries, "queries"), _codes(reference, "reference")
    _check_pair(q, r, k)
    out = np.empty(len(q))
    for i in range(0, len(q), batch_size):
        d2 = _pairwise_sq(q[i : i + batch_size], r)
        out[i : i + batch_size] = np.sqrt(np.partition(d2, k - 1, axis=1)[:, k - 1])
    return out


def _check_pair(q: np.ndarray, r: np.ndarray, k: int) -> None:
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries have dimension {q.shape[1]}, reference points {r.shape[1]}.")
    if int(k) != k or not 1 <= k <= len(r):
        raise ValueError(f"k must be an integer in [1, {len(r)}], got {k!r}.")


def knn_predict(train_codes, train_labels, codes, k: int = 5, batch_size: int = 512) -> np.ndarray:
    """Labels of ``codes`` ``(m, d)`` by majority vote of their ``k`` nearest training codes
    (Euclidean; ties go to the smallest label). ``train_labels``: integers ``(n,)``.
    Returns ``int64`` labels ``(m,)``."""
    r, q = _codes(train_codes, "train_codes"), _codes(codes)
    labels = np.asarray(train_labels).astype("int64").reshape(-1)
    if len(labels) != len(r):
        raise ValueError(f"{len(r)} training codes but {len(labels)} labels.")
    if labels.min() < 0:
        raise ValueError("labels must be non-negative integers.")
    _check_pair(q, r, k)
    n_classes = int(labels.max()) + 1
    out = np.empty(len(q), dtype="int64")
    for i in range(0, len(q), batch_size):
        idx = np.argpartition(_pairwise_sq(q[i : i + batch_size], r), k - 1, axis=1)[:, :k]
        votes = np.apply_along_axis(np.bincount, 1, labels[idx], minlength=n_classes)
        out[i : i + batch_size] = np.argmax(votes, axis=1)
    return out


def knn_accuracy(train_codes, train_labels, codes, labels, k: int = 5) -> float:
    """Fraction of ``codes`` whose :func:`knn_predict` label equals ``labels``: how well the
    digit classes separate in the code space (chance is about ``1 / n_classes``)."""
    pred = knn_predict(train_codes, train_labels, codes, k)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(pred):
        raise ValueError(f"{len(pred)} codes but {len(labels)} labels.")
    return float(np.mean(pred == labels))


def coverage_ratio(samples, data_codes, held_out_codes) -> float:
    """How far samples land from the data, relative to how far real data lie from each other.

    The median distance from each of ``samples`` to its nearest point of ``data_codes``,
    divided by the same median for ``held_out_codes`` (codes of other real images). About 1:
    samples fall where data are; much larger: many samples fall in empty regions ("holes").
    All arrays ``(n, d)`` with the same ``d``.
    """
    reference = np.median(nearest_distances(held_out_codes, data_codes))
    if reference <= 0:
        raise ValueError("held-out codes coincide with data codes; the reference distance is 0.")
    return float(np.median(nearest_distances(samples, data_codes)) / reference)


# --------------------------------------------------------------------------- caching models
def load_or_train(path: str | os.PathLike, train: Callable[[], "keras.Model"]) -> tuple["keras.Model", bool]:
    """Load the Keras model saved at ``path`` if the file exists, else call ``train()`` (which
    must return a trained ``keras.Model``), save the result to ``path`` (creating its folder;
    written to a temporary file and renamed, so the file is never seen half-written) and return
    it. Returns ``(model, loaded)`` with ``loaded`` True when read from disk. Import ``vae_tf``
    before loading a file that holds its models (it registers them). Raises ``TypeError`` if
    ``train()`` returns something else than a ``keras.Model``."""
    import keras

    from .files import atomic_save_model

    path = os.fspath(path)
    if os.path.isfile(path):
        return keras.models.load_model(path), True
    model = train()
    if not isinstance(model, keras.Model):
        raise TypeError(f"train() must return a keras.Model, got {type(model).__name__}.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_save_model(model, path)  # a reader never sees a half-written file
    return model, False
