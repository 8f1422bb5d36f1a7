"""Digit-conditioned VAEs (vae_tf.conditional): both models build and train, the logged loss
adds up, save/load round trips, the digit x style grid, the per-epoch grid callback, errors."""

import keras
import numpy as np
import pytest

import vae_tf
from vae_tf.family.conditional import StyleGridHistory
from vae_tf.tools.plotting import plot_digit_style_grid

LATENT = 3


def make_cvae(arch="mlp", beta=1.0, seed=0, eager=True, jit_compile=False):
    keras.utils.set_random_seed(seed)
    kw = dict(latent_dim=LATENT, arch=arch, condition_dim=10)
    hidden = {"hidden_units": (64,)} if arch == "mlp" else {}
    model = vae_tf.ConditionalVAE(
        vae_tf.build_encoder(**kw, **hidden, seed=seed), vae_tf.build_decoder(**kw, **hidden), beta=beta, seed=seed
    )
    # Eager steps (no tracing) and no XLA (no compilation) are faster for the few steps of a unit
    # test; test_training_lowers_the_loss uses the defaults of compile (graph mode, XLA if on).
    kwargs = {} if jit_compile is None else {"jit_compile": jit_compile}
    model.compile(optimizer=keras.optimizers.Adam(2e-3), run_eagerly=eager, **kwargs)
    return model


def make_acvae(arch="mlp", beta=1.0, weight=1.0, condition_encoder=False, seed=0, eager=True, jit_compile=False):
    keras.utils.set_random_seed(seed)
    hidden = {"hidden_units": (64,)} if arch == "mlp" else {}
    enc = vae_tf.build_encoder(
        latent_dim=LATENT, arch=arch, condition_dim=10 if condition_encoder else 0, seed=seed, **hidden
    )
    dec = vae_tf.build_decoder(latent_dim=LATENT, arch=arch, condition_dim=10, **hidden)
    clf = vae_tf.build_classifier(arch=arch, hidden_units=(64,))
    model = vae_tf.AuxiliaryClassifierVAE(enc, dec, clf, classification_weight=weight, beta=beta, seed=seed)
    # Eager steps (no tracing) and no XLA (no compilation) are faster for the few steps of a unit
    # test; test_training_lowers_the_loss uses the defaults of compile (graph mode, XLA if on).
    kwargs = {} if jit_compile is None else {"jit_compile": jit_compile}
    model.compile(optimizer=keras.optimizers.Adam(2e-3), run_eagerly=eager, **kwargs)
    return model


MAKERS = {"cvae": make_cvae, "acvae": make_acvae}


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("kind", ["cvae", "acvae"])
def test_both_models_build_and_train_a_step(small_batch, kind, arch):
    x, y = small_batch
    model = MAKERS[kind](arch=arch)
    logs = model.train_on_batch(x[:32], y[:32], return_dict=True)
    expected = {"loss", "reconstruction_loss", "kl_loss"}
    if kind == "acvae":
        expected |= {"classification_loss", "accuracy"}
    assert set(logs) == expected
    assert all(np.isfinite(v) for v in logs.values())
    assert model.latent_dim == LATENT and model.image_shape == (28, 28, 1)
    assert model.sample(3, digits=[1, 2, 3], seed=0).shape == (3, 28, 28, 1)


@pytest.mark.parametrize("kind", ["cvae", "acvae"])
def test_training_lowers_the_loss(small_batch, kind):
    x, y = small_batch
    model = MAKERS[kind](eager=False, jit_compile=None)
    before = model.evaluate(x, y, batch_size=256, return_dict=True, verbose=0)
    model.fit(x, y, batch_size=64, epochs=3, verbose=0)
    after = model.evaluate(x, y, batch_size=256, return_dict=True, verbose=0)
    assert after["loss"] < before["loss"] - 50, (before, after)
    if kind == "acvae":
        assert after["classification_loss"] < before["classification_loss"] - 0.5, (before, after)
        assert after["accuracy"] > 0.5  # chance is 0.1


