"""KL warm-up (issue 32): the KL weight rises linearly to beta; every epoch's logged loss adds up at
that epoch's weight; the model's beta comes back; a resumed fit gives the uninterrupted numbers."""

import keras
import numpy as np
import pytest

import vae_tf

HIDDEN = {"latent_dim": 2, "hidden_units": (32,)}


def _vae(beta: float = 1.0, seed: int = 0):
    keras.utils.set_random_seed(seed)
    vae = vae_tf.VAE(vae_tf.build_encoder(**HIDDEN), vae_tf.build_decoder(**HIDDEN), beta=beta, seed=seed)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=4)
    return vae


@pytest.fixture(scope="module")
def images():
    (x, _), _ = vae_tf.load_mnist()
    return vae_tf.binarize_static(vae_tf.scale_images(x[:512]), seed=0)


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_the_kl_weight_rises_linearly_and_each_epochs_loss_adds_up_at_it(images, beta):
    vae = _vae(beta)
    ds = vae_tf.make_dataset(images, batch_size=128, seed=0)
    history = vae.fit(ds, validation_data=(images[:128],), epochs=5, verbose=0,
                      callbacks=[vae_tf.KLWarmup(epochs=2)]).history
    np.testing.assert_allclose(history["kl_weight"], [0.0, beta / 2, beta, beta, beta])
    for prefix in ("", "val_"):
        parts = np.array(history[prefix + "reconstruction_loss"]) + np.array(history["kl_weight"]) * np.array(
            history[prefix + "kl_loss"])
        np.testing.assert_allclose(history[prefix + "loss"], parts, rtol=1e-5)
    assert vae.beta == beta and vae.loss_weights["kl_loss"] == beta
    result = vae.evaluate(images[:128], verbose=0, return_dict=True)  # the restored weight, retraced
    assert result["loss"] == pytest.approx(result["reconstruction_loss"] + beta * result["kl_loss"], rel=1e-5)


def test_warm_up_changes_training_and_a_resumed_fit_equals_the_uninterrupted_one(images):
    def run(splits):
        vae, losses = _vae(), []
        ds_epochs = 0
        for stop in splits:
            ds = vae_tf.make_dataset(images, batch_size=128, seed=0, start_epoch=ds_epochs)
            h = vae.fit(ds, epochs=stop, initial_epoch=ds_epochs, verbose=0, callbacks=[vae_tf.KLWarmup(epochs=3)])
            losses += h.history["loss"]
            ds_epochs = stop
        return losses, vae.get_weights()

    whole, weights = run([4])
    resumed, resumed_weights = run([1, 4])
    assert whole == resumed
    for a, b in zip(weights, resumed_weights):
        np.testing.assert_array_equal(a, b)
    plain = _vae()
    h = plain.fit(vae_tf.make_dataset(images, batch_size=128, seed=0), epochs=1, verbose=0).history
    assert h["loss"][0] != whole[0]  # epoch 0 trains without the KL term


def test_bad_warm_up_lengths_are_refused():
    with pytest.raises(vae_tf.InputError, match="epochs must be an integer >= 1"):
        vae_tf.KLWarmup(epochs=0)
