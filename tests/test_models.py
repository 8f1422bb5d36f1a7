"""The VAE model: training steps, metrics that add up, evaluation, save/load, determinism."""

import keras
import numpy as np
import pytest

import vae_tf


def make_vae(arch="mlp", latent_dim=2, likelihood="bernoulli", beta=1.0, seed=0):
    keras.utils.set_random_seed(seed)
    enc = vae_tf.build_encoder(latent_dim=latent_dim, arch=arch)
    dec = vae_tf.build_decoder(latent_dim=latent_dim, arch=arch)
    vae = vae_tf.VAE(enc, dec, beta=beta, likelihood=likelihood, seed=seed)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return vae


def test_builders_output_shapes():
    enc = vae_tf.build_encoder(latent_dim=3, arch="conv")
    dec = vae_tf.build_decoder(latent_dim=3, arch="conv")
    x = np.zeros((2, 28, 28, 1), "float32")
    z_mean, z_log_var = enc(x)  # the model draws z: one sampler per VAE (issue 31)
    assert z_mean.shape == z_log_var.shape == (2, 3)
    assert dec(z_mean).shape == (2, 28, 28, 1)
    assert not [l for l in enc.layers if isinstance(l, vae_tf.Sampling)]
    mlp = vae_tf.build_encoder(latent_dim=4, hidden_units=(64, 32))
    assert [l.units for l in mlp.layers if isinstance(l, keras.layers.Dense)] == [64, 32, 4, 4]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"arch": "transformer"}, "arch"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"arch": "conv", "input_shape": (30, 30, 1)}, "divisible by 4"),
    ],
)
def test_builders_reject_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vae_tf.build_encoder(**kwargs)


def test_vae_rejects_bad_arguments():
    enc, dec = vae_tf.build_encoder(), vae_tf.build_decoder()
    with pytest.raises(ValueError, match="likelihood"):
        vae_tf.VAE(enc, dec, likelihood="poisson")
    with pytest.raises(ValueError, match="beta"):
        vae_tf.VAE(enc, dec, beta=-1)
    with pytest.raises(ValueError, match="sigma"):
        vae_tf.VAE(enc, dec, likelihood="gaussian", sigma=0)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_each_architecture_and_likelihood_trains_a_step(small_batch, arch, likelihood):
    x, _ = small_batch
    vae = make_vae(arch=arch, likelihood=likelihood)
    logs = vae.train_on_batch(x[:64], return_dict=True)
    assert set(logs) == {"loss", "reconstruction_loss", "kl_loss"}
    assert all(np.isfinite(v) for v in logs.values())
    assert all(np.isfinite(w).all() for w in vae.get_weights())


def test_training_steps_lower_the_loss_on_real_mnist(small_batch):
    x, _ = small_batch
    vae = make_vae()
    before = vae.evaluate(x, batch_size=128, return_dict=True, verbose=0)["loss"]
    for _ in range(3):
        for i in range(0, len(x), 64):
            vae.train_on_batch(x[i : i + 64])
    after = vae.evaluate(x, batch_size=128, return_dict=True, verbose=0)["loss"]
    assert after < before - 50, (before, after)


@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_logged_loss_is_reconstruction_plus_beta_kl(small_batch, beta):
    x, _ = small_batch
    vae = make_vae(beta=beta)
    history = vae.fit(x, x[:, 0, 0, 0], epochs=2, batch_size=100, validation_data=(x[:200],), verbose=0).history
    for prefix in ("", "val_"):
        total = np.array(history[prefix + "loss"])
        parts = np.array(history[prefix + "reconstruction_loss"]) + beta * np.array(history[prefix + "kl_loss"])
        np.testing.assert_allclose(total, parts, rtol=1e-5)
    result = vae.evaluate(x, batch_size=96, return_dict=True, verbose=0)
    assert set(result) == {"loss", "reconstruction_loss", "kl_loss"}
    np.testing.assert_allclose(result["loss"], result["reconstruction_loss"] + beta * result["kl_loss"], rtol=1e-5)


def test_evaluate_averages_per_example(small_batch):
    """With batches of unequal size the metric is the mean over examples, not over batches."""
    x, _ = small_batch
    vae = make_vae()
    x = x[:130]
    per_example = vae.loss_terms(x, training=False)["kl_loss"]  # KL does not depend on the noise
    result = vae.evaluate(x, batch_size=128, return_dict=True, verbose=0)
    np.testing.assert_allclose(result["kl_loss"], float(np.mean(per_example)), rtol=1e-5)


