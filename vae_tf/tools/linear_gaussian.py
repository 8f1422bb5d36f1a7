"""A linear-Gaussian latent-variable model (probabilistic PCA) where everything is exact.

``p(z) = N(0, I_k)``, ``p(x | z) = N(W z + b, sigma^2 I_d)``. Then

* the evidence is Gaussian: ``p(x) = N(b, W W^T + sigma^2 I_d)``, so ``log p(x)`` is exact;
* the posterior is Gaussian: ``p(z | x) = N(M^{-1} W^T (x - b), sigma^2 M^{-1})`` with
  ``M = W^T W + sigma^2 I_k``;
* the ELBO of any Gaussian ``q(z | x) = N(m, diag(s^2))`` has a closed form.

It is the test bed for the claims of notebook 01 (``ELBO <= log p(x)``, with equality exactly
when ``q`` is the true posterior) and for checking importance-weighted estimators of
``log p(x)``. NumPy/SciPy only; all log-densities in nats, per example, shape ``(n,)``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import multivariate_normal

_LOG_2PI = np.log(2.0 * np.pi)


class LinearGaussianModel:
    """``p(z) = N(0, I_k)``, ``p(x|z) = N(W z + b, sigma^2 I_d)``.

    Args:
        W: loading matrix of shape ``(d, k)``.
        b: offset of shape ``(d,)``.
        sigma: observation noise standard deviation, ``> 0``.

    Raises:
        ValueError: on inconsistent shapes or ``sigma <= 0``.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, sigma: float):
        self.W = np.asarray(W, dtype="float64")
        self.b = np.asarray(b, dtype="float64")
        self.sigma = float(sigma)
        if self.W.ndim != 2 or self.b.shape != (self.W.shape[0],):
            raise ValueError(f"need W of shape (d, k) and b of shape (d,), got {self.W.shape} and {self.b.shape}.")
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma!r}.")

    @classmethod
    def random(cls, d: int = 5, k: int = 2, sigma: float = 0.5, seed: int = 0) -> "LinearGaussianModel":
        """A model with orthogonal columns of ``W`` (distinct lengths 1, 2, ...), so that the
        true posterior covariance is diagonal and a mean-field ``q`` can match it exactly."""
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(rng.normal(size=(d, k)))
        return cls(q * np.arange(1, k + 1), rng.normal(size=d), sigma)

    @property
    def d(self) -> int:
        return self.W.shape[0]

    @property
    def k(self) -> int:
        return self.W.shape[1]

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``(x, z)`` from the joint: shapes ``(n, d)`` and ``(n, k)``."""
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(n, self.k))
        x = z @ self.W.T + self.b + self.sigma * rng.normal(size=(n, self.d))
        return x, z

    def log_marginal(self, x: np.ndarray) -> np.ndarray:
        """Exact ``log p(x)`` for ``x`` of shape ``(n, d)``: shape ``(n,)``."""
        cov = self.W @ self.W.T + self.sigma**2 * np.eye(self.d)
        return np.atleast_1d(multivariate_normal(self.b, cov).logpdf(np.asarray(x)))

    def log_likelihood(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``log p(x | z)`` for ``x`` ``(n, d)`` and ``z`` ``(..., n, k)``: shape ``(..., n)``."""
        r = np.asarray(x) - (np.asarray(z) @ self.W.T + self.b)
        return -0.5 * np.sum(r**2, axis=-1) / self.sigma**2 - self.d * (np.log(self.sigma) + 0.5 * _LOG_2PI)

    def log_prior(self, z: np.ndarray) -> np.ndarray:
        """``log p(z)`` under ``N(0, I_k)``: shape ``z.shape[:-1]``."""
        z = np.asarray(z)
        return -0.5 * np.sum(z**2, axis=-1) - 0.5 * self.k * _LOG_2PI

    def log_joint(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``log p(x, z) = log p(x | z) + log p(z)``: shape ``z.shape[:-1]``."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The exact posterior ``p(z | x)``: means ``(n, k)`` and the shared covariance ``(k, k)``."""
        M = self.W.T @ self.W + self.sigma**2 * np.eye(self.k)
        mean = np.linalg.solve(M, self.W.T @ (np.asarray(x) - self.b).T).T
        return mean, self.sigma**2 * np.linalg.inv(M)

    def elbo(self, x: np.ndarray, q_mean: np.ndarray, q_log_var: np.ndarray) -> np.ndarray:
        """Exact ELBO ``E_q[log p(x|z)] - KL(q || p(z))`` of ``q = N(q_mean, diag(exp(q_log_var)))``:
        shape ``(n,)``. Equals :meth:`log_marginal` iff ``q`` is the true posterior."""
        x, m, lv = np.asarray(x), np.asarray(q_mean), np.asarray(q_log_var)
        r = x - (m @ self.W.T + self.b)
        trace = np.exp(lv) @ np.sum(self.W**2, axis=0)  # E_q ||W (z - m)||^2
        expected_ll = -0.5 * (np.sum(r**2, axis=-1) + trace) / self.sigma**2 - self.d * (
            np.log(self.sigma) + 0.5 * _LOG_2PI
        )
        kl = 0.5 * np.sum(np.exp(lv) + m**2 - 1.0 - lv, axis=-1)
        return expected_ll - kl
