"""The Sampling layer: the reparameterization trick."""

import keras
import numpy as np
import tensorflow as tf

import vae_tf


def test_samples_have_the_requested_mean_and_variance():
    n = 200_000
    mean = np.tile(np.array([[-1.0, 0.5, 3.0]], "float32"), (n, 1))
    log_var = np.tile(np.log(np.array([[0.25, 1.0, 4.0]], "float32")), (n, 1))
    z = keras.ops.convert_to_numpy(vae_tf.Sampling(seed=0)([mean, log_var]))
    assert z.shape == (n, 3)
    # standard errors: sd/sqrt(n) <= 0.0045 for the mean; 5 standard errors of tolerance
    np.testing.assert_allclose(z.mean(0), [-1.0, 0.5, 3.0], atol=0.025)
    np.testing.assert_allclose(z.var(0), [0.25, 1.0, 4.0], rtol=0.02)


def test_gradients_flow_to_mean_and_log_var():
    mean = tf.Variable(np.zeros((4, 2), "float32"))
    log_var = tf.Variable(np.full((4, 2), 0.3, "float32"))
    layer = vae_tf.Sampling(seed=7)
    with tf.GradientTape() as tape:
        z = layer([mean, log_var])
        total = tf.reduce_sum(z)
    d_mean, d_log_var = tape.gradient(total, [mean, log_var])
    eps = (z.numpy() - 0.0) / np.exp(0.15)
    np.testing.assert_allclose(d_mean.numpy(), np.ones((4, 2)), rtol=1e-6)
    np.testing.assert_allclose(d_log_var.numpy(), 0.5 * np.exp(0.15) * eps, rtol=1e-5)
    assert np.any(d_log_var.numpy() != 0)


def test_same_seed_same_draws_and_serializable():
    m, lv = np.zeros((3, 5), "float32"), np.zeros((3, 5), "float32")
    a = keras.ops.convert_to_numpy(vae_tf.Sampling(seed=11)([m, lv]))
    b = keras.ops.convert_to_numpy(vae_tf.Sampling(seed=11)([m, lv]))
    c = keras.ops.convert_to_numpy(vae_tf.Sampling(seed=12)([m, lv]))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    layer = vae_tf.Sampling(seed=5, name="s")
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, vae_tf.Sampling) and clone.seed == 5 and clone.name == "s"