def test_save_load_round_trip(small_batch, tmp_path):
    x, _ = small_batch
    vae = make_vae(arch="conv", latent_dim=3, beta=2.0, likelihood="gaussian")
    vae.fit(x[:256], epochs=1, batch_size=64, verbose=0)
    path = tmp_path / "vae.keras"
    vae.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, vae_tf.VAE)
    assert (loaded.beta, loaded.likelihood, loaded.sigma, loaded.latent_dim) == (2.0, "gaussian", 0.1, 3)
    a, b = vae.encode(x[:50]), loaded.encode(x[:50])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(vae.decode(a[0]), loaded.decode(a[0]))
    # optimizer state came back too: one more identical step gives identical weights
    assert loaded.optimizer.iterations.numpy() == vae.optimizer.iterations.numpy()


def test_same_seed_gives_the_same_numbers(small_batch):
    x, _ = small_batch

    def run():
        vae = make_vae(seed=3)
        hist = vae.fit(vae_tf.make_dataset(x[:256], batch_size=64, seed=3), epochs=2, verbose=0).history
        return hist["loss"], vae.sample(4, seed=9)

    (loss_a, img_a), (loss_b, img_b) = run(), run()
    assert loss_a == loss_b
    np.testing.assert_array_equal(img_a, img_b)


def test_convenience_methods(small_batch):
    x, _ = small_batch
    vae = make_vae(latent_dim=3)
    many = np.concatenate([x, x])[:700]  # more than one encode batch, a partial last batch
    z_mean, z_log_var = vae.encode(many, batch_size=256)
    assert z_mean.shape == z_log_var.shape == (700, 3)
    np.testing.assert_allclose(z_mean[512:], z_mean[:188], rtol=1e-4, atol=1e-6)
    rec = vae.reconstruct(x[:10])
    assert rec.shape == (10, 28, 28, 1) and rec.min() >= 0 and rec.max() <= 1
    samples = vae.sample(6, seed=1)
    assert samples.shape == (6, 28, 28, 1) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, vae.sample(6, seed=1))
    kl = vae.kl_per_dimension(x[:100])
    expected = keras.ops.convert_to_numpy(vae_tf.kl_divergence(*vae.encode(x[:100]), per_dimension=True)).mean(0)
    assert kl.shape == (3,)
    np.testing.assert_allclose(kl, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="empty"):
        vae.encode(x[:0])


def test_reparameterization_noise_continues_after_save_and_load(small_batch, tmp_path):
    """The Sampling layer's RNG state is saved: after load, the next draw is the one the original
    model would have made next (needed for an exact resume)."""
    x, _ = small_batch
    vae = make_vae(seed=4)
    vae.fit(x[:128], batch_size=64, epochs=1, verbose=0)  # advances the noise generator
    vae.save(tmp_path / "vae.keras")
    loaded = keras.models.load_model(tmp_path / "vae.keras")
    zeros = np.zeros((16, 2), "float32")
    fresh = keras.ops.convert_to_numpy(vae_tf.Sampling(seed=4)([zeros, zeros]))
    a = keras.ops.convert_to_numpy(vae.sampling([zeros, zeros]))
    b = keras.ops.convert_to_numpy(loaded.sampling([zeros, zeros]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fresh)  # the state had moved on from the seed
    loss_a = vae.evaluate(x[:64], batch_size=64, verbose=0)
    loss_b = loaded.evaluate(x[:64], batch_size=64, verbose=0)
    assert loss_a == loss_b  # same weights, same next noise: the same numbers


def test_train_step_logs_exactly_the_terms_loss_terms_computes():
    """train_step computes the ELBO inline; loss_terms (evaluation, the family) computes it again.
    With the same weights and the same noise generator the two give the same numbers."""
    x = np.random.default_rng(0).uniform(size=(64, 28, 28, 1)).astype("float32")
    for beta in (1.0, 3.0):
        trained, reference = make_vae(beta=beta, seed=5), make_vae(beta=beta, seed=5)
        trained.compile(optimizer=keras.optimizers.SGD(0.0))  # a step that leaves the weights as they are
        logs = trained.train_on_batch(x, return_dict=True)
        terms = {k: float(np.mean(keras.ops.convert_to_numpy(v))) for k, v in reference.loss_terms(x, training=True).items()}
        assert set(logs) == {"loss", "reconstruction_loss", "kl_loss"}
        for name, value in logs.items():
            assert value == pytest.approx(terms[name], rel=1e-6), (beta, name)
        assert logs["loss"] == pytest.approx(logs["reconstruction_loss"] + beta * logs["kl_loss"], rel=1e-6)


def test_one_sampler_per_vae_and_a_keras_io_style_encoder_is_still_accepted(small_batch):
    """The builders' encoder outputs (z_mean, z_log_var) and the VAE's own Sampling layer draws z;
    an encoder with a third output z (the keras.io example's) trains the same way, its z unused."""
    x, _ = small_batch
    vae = make_vae(seed=4)
    assert [type(l).__name__ for l in vae.encoder.layers].count("Sampling") == 0 and vae.sampling.seed == 4
    keras.utils.set_random_seed(0)
    images = keras.Input((28, 28, 1))
    h = keras.layers.Dense(8, activation="relu")(keras.layers.Flatten()(images))
    z_mean, z_log_var = keras.layers.Dense(2)(h), keras.layers.Dense(2)(h)
    keras_io = keras.Model(images, [z_mean, z_log_var, vae_tf.Sampling(seed=1)([z_mean, z_log_var])])
    model = vae_tf.VAE(keras_io, vae_tf.build_decoder(latent_dim=2, hidden_units=(8,)), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    logs = model.train_on_batch(x[:64], return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] == pytest.approx(logs["reconstruction_loss"] + logs["kl_loss"], rel=1e-6)
    assert model.encode(x[:4])[0].shape == (4, 2)


def test_decoders_that_do_not_output_logits_are_refused_with_the_fix():
    """A keras.io-style decoder ends in a sigmoid; the likelihood would apply a second one (issue 24)."""
    encoder = vae_tf.build_encoder(latent_dim=2, hidden_units=(8,))
    z = keras.Input((2,))
    logits = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784)(z))
    decoder = keras.Model(z, keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784, activation="sigmoid")(z)))
    for sigmoid_decoder in (decoder, keras.Model(z, keras.layers.Activation("sigmoid")(logits))):
        with pytest.raises(vae_tf.InputError, match="must output logits.*activation=None"):
            vae_tf.VAE(encoder, sigmoid_decoder)
    single = keras.Model(encoder.inputs, encoder.outputs[0])
    with pytest.raises(vae_tf.InputError, match=r"encoder must output \[z_mean, z_log_var"):
        vae_tf.VAE(single, vae_tf.build_decoder(latent_dim=2))
    with pytest.raises(vae_tf.InputError, match="decoder takes codes of width 3"):
        vae_tf.VAE(encoder, vae_tf.build_decoder(latent_dim=3))