@pytest.mark.parametrize("kind, beta, weight", [("cvae", 3.0, None), ("acvae", 2.0, 5.0)])
def test_logged_loss_is_the_weighted_sum_of_its_terms(small_batch, kind, beta, weight):
    x, y = small_batch
    model = make_cvae(beta=beta, eager=False) if kind == "cvae" else make_acvae(beta=beta, weight=weight, eager=False)
    history = model.fit(
        x[:256], y[:256], epochs=2, batch_size=100, validation_data=(x[256:], y[256:]), verbose=0
    ).history
    evaluated = model.evaluate(x[256:], y[256:], batch_size=100, return_dict=True, verbose=0)
    for logs in [{k: v[-1] for k, v in history.items() if not k.startswith("val_")},
                 {k[4:]: v[-1] for k, v in history.items() if k.startswith("val_")},
                 evaluated]:
        total = logs["reconstruction_loss"] + beta * logs["kl_loss"]
        if kind == "acvae":
            total += weight * logs["classification_loss"]
            assert 0.0 <= logs["accuracy"] <= 1.0
        np.testing.assert_allclose(logs["loss"], total, rtol=1e-5)


def test_classifier_weight_changes_the_loss_but_not_the_other_terms(small_batch):
    x, y = small_batch
    terms = []
    for weight in (0.0, 10.0):
        model = make_acvae(weight=weight)
        model.sampling.seed_generator = keras.random.SeedGenerator(7)
        terms.append({k: float(np.mean(v)) for k, v in model.loss_terms(x[:64], y[:64]).items()})
    assert terms[0]["classification_loss"] > 1.0  # untrained: about log(10)
    np.testing.assert_allclose(terms[1]["loss"] - terms[0]["loss"], 10 * terms[0]["classification_loss"], rtol=1e-4)


def test_reconstruction_gradient_reaches_the_classifier_only_when_asked(small_batch):
    import tensorflow as tf

    x, y = small_batch
    for flag in (False, True):
        model = make_acvae(weight=0.0)
        model.decoder_trains_classifier = flag
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(model.loss_terms(x[:32], y[:32], training=True)["loss"])
        grads = tape.gradient(loss, model.classifier.trainable_weights)
        norm = sum(float(np.abs(g).sum()) for g in grads if g is not None)
        assert (norm > 0) == flag, (flag, norm)


@pytest.mark.parametrize("kind", ["cvae", "acvae", "acvae_conditioned_encoder"])
def test_save_load_round_trip_gives_identical_outputs(small_batch, tmp_path, kind):
    x, y = small_batch
    if kind == "cvae":
        model = make_cvae(beta=2.0)
    else:
        model = make_acvae(weight=3.0, condition_encoder=kind.endswith("encoder"))
    model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.beta == model.beta and loaded.num_classes == 10
    if kind == "cvae":
        kwargs = {"digits": y[:50]}
    else:
        kwargs = {}
        assert loaded.classification_weight == 3.0 and loaded.decoder_trains_classifier is False
        np.testing.assert_array_equal(loaded.classify(x[:50]), model.classify(x[:50]))
        np.testing.assert_array_equal(loaded.reconstruct(x[:50]), model.reconstruct(x[:50]))
    for a, b in zip(loaded.encode(x[:50], **kwargs), model.encode(x[:50], **kwargs)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.digit_style_grid(3, seed=5), model.digit_style_grid(3, seed=5))
    # the loaded model keeps training (optimizer state restored)
    logs = loaded.train_on_batch(x[:32], y[:32], return_dict=True)
    assert np.isfinite(logs["loss"])


@pytest.mark.parametrize("kind", ["cvae", "acvae"])
def test_digit_style_grid_shares_styles_across_digits(small_batch, kind):
    x, y = small_batch
    model = MAKERS[kind](eager=False)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    grid = model.digit_style_grid(n_styles=4, seed=3)
    assert grid.shape == (10, 4, 28, 28, 1)
    assert grid.min() >= 0 and grid.max() <= 1
    np.testing.assert_array_equal(grid, model.digit_style_grid(n_styles=4, seed=3))  # same seed, same styles
    # entry [d, s] is decode(z_s, d): digit 7 of style 2 equals decoding that z with digit 7
    z = keras.ops.convert_to_numpy(keras.random.normal((4, LATENT), seed=3))
    np.testing.assert_allclose(grid[7], model.decode(z, digits=7), atol=1e-6)
    # the same style (column) looks different for different digits, more than the styles differ by chance
    for s in range(4):
        pairwise = [np.abs(grid[a, s] - grid[b, s]).mean() for a in range(10) for b in range(a + 1, 10)]
        assert min(pairwise) > 1e-3, s


