"""Where data enter a model (issue 11): the pixel rule, image shapes, labels and counts are
checked in fit/evaluate and encode/decode/reconstruct/sample, with one-line InputErrors."""

import subprocess
import sys
import warnings

import keras
from keras import ops
import numpy as np
import pytest
import tensorflow as tf

import vae_tf
from vae_tf import InputError

HIDDEN = {"hidden_units": (16,)}


def _vae(seed=0):
    keras.utils.set_random_seed(seed)
    vae = vae_tf.VAE(vae_tf.build_encoder(**HIDDEN), vae_tf.build_decoder(**HIDDEN), seed=seed)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    return vae


def _cvae():
    keras.utils.set_random_seed(0)
    kw = dict(condition_dim=10, **HIDDEN)
    model = vae_tf.ConditionalVAE(vae_tf.build_encoder(**kw), vae_tf.build_decoder(**kw), seed=0)
    model.compile(optimizer="adam", run_eagerly=True)
    return model


def _acvae(condition_encoder=False):
    keras.utils.set_random_seed(0)
    model = vae_tf.AuxiliaryClassifierVAE(
        vae_tf.build_encoder(condition_dim=10 if condition_encoder else 0, **HIDDEN),
        vae_tf.build_decoder(condition_dim=10, **HIDDEN),
        vae_tf.build_classifier(hidden_units=(16,)),
        seed=0,
    )
    model.compile(optimizer="adam", run_eagerly=True)
    return model


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


def test_a_missing_channel_axis_is_added_not_broadcast(small_batch):
    """Images straight from load_mnist, (N, 28, 28), get their channel axis everywhere (issue 24).
    At batch size 28 such images once broadcast against (28, 28, 1) logits: ~10,800 nats."""
    x, _ = small_batch
    vae = _vae()
    flat = x[:56, ..., 0]  # (56, 28, 28)
    np.testing.assert_array_equal(vae.encode(flat)[0], vae.encode(x[:56])[0])
    np.testing.assert_array_equal(vae.reconstruct(flat), vae.reconstruct(x[:56]))
    np.testing.assert_array_equal(vae.kl_per_dimension(flat), vae.kl_per_dimension(x[:56]))
    np.testing.assert_array_equal(ops.convert_to_numpy(vae(flat)), ops.convert_to_numpy(vae(x[:56])))
    for data in (flat, tf.data.Dataset.from_tensor_slices(flat).batch(28)):
        history = vae.fit(data, batch_size=None if isinstance(data, tf.data.Dataset) else 28, epochs=1, verbose=0).history
        assert history["loss"][0] < 600, history  # an untrained VAE's -ELBO, not a broadcast's 10,800
        assert vae.evaluate(data, batch_size=None if isinstance(data, tf.data.Dataset) else 28, verbose=0)[0] < 600