@pytest.mark.parametrize("name", ["VAE", "ConditionalVAE", "AuxiliaryClassifierVAE", "VAE_mixed_precision"])
def test_files_saved_before_the_redesign_load_and_give_the_same_outputs(name):
    """.keras files written by the package before issue 23 load and reconstruct as they did then."""
    from pathlib import Path

    folder = Path(__file__).parent / "data" / "saved_before_issue23"
    x, y = np.load(folder / "x.npy"), np.load(folder / "y.npy")
    model = keras.models.load_model(folder / f"{name}.keras")
    assert type(model).__name__ == name.removesuffix("_mixed_precision")
    got = model.reconstruct(x, **({"digits": y} if name == "ConditionalVAE" else {}))
    np.testing.assert_allclose(got, np.load(folder / f"{name}_reconstruct.npy"), rtol=1e-5, atol=1e-6)
    assert model.optimizer is not None  # compiled from the file's compile config
    if name != "VAE_mixed_precision":  # (the old package's loss-scale optimizer never counted its steps)
        assert int(model.optimizer.iterations) == 2  # the optimizer's state restored


def test_errors_name_the_network_or_argument_at_fault():
    """A decoder of the wrong output shape is blamed when the VAE is built, not the data at fit
    time; bad validation data are called validation_data, not x (issue 24)."""
    encoder = vae_tf.build_encoder(latent_dim=2, hidden_units=(8,))
    z = keras.Input((2,))
    flat_decoder = keras.Model(z, keras.layers.Dense(784)(z))  # (784,), not (28, 28, 1)
    with pytest.raises(vae_tf.InputError, match=r"decoder outputs shape \(784,\).*output_shape=\(28, 28, 1\)"):
        vae_tf.VAE(encoder, flat_decoder)
    vae = make_vae()
    x = np.random.default_rng(0).uniform(size=(8, 28, 28, 1)).astype("float32")
    with pytest.raises(vae_tf.InputError, match=r"^validation_data must hold pixel values in \[0, 1\]"):
        vae.fit(x, validation_data=(x * 255,), epochs=1, verbose=0)
    with pytest.raises(vae_tf.InputError, match=r"^validation_data must have shape \(batch, 28, 28, 1\)"):
        vae.fit(x, validation_data=x[:, :14], epochs=1, verbose=0)
