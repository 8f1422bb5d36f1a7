"""Tests of vae_tf.latent: interpolation, Gaussian fit, PCA, k-NN, coverage, model caching."""

import os

import keras
import numpy as np
import pytest

import vae_tf
from vae_tf.tools import latent
# --------------------------------------------------------------------------- interpolate
def test_linear_interpolation_is_evenly_spaced_with_exact_ends():
    a, b = np.array([1.0, -2.0, 0.5]), np.array([3.0, 2.0, -0.5])
    path = latent.interpolate(a, b, steps=5)
    assert path.shape == (5, 3) and path.dtype == np.float32
    np.testing.assert_array_equal(path[0], a.astype("float32"))
    np.testing.assert_array_equal(path[-1], b.astype("float32"))
    np.testing.assert_allclose(path[2], (a + b) / 2, rtol=1e-6)
    steps = np.diff(path, axis=0)
    np.testing.assert_allclose(steps, np.broadcast_to((b - a) / 4, steps.shape), rtol=1e-5)


def test_spherical_interpolation_follows_the_arc():
    a, b = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    path = latent.interpolate(a, b, steps=7, method="spherical")
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 2.0, rtol=1e-6)  # on the circle
    angles = np.arctan2(path[:, 1], path[:, 0])
    np.testing.assert_allclose(angles, np.linspace(0, np.pi / 2, 7), atol=1e-6)  # constant speed
    linear_mid = latent.interpolate(a, b, steps=3)[1]
    assert np.linalg.norm(linear_mid) < 1.5  # the chord cuts inside the circle; slerp does not


def test_spherical_interpolation_of_parallel_vectors_falls_back_to_linear():
    a, b = np.array([1.0, 1.0]), np.array([3.0, 3.0])
    np.testing.assert_allclose(
        latent.interpolate(a, b, 4, method="spherical"), latent.interpolate(a, b, 4), rtol=1e-6
    )
    zero = np.zeros(2)
    np.testing.assert_allclose(latent.interpolate(zero, b, 3, "spherical")[1], b / 2, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(z_a=np.zeros(2), z_b=np.zeros(3)), "same shape"),
        (dict(z_a=np.zeros(2), z_b=np.ones(2), steps=1), "steps"),
        (dict(z_a=np.zeros(2), z_b=np.ones(2), method="cubic"), "method"),
        (dict(z_a=np.zeros((1, 2)), z_b=np.ones(2)), "1-D"),
        (dict(z_a=np.array([np.nan, 0.0]), z_b=np.ones(2)), "finite"),
    ],
)
def test_interpolate_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        latent.interpolate(**kwargs)


# --------------------------------------------------------------------------- Gaussian fit
def test_fit_gaussian_recovers_mean_and_covariance_and_samples_match():
    rng = np.random.default_rng(0)
    cov = np.array([[4.0, 1.5], [1.5, 1.0]])
    codes = rng.multivariate_normal([3.0, -1.0], cov, size=20000)
    g = latent.fit_gaussian(codes)
    np.testing.assert_allclose(g.mean, codes.mean(axis=0))
    np.testing.assert_allclose(g.cov, np.cov(codes.T, bias=True))
    np.testing.assert_allclose(g.mean, [3.0, -1.0], atol=0.05)
    np.testing.assert_allclose(g.cov, cov, atol=0.1)
    s = g.sample(20000, seed=1)
    assert s.shape == (20000, 2) and s.dtype == np.float32
    np.testing.assert_allclose(np.cov(s.T), g.cov, atol=0.12)
    np.testing.assert_array_equal(s[:10], g.sample(10, seed=1)[:10])
    assert not np.array_equal(s[:10], g.sample(10, seed=2))


def test_gaussian_log_density_equals_the_whitened_product_of_normals():
    from scipy.stats import norm

    # log N(z | m, C) = sum_i log N(u_i | 0, 1) - log det L, with C = L L^T and u = L^-1 (z - m)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 4))
    g = latent.Gaussian(mean=rng.normal(size=4), cov=a @ a.T + 0.5 * np.eye(4))
    z = rng.normal(size=(7, 4)) * 2
    chol = np.linalg.cholesky(g.cov)
    u = np.linalg.solve(chol, (z - g.mean).T).T
    expected = norm.logpdf(u).sum(axis=1) - np.log(np.diag(chol)).sum()
    np.testing.assert_allclose(g.log_density(z), expected, rtol=1e-10)
    assert g.log_density(z[:1]).shape == (1,)
    diagonal = latent.Gaussian(mean=np.array([1.0, 2.0]), cov=np.diag([2.0, 0.5]))
    np.testing.assert_allclose(diagonal.log_density(z[:, :2]),
                               norm.logpdf(z[:, :2], [1.0, 2.0], np.sqrt([2.0, 0.5])).sum(axis=1), rtol=1e-10)


def test_gaussian_log_density_rejects_bad_codes_and_singular_covariances():
    g = latent.Gaussian(mean=np.zeros(2), cov=np.eye(2))
    with pytest.raises(ValueError, match="dimension 3, the Gaussian has 2"):
        g.log_density(np.zeros((4, 3)))
    collapsed = latent.fit_gaussian(np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]))  # no spread in z_2
    with pytest.raises(ValueError, match="not positive definite"):
        collapsed.log_density(np.zeros((1, 2)))


def test_fit_gaussian_rejects_bad_input():
    for bad in (np.zeros((1, 2)), np.zeros(5), np.zeros((0, 2)), np.array([[0.0, np.inf], [1.0, 1.0]])):
        with pytest.raises(ValueError):
            latent.fit_gaussian(bad)
    with pytest.raises(ValueError, match="positive integer"):
        latent.fit_gaussian(np.eye(3)).sample(0)


