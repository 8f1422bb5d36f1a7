"""Tests for vae_tf.autoencoders: the deterministic, linear and denoising autoencoders."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import scipy.linalg

import vae_tf
from vae_tf import Autoencoder, build_decoder, build_encoder, corrupt

SHAPE = (8, 8, 1)


def _images(n=256, seed=0):
    """Structured images in [0, 1]: sigmoid of a random rank-3 pattern, shape (n, 8, 8, 1)."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(3, int(np.prod(SHAPE))))
    logits = 2.0 * rng.normal(size=(n, 3)) @ basis / np.sqrt(3)
    return (1 / (1 + np.exp(-logits))).reshape((n,) + SHAPE).astype("float32")


def _autoencoder(loss="bernoulli", arch="mlp", latent_dim=4, init_seed=0, **kwargs):
    """A small autoencoder for 8x8 images; ``init_seed`` seeds the weights, ``kwargs`` go to Autoencoder."""
    keras.utils.set_random_seed(init_seed)
    hidden = (32,) if arch == "mlp" else (16,)
    enc = build_encoder(SHAPE, latent_dim, arch=arch, hidden_units=hidden, filters=(4, 8), variational=False)
    dec = build_decoder(SHAPE, latent_dim, arch=arch, hidden_units=hidden, filters=(4, 8))
    return Autoencoder(enc, dec, loss=loss, **kwargs)