def test_uint8_grey_levels_are_converted_by_the_pixel_rule(small_batch):
    x, _ = small_batch
    raw = np.round(x[:128] * 255).astype("uint8")  # what a user loads from mnist.npz
    vae = _vae()
    history = vae.fit(raw, batch_size=64, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all() and history["loss"][1] < history["loss"][0]
    scaled = raw.astype("float32") / 255
    for a, b in zip(vae.encode(raw), vae.encode(scaled)):
        np.testing.assert_array_equal(a, b)
    assert np.abs(vae.encode(raw)[0]).max() < 100  # not the codes near -1800 of unscaled pixels
    np.testing.assert_array_equal(vae.reconstruct(raw), vae.reconstruct(scaled))


def test_uint8_datasets_are_scaled_and_unscaled_float_arrays_rejected_with_the_fix(small_batch):
    x, _ = small_batch
    raw = np.round(x[:64] * 255)
    scores = []
    for images in (raw.astype("uint8"), raw.astype("float32") / 255):
        vae = _vae()
        scores.append(vae.evaluate(tf.data.Dataset.from_tensor_slices(images).batch(32), verbose=0, return_dict=True))
    assert scores[0] == pytest.approx(scores[1], rel=1e-6)  # uint8 0-255 is divided by 255 in the step
    vae = _vae()
    with pytest.raises(InputError, match=r"\[0, 1\].*divide by 255") as excinfo:
        vae.fit(raw.astype("float32"), epochs=1, verbose=0)
    _one_line(excinfo)
    assert int(vae.optimizer.iterations) == 0


@pytest.mark.parametrize("labels", [np.arange(10, 20), -np.ones(10), np.arange(1, 11)], ids=["10-19", "-1", "1..10"])
@pytest.mark.parametrize("make", [_cvae, _acvae], ids=["cvae", "acvae"])
def test_conditional_models_reject_labels_outside_the_classes(small_batch, make, labels):
    x, _ = small_batch
    model = make()
    y = np.resize(labels, 64).astype("int64")
    for call in (
        lambda: model.fit(x[:64], y, epochs=1, verbose=0),
        lambda: model.evaluate(x[:64], y, verbose=0),
        lambda: model.fit(x[:64], np.zeros(64, "int64"), validation_data=(x[:64], y), epochs=1, verbose=0),
        lambda: model.fit(vae_tf.make_dataset(x[:64], y, batch_size=32, seed=0), epochs=1, verbose=0),
    ):
        # make_dataset checks its labels itself ("y must be ..."); the models check theirs
        with pytest.raises(InputError, match=r"(labels|y) must be in \[0, 10\)") as excinfo:
            call()
        _one_line(excinfo)
    assert int(model.optimizer.iterations) == 0


@pytest.mark.parametrize("n", [-1, 0, 2.5, True, "3", None])
def test_sample_counts_are_checked(n):
    with pytest.raises(InputError, match="n must be an integer") as excinfo:
        _vae().sample(n)
    _one_line(excinfo)


@pytest.mark.parametrize("digits", ["3", True, 1e20, -1, 10, 2.5, [1, 2]])
@pytest.mark.parametrize("make", [_cvae, _acvae], ids=["cvae", "acvae"])
def test_bad_digits_are_one_line_input_errors(make, digits):
    model = make()
    z = np.zeros((3, 2), "float32")
    for call in (lambda: model.decode(z, digits=digits), lambda: model.sample(3, digits=digits)):
        with pytest.raises(InputError, match="digits") as excinfo:
            call()
        _one_line(excinfo)


def test_digits_where_required_or_refused():
    z = np.zeros((2, 2), "float32")
    with pytest.raises(InputError, match="needs digits="):
        _cvae().decode(z)
    with pytest.raises(InputError, match="needs labels"):
        _cvae().encode(np.zeros((2, 28, 28, 1), "float32"))
    with pytest.raises(InputError, match="not digit-conditioned"):
        _vae().decode(z, digits=3)
    with pytest.raises(TypeError):
        _vae().sample(4, 3)  # seed and digits are keyword-only: sample(64, 3) is no longer ambiguous
    with pytest.raises(InputError, match=r"z must have shape \(n, 2\)"):
        _vae().decode(np.zeros((2, 3), "float32"))
    with pytest.raises(InputError, match="batch_size"):
        _vae().encode(np.zeros((2, 28, 28, 1), "float32"), batch_size=0)


def test_sample_draws_digits_uniformly_and_reproducibly():
    model = _acvae()
    a, b = model.sample(40, seed=3), model.sample(40, seed=3)
    np.testing.assert_array_equal(a, b)
    digits = keras.ops.convert_to_numpy(keras.random.randint((40,), 0, 10, seed=3))
    assert len(np.unique(digits)) > 5
    z = keras.ops.convert_to_numpy(keras.random.normal((40, 2), seed=3))
    np.testing.assert_allclose(a, model.decode(z, digits=digits), atol=1e-6)


def test_acvae_encode_uses_the_classifier_unless_digits_are_given(small_batch):
    x, y = small_batch
    model = _acvae(condition_encoder=True)
    probs = model.classify(x[:20])
    one_hot = np.eye(10, dtype="float32")[y[:20]]
    direct = {"p": keras.ops.convert_to_numpy(model.encoder([x[:20], probs])[0]),
              "y": keras.ops.convert_to_numpy(model.encoder([x[:20], one_hot])[0])}
    np.testing.assert_allclose(model.encode(x[:20])[0], direct["p"], atol=1e-5)
    np.testing.assert_allclose(model.encode(x[:20], digits=y[:20])[0], direct["y"], atol=1e-5)
    assert np.abs(direct["p"] - direct["y"]).max() > 1e-4  # soft probabilities are not the one-hot labels
    rec_soft = keras.ops.convert_to_numpy(model(x[:20]))
    np.testing.assert_allclose(model.reconstruct(x[:20]), rec_soft, atol=1e-6)
    assert np.abs(model.reconstruct(x[:20], digits=y[:20]) - rec_soft).max() > 1e-4


def test_fit_on_a_dataset_gives_no_shuffle_warning_and_import_sets_no_filter(small_batch):
    x, _ = small_batch
    vae = _vae()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vae.fit(vae_tf.make_dataset(x[:64], batch_size=32, seed=0), epochs=1, verbose=0)
    assert not [w for w in caught if "shuffle=True" in str(w.message)]
    code = "import warnings, vae_tf; print(any('shuffle' in str(f[1]) for f in warnings.filters))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