# --------------------------------------------------------------------------- PCA
def test_pca_finds_the_dominant_directions_and_reconstructs():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((6, 2)))[0].T  # 2 orthonormal directions in R^6
    codes = rng.standard_normal((500, 2)) * [5.0, 2.0]
    x = codes @ basis + [1, 2, 3, 4, 5, 6] + 0.01 * rng.standard_normal((500, 6))
    pca = latent.fit_pca(x, k=2)
    assert pca.components.shape == (2, 6)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-10)
    np.testing.assert_allclose(np.abs(pca.components @ basis.T), np.eye(2), atol=0.01)
    assert pca.explained_variance[0] > pca.explained_variance[1]
    assert 0.999 < pca.explained_variance_ratio.sum() <= 1.0
    proj = pca.transform(x)
    assert proj.shape == (500, 2)
    np.testing.assert_allclose(proj.var(axis=0), pca.explained_variance, rtol=1e-4)
    np.testing.assert_allclose(pca.inverse_transform(proj), x, atol=0.06)


def test_pca_matches_the_covariance_eigenvectors_on_images():
    x = np.random.default_rng(1).random((200, 4, 4))
    pca = latent.fit_pca(x, k=3)
    flat = x.reshape(200, -1)
    values, vectors = np.linalg.eigh(np.cov(flat.T, bias=True))
    np.testing.assert_allclose(pca.explained_variance, values[::-1][:3], rtol=1e-8)
    np.testing.assert_allclose(np.abs(pca.components @ vectors[:, ::-1][:, :3]), np.eye(3), atol=1e-6)
    assert np.all(pca.components[np.arange(3), np.argmax(np.abs(pca.components), axis=1)] > 0)
    wide = x[:10].reshape(10, -1)  # fewer examples than features: the SVD of the data itself
    small = latent.fit_pca(wide, k=3)
    values, vectors = np.linalg.eigh(np.cov(wide.T, bias=True))
    np.testing.assert_allclose(small.explained_variance, values[::-1][:3], rtol=1e-8)
    np.testing.assert_allclose(np.abs(small.components @ vectors[:, ::-1][:, :3]), np.eye(3), atol=1e-6)
    with pytest.raises(ValueError, match="features"):
        pca.transform(np.zeros((2, 15)))
    with pytest.raises(ValueError, match="k must be"):
        latent.fit_pca(x, k=17)


# --------------------------------------------------------------------------- neighbours
def test_nearest_distances_brute_force():
    rng = np.random.default_rng(0)
    q, r = rng.standard_normal((37, 3)), rng.standard_normal((50, 3))
    full = np.linalg.norm(q[:, None] - r[None], axis=-1)
    np.testing.assert_allclose(latent.nearest_distances(q, r, batch_size=8), full.min(1), rtol=1e-6)
    np.testing.assert_allclose(latent.nearest_distances(q, r, k=3), np.sort(full, 1)[:, 2], rtol=1e-6)
    with pytest.raises(ValueError, match="dimension"):
        latent.nearest_distances(q, r[:, :2])


def test_knn_separates_clusters_and_not_noise():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    y_train, y_test = rng.integers(0, 3, 300), rng.integers(0, 3, 200)
    z_train = centres[y_train] + rng.standard_normal((300, 2))
    z_test = centres[y_test] + rng.standard_normal((200, 2))
    assert latent.knn_accuracy(z_train, y_train, z_test, y_test, k=5) > 0.98
    # codes unrelated to the labels: about chance (1/3)
    noise_train, noise_test = rng.standard_normal((300, 2)), rng.standard_normal((200, 2))
    assert latent.knn_accuracy(noise_train, y_train, noise_test, y_test, k=5) < 0.5
    # k=1 on the training set itself returns the training labels
    np.testing.assert_array_equal(latent.knn_predict(z_train, y_train, z_train, k=1), y_train)
    with pytest.raises(ValueError, match="labels"):
        latent.knn_predict(z_train, y_train[:10], z_test)


def test_coverage_ratio_detects_samples_in_holes():
    rng = np.random.default_rng(0)
    ring = lambda n: np.c_[np.cos(t := rng.uniform(0, 2 * np.pi, n)), np.sin(t)] * 5  # noqa: E731
    data, held_out = ring(2000), ring(500)
    on_ring = latent.coverage_ratio(ring(500), data, held_out)
    gaussian = latent.fit_gaussian(data).sample(500, seed=0)  # fills the empty middle
    assert 0.7 < on_ring < 1.4
    assert latent.coverage_ratio(gaussian, data, held_out) > 5 * on_ring


# --------------------------------------------------------------------------- load_or_train
def test_load_or_train_trains_once_then_loads(tmp_path):
    calls = []

    def train():
        calls.append(1)
        keras.utils.set_random_seed(0)
        return vae_tf.VAE(
            vae_tf.build_encoder(latent_dim=2, hidden_units=(8,)),
            vae_tf.build_decoder(latent_dim=2, hidden_units=(8,)),
        )

    path = os.path.join(tmp_path, "sub", "m.keras")
    model, loaded = latent.load_or_train(path, train)
    assert not loaded and os.path.isfile(path) and len(calls) == 1
    again, loaded = latent.load_or_train(path, train)
    assert loaded and len(calls) == 1 and isinstance(again, vae_tf.VAE)
    z = np.random.default_rng(0).standard_normal((3, 2)).astype("float32")
    np.testing.assert_allclose(again.decode(z), model.decode(z), rtol=1e-6)
    with pytest.raises(TypeError, match="keras.Model"):
        latent.load_or_train(os.path.join(tmp_path, "other.keras"), lambda: "not a model")