def test_style_grid_history_records_one_grid_per_epoch(small_batch):
    x, y = small_batch
    model = make_acvae()
    callback = StyleGridHistory(n_styles=2, seed=1)
    model.fit(x[:128], y[:128], batch_size=64, epochs=3, verbose=0, callbacks=[callback])
    assert callback.epochs == [0, 1, 2, 3]
    assert [g.shape for g in callback.grids] == [(10, 2, 28, 28, 1)] * 4
    np.testing.assert_array_equal(callback.grids[-1], model.digit_style_grid(2, seed=1))
    assert np.abs(callback.grids[0] - callback.grids[-1]).mean() > 1e-3  # training changed the images
    with pytest.raises(TypeError, match="digit-conditioned"):
        plain = vae_tf.VAE(vae_tf.build_encoder(hidden_units=(8,)), vae_tf.build_decoder(hidden_units=(8,)))
        plain.compile(optimizer="adam")
        plain.fit(x[:8], epochs=1, verbose=0, callbacks=[StyleGridHistory()])


def test_plot_digit_style_grid_puts_styles_in_rows_and_digits_in_columns():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.zeros((10, 3, 28, 28, 1), "float32")
    grid[4, 2] = 1.0  # digit 4, style 3
    fig = plot_digit_style_grid(grid)
    ax = fig.axes[0]
    image = ax.images[0].get_array()
    assert image.shape == (3 * 29 - 1, 10 * 29 - 1)
    assert image[2 * 29 : 2 * 29 + 28, 4 * 29 : 4 * 29 + 28].min() == 1.0
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(d) for d in range(10)]
    assert len(ax.get_yticklabels()) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="grid"):
        plot_digit_style_grid(np.zeros((10, 28, 28)))


@pytest.mark.parametrize("kind", ["cvae", "acvae"])
def test_training_without_labels_is_a_clear_error(small_batch, kind):
    x, _ = small_batch
    model = MAKERS[kind]()
    with pytest.raises(ValueError, match="needs labels"):
        model.fit(x[:64], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="needs labels"):
        model.evaluate(vae_tf.make_dataset(x[:64]), verbose=0)


@pytest.mark.parametrize("kind", ["cvae", "acvae"])
def test_bad_digits_are_clear_errors(kind):
    model = MAKERS[kind]()
    z = np.zeros((2, LATENT), "float32")
    for digits in (10, -1, [0, 12], 2.5):
        with pytest.raises(ValueError, match="digits"):
            model.decode(z, digits=digits)
    with pytest.raises(ValueError, match="digits"):
        model.sample(3, digits=[1, 2], seed=0)  # 2 digits for 3 images
    with pytest.raises(ValueError, match="n_styles"):
        model.digit_style_grid(0)


def test_cvae_needs_labels_to_encode_and_matching_networks():
    model = make_cvae()
    x = np.zeros((2, 28, 28, 1), "float32")
    with pytest.raises(ValueError, match="labels"):
        model.encode(x)
    with pytest.raises(ValueError, match="digits"):
        model.encode(x, digits=[3, 10])
    plain_enc = vae_tf.build_encoder(latent_dim=LATENT, hidden_units=(8,))
    cond_dec = vae_tf.build_decoder(latent_dim=LATENT, hidden_units=(8,), condition_dim=10)
    with pytest.raises(ValueError, match="condition_dim=10"):
        vae_tf.ConditionalVAE(plain_enc, cond_dec)
    with pytest.raises(ValueError, match="condition_dim=10"):
        vae_tf.AuxiliaryClassifierVAE(plain_enc, vae_tf.build_decoder(latent_dim=LATENT), vae_tf.build_classifier())
    with pytest.raises(ValueError, match="logits"):
        vae_tf.AuxiliaryClassifierVAE(plain_enc, cond_dec, vae_tf.build_classifier(num_classes=5))
    with pytest.raises(ValueError, match="classification_weight"):
        vae_tf.AuxiliaryClassifierVAE(plain_enc, cond_dec, vae_tf.build_classifier(), classification_weight=-1)
