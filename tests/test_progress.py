"""vae_tf.EpochLog: a training prints a few lines, not one per epoch (issue 34)."""

from __future__ import annotations

import numpy as np
import pytest

import vae_tf


def _model(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    model = vae_tf.VAE(vae_tf.build_encoder(latent_dim=2, hidden_units=(16,)),
                       vae_tf.build_decoder(latent_dim=2, hidden_units=(16,)), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    return model


def test_epoch_log_prints_the_first_every_nth_and_last_epoch(capsys):
    x = np.random.default_rng(0).integers(0, 2, size=(64, 28, 28)).astype("float32")
    history = _model().fit(x, validation_data=(x,), epochs=7, batch_size=32, verbose=0,
                           callbacks=[vae_tf.EpochLog(every=3, keys=("loss", "val_loss", "absent"), label="2-D")])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0].strip() for line in lines] == ["2-D epoch 1/7", "2-D epoch 3/7", "2-D epoch 6/7", "2-D epoch 7/7"]
    last = lines[-1].split(": ", 1)[1]
    assert last == f"loss {history.history['loss'][-1]:.4g}, val_loss {history.history['val_loss'][-1]:.4g}"


def test_epoch_log_rejects_a_bad_interval():
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="every"):
            vae_tf.EpochLog(every=bad)