@pytest.mark.parametrize("loss", ["bernoulli", "gaussian", "squared_error"])
def test_training_lowers_loss_and_metric_is_the_mean_per_example_loss(loss):
    x = _images()
    ae = _autoencoder(loss)
    ae.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = ae.evaluate(x, batch_size=64, verbose=0)
    np.testing.assert_allclose(before, ae.reconstruction_loss(x).mean(), rtol=1e-5)
    history = ae.fit(x, epochs=4, batch_size=32, verbose=0)
    after = ae.evaluate(x, batch_size=64, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert after < 0.9 * before, (before, after)
    assert ae.encode(x).shape == (len(x), 4)
    assert ae.reconstruct(x).shape == x.shape


def test_losses_match_their_formulas():
    x = _images(16)
    for loss in ("bernoulli", "gaussian", "squared_error"):
        ae = _autoencoder(loss, sigma=0.2)
        out = keras.ops.convert_to_numpy(ae.decoder(ae.encoder(x))).reshape(len(x), -1)
        t = x.reshape(len(x), -1).astype("float64")
        if loss == "bernoulli":  # binary cross-entropy from logits, summed over pixels
            expected = (np.logaddexp(0, out) - t * out).sum(1)
        elif loss == "gaussian":
            mean = 1 / (1 + np.exp(-out))
            expected = (0.5 * ((t - mean) / 0.2) ** 2 + np.log(0.2) + 0.5 * np.log(2 * np.pi)).sum(1)
        else:  # linear output
            expected = ((t - out) ** 2).sum(1)
        np.testing.assert_allclose(ae.reconstruction_loss(x), expected, rtol=1e-4, atol=1e-3)


def test_squared_error_output_is_linear_and_others_are_pixel_means():
    x = _images(32)
    lin = _autoencoder("squared_error")
    raw = keras.ops.convert_to_numpy(lin.decoder(lin.encoder(x)))
    np.testing.assert_allclose(lin.reconstruct(x), raw, rtol=1e-5, atol=1e-6)
    ber = _autoencoder("bernoulli")
    logits = keras.ops.convert_to_numpy(ber.decoder(ber.encoder(x)))
    np.testing.assert_allclose(ber.reconstruct(x), 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ber.decode(ber.encode(x)), ber.reconstruct(x), rtol=1e-5, atol=1e-6)


def test_conv_autoencoder_with_batch_norm_trains_and_evaluates_in_inference_mode():
    x = _images(96)
    keras.utils.set_random_seed(1)
    kw = dict(arch="conv", filters=(4, 8), hidden_units=(), batch_norm=True, activation="leaky_relu")
    ae = Autoencoder(build_encoder(SHAPE, 4, variational=False, **kw), build_decoder(SHAPE, 4, **kw))
    ae.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = ae.fit(x, epochs=3, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.95 * history[0], history  # batch statistics in training mode
    # Inference uses the moving statistics: an image scores the same alone or in a batch.
    np.testing.assert_allclose(ae.reconstruction_loss(x[:1]), ae.reconstruction_loss(x[:64])[:1], rtol=1e-4)


# ------------------------------------------------------------------------- corruption
def test_masking_drops_about_level_fraction_and_keeps_the_rest():
    x = np.full((200, 28, 28, 1), 0.7, "float32")
    for level in (0.0, 0.25, 0.5, 0.9):
        noisy = keras.ops.convert_to_numpy(corrupt(x, "masking", level, seed=3))
        dropped = noisy == 0
        assert abs(dropped.mean() - level) < 0.01, (level, dropped.mean())
        np.testing.assert_array_equal(noisy[~dropped], x[~dropped])
    everything = keras.ops.convert_to_numpy(corrupt(x, "masking", 1.0, seed=3))
    assert (everything == 0).all()


def test_gaussian_noise_has_the_level_as_std_and_is_clipped_to_unit_interval():
    x = np.full((100, 28, 28, 1), 0.5, "float32")
    small = keras.ops.convert_to_numpy(corrupt(x, "gaussian", 0.1, seed=4))
    assert abs(small.mean() - 0.5) < 0.002
    assert abs(small.std() - 0.1) < 0.002  # clipping at 5 sigma changes nothing measurable
    big = keras.ops.convert_to_numpy(corrupt(x, "gaussian", 2.0, seed=4))
    assert big.min() == 0.0 and big.max() == 1.0
    assert 0.35 < (big == 0).mean() < 0.45  # P(N(0, 2^2) < -0.5) = 0.401


def test_corruption_is_reproducible_by_seed_and_none_is_identity():
    x = _images(8)
    a = keras.ops.convert_to_numpy(corrupt(x, "gaussian", 0.3, seed=7))
    b = keras.ops.convert_to_numpy(corrupt(x, "gaussian", 0.3, seed=7))
    c = keras.ops.convert_to_numpy(corrupt(x, "gaussian", 0.3, seed=8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert corrupt(x, None, 0.0) is x


def test_denoising_autoencoder_scores_corrupted_inputs_against_clean_targets():
    x = _images(64)
    # masking with level 1 blanks every input: the loss must be that of reconstructing x from zeros
    dae = _autoencoder("bernoulli", corruption="masking", noise_level=1.0, init_seed=2)
    dae.compile(optimizer="adam")
    expected = dae.reconstruction_loss(x, np.zeros_like(x)).mean()
    np.testing.assert_allclose(dae.evaluate(x, verbose=0), expected, rtol=1e-5)
    assert abs(expected - dae.reconstruction_loss(x).mean()) > 1e-3  # clean inputs score differently
    # a gaussian denoiser's loss is random but reproducible from its seed
    losses = []
    for _ in range(2):
        g = _autoencoder("bernoulli", corruption="gaussian", noise_level=0.5, seed=5)
        g.compile(optimizer="adam")
        losses.append(g.evaluate(x, verbose=0))
    assert losses[0] == losses[1]
    assert abs(losses[0] - g.reconstruction_loss(x).mean()) > 1e-3


def test_denoising_training_lowers_the_loss_on_noisy_inputs():
    x = _images(512)
    noisy = keras.ops.convert_to_numpy(corrupt(x, "masking", 0.5, seed=11))
    dae = _autoencoder("bernoulli", corruption="masking", noise_level=0.5, init_seed=3, seed=3)
    dae.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = dae.reconstruction_loss(x, noisy).mean()
    dae.fit(x, epochs=4, batch_size=32, verbose=0)
    assert dae.reconstruction_loss(x, noisy).mean() < 0.9 * before


# ------------------------------------------------------------------------- saving
def test_save_and_load_round_trip(tmp_path):
    x = _images(32)
    ae = _autoencoder("gaussian", sigma=0.3, corruption="masking", noise_level=0.2, seed=9)
    ae.compile(optimizer="adam")
    ae.fit(x, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "ae.keras"
    ae.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, Autoencoder)
    assert (loaded.reconstruction, loaded.sigma, loaded.corruption, loaded.noise_level, loaded.seed) == (
        "gaussian",
        0.3,
        "masking",
        0.2,
        9,
    )
    np.testing.assert_array_equal(loaded.encode(x), ae.encode(x))
    np.testing.assert_array_equal(loaded.reconstruct(x), ae.reconstruct(x))
    np.testing.assert_allclose(loaded.reconstruction_loss(x), ae.reconstruction_loss(x), rtol=1e-6)


# ------------------------------------------------------------------------- bad arguments
def test_bad_arguments_raise_clear_errors():
    enc = build_encoder(SHAPE, 4, variational=False, hidden_units=(8,))
    dec = build_decoder(SHAPE, 4, hidden_units=(8,))
    with pytest.raises(ValueError, match="loss must be one of"):
        Autoencoder(enc, dec, loss="mse")
    with pytest.raises(ValueError, match="corruption must be one of"):
        Autoencoder(enc, dec, corruption="salt")
    with pytest.raises(ValueError, match="out of range"):
        Autoencoder(enc, dec, corruption="masking", noise_level=1.5)
    with pytest.raises(ValueError, match="out of range"):
        Autoencoder(enc, dec, corruption="gaussian", noise_level=-0.1)
    with pytest.raises(ValueError, match="no effect without a corruption"):
        Autoencoder(enc, dec, noise_level=0.3)
    with pytest.raises(ValueError, match="sigma must be a positive"):
        Autoencoder(enc, dec, loss="gaussian", sigma=0.0)
    with pytest.raises(ValueError, match="width 5"):
        Autoencoder(enc, build_decoder(SHAPE, 5, hidden_units=(8,)))
    with pytest.raises(ValueError, match="shape"):
        Autoencoder(enc, build_decoder((4, 4, 1), 4, hidden_units=(8,)))
    with pytest.raises(ValueError, match="corruption must be one of"):
        corrupt(np.zeros((2, 2)), "blur", 0.1)
    with pytest.raises(ValueError, match="out of range"):
        corrupt(np.zeros((2, 2)), "masking", float("nan"))
    ae = Autoencoder(enc, dec)
    x = _images(4)
    with pytest.raises(ValueError, match="x_input must have the shape"):
        ae.reconstruction_loss(x, x[:2])
    with pytest.raises(ValueError, match="at least one example"):
        ae.encode(x[:0])


# ------------------------------------------------------------------------- linear AE = PCA
def test_linear_autoencoder_recovers_the_pca_subspace_and_error():
    """Baldi & Hornik (1989): a linear autoencoder with squared error reaches PCA's error and
    spans the top principal subspace (not necessarily with PCA's orthonormal basis)."""
    rng = np.random.default_rng(0)
    d, k, n = 20, 3, 1024
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.array([3.0, 2.5, 2.0] + [0.3] * (d - k))  # a clear eigengap after k
    x = ((rng.normal(size=(n, d)) * scales) @ q.T + 0.5).astype("float32")
    centred = x - x.mean(0)
    eigvals, eigvecs = np.linalg.eigh(centred.T @ centred / n)
    top = eigvecs[:, ::-1][:, :k]
    pca_error = eigvals[::-1][k:].sum()  # Eckart-Young: the sum of the discarded eigenvalues
    np.testing.assert_allclose(((centred - centred @ top @ top.T) ** 2).sum(1).mean(), pca_error, rtol=1e-6)

    keras.utils.set_random_seed(0)
    shape = (4, 5, 1)
    ae = Autoencoder(
        build_encoder(shape, k, variational=False, hidden_units=()),
        build_decoder(shape, k, hidden_units=()),
        loss="squared_error",
    )
    epochs, batch = 40, 128
    ae.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.05, epochs * n // batch)))
    images = x.reshape((n,) + shape)
    ae.fit(np.tile(images, (epochs, 1, 1, 1)), epochs=1, batch_size=batch, verbose=0)  # one fit: less overhead
    error = ae.evaluate(images, batch_size=n, verbose=0)
    assert pca_error * 0.999 < error < pca_error * 1.03, (error, pca_error)
    columns = ae.decoder.get_layer("logits_flat").kernel.numpy().T  # (d, k): the decoder's basis
    angles = np.degrees(scipy.linalg.subspace_angles(columns, top))
    assert angles.max() < 3.0, angles
    gram = columns.T @ columns  # not PCA's orthonormal basis in general
    assert np.abs(gram - np.diag(np.diag(gram))).max() > 1e-3
