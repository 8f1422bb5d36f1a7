"""The discrete-latent models: the Gumbel-softmax VAE (vae_tf.gumbel) and the VQ-VAE (vae_tf.vqvae)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import vae_tf
from vae_tf.family.gumbel import (
    GumbelSoftmaxVAE,
    TemperatureSchedule,
    build_categorical_decoder,
    build_categorical_encoder,
    categorical_kl_divergence,
    gumbel_softmax,
)
from vae_tf.family.vqvae import VQVAE, VectorQuantizer, build_vq_decoder, build_vq_encoder, code_perplexity

to_numpy = keras.ops.convert_to_numpy


@pytest.fixture(scope="module")
def digits(mnist):
    """256 binarized training digits (n, 28, 28, 1)."""
    (x, _), _ = mnist
    return vae_tf.binarize(vae_tf.scale_images(x[:256]))


def gumbel_vae(n=1, k=10, beta=1.0, seed=0, lr=3e-3, **kwargs):
    keras.utils.set_random_seed(seed)
    model = GumbelSoftmaxVAE(
        build_categorical_encoder(n, k, hidden_units=(64,)),
        build_categorical_decoder(n, k, hidden_units=(64,)),
        beta=beta, seed=seed, **kwargs,
    )  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(lr), jit_compile=False)
    return model


def vq_vae(ema=False, seed=0, num_embeddings=8, **kwargs):
    keras.utils.set_random_seed(seed)
    arch = {"embedding_dim": 4, "filters": (8, 16)}
    model = VQVAE(build_vq_encoder(**arch), build_vq_decoder(**arch), num_embeddings, ema=ema, seed=seed, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    return model


def log_softmax(logits):
    logits = np.asarray(logits, "float64")
    top = logits.max(-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))


# --------------------------------------------------------------------------- Gumbel-softmax
def test_closed_form_categorical_kl_matches_monte_carlo():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(3, 4, 5)).astype("float32")  # batch 3, n = 4, k = 5
    log_q = log_softmax(logits)
    draws = 40000
    mc = np.zeros((draws, 3))
    for b in range(3):
        for i in range(4):
            c = rng.choice(5, size=draws, p=np.exp(log_q[b, i]))
            mc[:, b] += log_q[b, i, c] + math.log(5)  # log q(c) - log p(c)
    closed = to_numpy(categorical_kl_divergence(logits))
    assert closed.shape == (3,)
    np.testing.assert_array_less(np.abs(closed - mc.mean(0)), 4 * mc.std(0) / math.sqrt(draws) + 1e-6)
    assert to_numpy(categorical_kl_divergence(np.zeros((2, 3, 7), "float32"))) == pytest.approx(0.0, abs=1e-5)
    peaked = np.where(np.arange(7) == 2, 60.0, 0.0).astype("float32")[None, None].repeat(3, axis=1)
    assert float(to_numpy(categorical_kl_divergence(peaked))[0]) == pytest.approx(3 * math.log(7), rel=1e-5)


def test_relaxed_draws_become_one_hot_as_the_temperature_falls_and_their_argmax_is_a_categorical_draw():
    logits = np.log(np.array([0.5, 0.25, 0.15, 0.1], "float32"))
    rows = np.tile(logits, (20000, 1))[:, None, :]  # (20000, 1, 4)
    draws = {tau: to_numpy(gumbel_softmax(rows, tau, seed=3))[:, 0] for tau in (5.0, 1.0, 0.1, 0.01)}
    for y in draws.values():
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
    top = [float(y.max(-1).mean()) for y in draws.values()]
    assert top == sorted(top) and top[0] < 0.5 and top[-1] > 0.99
    # the same noise: argmax(l + g) does not depend on tau, and it is distributed as softmax(l)
    picks = {tau: y.argmax(-1) for tau, y in draws.items()}
    np.testing.assert_array_equal(picks[5.0], picks[0.01])
    freq = np.bincount(picks[0.01], minlength=4) / len(rows)
    p = np.exp(logits)
    np.testing.assert_array_less(np.abs(freq - p), 4 * np.sqrt(p * (1 - p) / len(rows)))


def test_straight_through_draws_are_one_hot_forward_and_pass_the_relaxed_gradient():
    logits = tf.Variable(np.random.default_rng(1).normal(size=(64, 3, 6)).astype("float32"))
    weights = np.random.default_rng(2).normal(size=(64, 3, 6)).astype("float32")
    grads = {}
    for hard in (True, False):
        with tf.GradientTape() as tape:
            y = gumbel_softmax(logits, 0.7, seed=5, straight_through=hard)
            objective = keras.ops.sum(y * weights)
        grads[hard] = tape.gradient(objective, logits).numpy()
        values = y.numpy()
        if hard:
            hard_values = values
        else:
            relaxed = values
    assert set(np.unique(hard_values)) == {0.0, 1.0}
    np.testing.assert_array_equal(hard_values.sum(-1), 1.0)
    np.testing.assert_array_equal(hard_values.argmax(-1), relaxed.argmax(-1))
    assert np.abs(grads[True]).min() > 0
    np.testing.assert_allclose(grads[True], grads[False], rtol=1e-5, atol=1e-7)
    # and through the model: the decoder sees one-hot codes, and the encoder gets a gradient
    model = gumbel_vae(n=2, k=4, straight_through=True)
    x = np.random.default_rng(3).integers(0, 2, (8, 28, 28, 1)).astype("float32")
    assert set(np.unique(to_numpy(model.gumbel(model.posterior_logits(x))))) == {0.0, 1.0}
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(model.loss_terms(x, training=True)["reconstruction_loss"])
    encoder_grads = tape.gradient(loss, model.encoder.trainable_weights)
    assert all(g is not None for g in encoder_grads) and max(float(np.abs(g).max()) for g in encoder_grads) > 0


def test_with_one_categorical_the_elbo_and_the_iwae_estimate_bound_the_exact_log_likelihood(digits):
    """n = 1, k = 10: log p(x) sums over the 10 codes exactly. beta = 10 keeps q(c|x) broad, so the
    ELBO's gap KL(q(c|x) || p(c|x)) is several nats."""
    model = gumbel_vae(beta=10.0)
    model.fit(digits, epochs=1, batch_size=32, verbose=0)
    x = digits[:32]
    exact, elbo = model.exact_log_likelihood(x), model.elbo(x)
    # exact, independently: decode every code, score the binary pixels, log-mean-exp over codes
    means = model.decode(np.arange(10)[:, None]).reshape(10, -1).astype("float64")
    flat = x.reshape(32, -1).astype("float64")
    ll = flat @ np.log(means).T + (1 - flat) @ np.log1p(-means).T  # (32, 10)
    np.testing.assert_allclose(exact, np.log(np.exp(ll - ll.max(1, keepdims=True)).mean(1)) + ll.max(1), atol=2e-3)
    np.testing.assert_allclose(model.code_log_likelihoods(x), ll, atol=2e-3)
    gap = exact - elbo
    assert np.all(gap >= -1e-9) and gap.mean() > 0.5
    # E[L_1] is the ELBO; L_200 is far closer to log p(x) than the ELBO is
    l1 = np.stack([model.iwae_log_likelihood(x, 1, seed=s) for s in range(40)])
    se = l1.mean(1).std() / math.sqrt(len(l1))
    assert abs(l1.mean() - elbo.mean()) < 4 * se + 1e-3
    l200 = model.iwae_log_likelihood(x, 200, seed=0, chunk_size=64)
    assert np.abs(l200 - exact).mean() < 0.1 * gap.mean()
    assert elbo.mean() < model.iwae_log_likelihood(x, 10, seed=1).mean() < exact.mean() + 0.05
    np.testing.assert_array_equal(l200, model.iwae_log_likelihood(x, 200, seed=0, chunk_size=64))


def test_gumbel_train_step_logs_exactly_the_loss_terms_and_they_add_up(digits):
    x = digits[:64]
    trained, reference = gumbel_vae(n=3, k=4, beta=2.0, seed=7), gumbel_vae(n=3, k=4, beta=2.0, seed=7)
    trained.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False)  # the weights stay as they are
    logs = trained.train_on_batch(x, return_dict=True)
    terms = {k: float(np.mean(to_numpy(v))) for k, v in reference.loss_terms(x, training=True).items()}
    assert set(logs) == {"loss", "reconstruction_loss", "kl_loss", "temperature"}
    for name in terms:
        assert logs[name] == pytest.approx(terms[name], rel=1e-6), name
    assert logs["loss"] == pytest.approx(logs["reconstruction_loss"] + 2.0 * logs["kl_loss"], rel=1e-6)
    history = gumbel_vae(n=3, k=4, beta=2.0).fit(x, epochs=2, batch_size=32, verbose=0).history
    logged = sum(w * np.array(history[name]) for name, w in trained.loss_weights.items())
    np.testing.assert_allclose(history["loss"], logged, rtol=1e-6)
    again = gumbel_vae(n=3, k=4, beta=2.0).fit(x, epochs=2, batch_size=32, verbose=0).history
    assert again == history  # the same seed, the same numbers


def test_temperature_schedule_anneals_per_epoch_and_per_batch(digits):
    x = digits[:64]
    model = gumbel_vae(n=2, k=4)
    per_epoch = TemperatureSchedule(initial=2.0, minimum=0.6, rate=0.5, unit="epoch")
    history = model.fit(x, epochs=4, batch_size=32, verbose=0, callbacks=[per_epoch]).history
    expected = [max(0.6, 2.0 * math.exp(-0.5 * e)) for e in range(4)]  # 2.0, 1.21, 0.74, then the floor 0.6
    np.testing.assert_allclose(history["temperature"], expected, rtol=1e-6)
    assert np.all(np.diff(history["temperature"]) < 0)
    validated = gumbel_vae(n=2, k=4).fit(x, validation_data=(x,), epochs=1, batch_size=32, verbose=0).history
    assert "temperature" in validated and "val_temperature" not in validated and "val_loss" in validated
    assert set(model.evaluate(x, verbose=0, return_dict=True)) == {"loss", "reconstruction_loss", "kl_loss"}
    per_batch = TemperatureSchedule(initial=1.0, minimum=0.01, rate=0.2)
    model.fit(x, epochs=2, batch_size=16, verbose=0, callbacks=[per_batch])  # steps 8..15 of the optimizer
    assert float(to_numpy(model.temperature)) == pytest.approx(math.exp(-0.2 * 15), rel=1e-6)
    with pytest.raises(ValueError, match="unit"):
        TemperatureSchedule(unit="step")
    with pytest.raises(ValueError, match="minimum"):
        TemperatureSchedule(minimum=0.0)
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    other.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="GumbelSoftmaxVAE"):
        other.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0, callbacks=[TemperatureSchedule()])


def test_gumbel_vae_api_and_save_load_round_trip(digits, tmp_path):
    model = gumbel_vae(n=2, k=5, temperature=0.8)
    model.fit(digits[:128], epochs=1, batch_size=32, verbose=0)
    model.temperature.assign(0.55)
    x = digits[:20]
    probs = model.encode(x)
    assert probs.shape == (20, 2, 5)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    codes = probs.argmax(-1)
    np.testing.assert_array_equal(model.decode(codes), model.decode(np.eye(5, dtype="float32")[codes]))
    np.testing.assert_allclose(model.reconstruct(x), model.decode(codes), rtol=1e-6, atol=1e-7)
    assert model.sample(6, seed=2).shape == (6, 28, 28, 1)
    np.testing.assert_array_equal(model.sample(6, seed=2), model.sample(6, seed=2))
    for bad in (np.full((3, 2), 5), np.zeros((3, 3)), np.full((3, 2, 5), 0.5), np.array([[0.5, 1.0]])):
        with pytest.raises(vae_tf.InputError):
            model.decode(bad)
    with pytest.raises(vae_tf.InputError, match="iwae_log_likelihood"):
        gumbel_vae(n=6, k=5).exact_log_likelihood(x)  # 5**6 codes: too many to enumerate
    path = tmp_path / "gumbel.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, GumbelSoftmaxVAE)
    assert (loaded.n, loaded.num_categories, loaded.beta, loaded.straight_through) == (2, 5, 1.0, False)
    assert float(to_numpy(loaded.temperature)) == pytest.approx(0.55)
    np.testing.assert_array_equal(loaded.encode(x), probs)
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
    np.testing.assert_array_equal(loaded.exact_log_likelihood(x), model.exact_log_likelihood(x))
    a, b = model.loss_terms(x), loaded.loss_terms(x)  # the noise generator's state came back too
    np.testing.assert_array_equal(to_numpy(a["loss"]), to_numpy(b["loss"]))


# --------------------------------------------------------------------------- VQ-VAE
def test_quantisation_picks_the_brute_force_nearest_code():
    rng = np.random.default_rng(0)
    quantizer = VectorQuantizer(16, 4, seed=0)
    codebook = rng.normal(size=(16, 4)).astype("float32")
    quantizer.codebook.assign(codebook)
    z_e = rng.normal(size=(5, 3, 3, 4)).astype("float32")
    z_q, indices = (to_numpy(t) for t in quantizer(z_e))
    brute = ((z_e[..., None, :].astype("float64") - codebook.astype("float64")) ** 2).sum(-1)  # (5, 3, 3, 16)
    assert indices.shape == (5, 3, 3)
    np.testing.assert_array_equal(indices, brute.argmin(-1))
    np.testing.assert_array_equal(z_q, codebook[indices])
    np.testing.assert_allclose(to_numpy(quantizer.squared_distances(z_e)), brute, rtol=1e-4, atol=1e-4)


def test_straight_through_and_the_two_vq_losses_train_what_they_should():
    model = vq_vae()
    x = np.random.default_rng(1).integers(0, 2, (8, 28, 28, 1)).astype("float32")
    codebook = model.quantizer.codebook
    encoder = model.encoder.trainable_weights
    with tf.GradientTape(persistent=True) as tape:
        terms = {k: keras.ops.mean(v) for k, v in model.loss_terms(x, training=True).items() if k != "code_counts"}
    used = np.unique(model.encode(x))

    def grads(term, variables):
        return [None if g is None else tf.convert_to_tensor(g).numpy() for g in tape.gradient(terms[term], variables)]

    def reaches(gs):
        return any(g is not None and np.abs(g).max() > 0 for g in gs)

    assert reaches(grads("reconstruction_loss", encoder))  # straight through the argmin
    assert not reaches(grads("reconstruction_loss", [codebook]))  # the decoder sees z_e's gradient path only
    assert reaches(grads("codebook_loss", [codebook])) and not reaches(grads("codebook_loss", encoder))
    assert reaches(grads("commitment_loss", encoder)) and not reaches(grads("commitment_loss", [codebook]))
    (g,) = grads("codebook_loss", [codebook])
    assert set(np.flatnonzero(np.abs(g).sum(1))) == set(used)  # only the chosen codes move


def test_ema_updates_move_each_used_code_to_its_assigned_vectors():
    rng = np.random.default_rng(2)
    z_e = rng.normal(size=(4, 5, 5, 3)).astype("float32")
    flat = z_e.reshape(-1, 3)
    # one step, by the formula: N = d * 1 + (1 - d) n, m = d * e + (1 - d) s, then the Laplace-smoothed
    # N~ = (N + eps) / (sum N + K eps) sum N (eps large here, so that the smoothing shows)
    smoothing = VectorQuantizer(6, 3, ema=True, decay=0.5, epsilon=0.5, seed=1)
    assert not smoothing.codebook.trainable
    before = smoothing.codebook.numpy().copy()
    indices = to_numpy(smoothing(z_e)[1])
    smoothing.update_codebook(z_e, indices)
    n = np.bincount(indices.ravel(), minlength=6).astype("float64")
    s = np.stack([flat[indices.ravel() == j].sum(0) for j in range(6)])
    count = 0.5 + 0.5 * n
    smoothed = (count + 0.5) / (count.sum() + 6 * 0.5) * count.sum()
    np.testing.assert_allclose(smoothing.codebook.numpy(), (0.5 * before + 0.5 * s) / smoothed[:, None], rtol=1e-5)
    # the default smoothing: each used code moves toward the mean of its vectors, and with the
    # assignment held fixed converges to it (a k-means step)
    quantizer = VectorQuantizer(6, 3, ema=True, decay=0.5, seed=1)
    indices = to_numpy(quantizer(z_e)[1])
    used = np.unique(indices)
    targets = np.stack([flat[indices.ravel() == j].mean(0) for j in used])
    before = quantizer.codebook.numpy().copy()
    quantizer.update_codebook(z_e, indices)
    old, new = (np.linalg.norm(c[used] - targets, axis=1) for c in (before, quantizer.codebook.numpy()))
    assert len(used) > 1 and np.all(new < old)
    for _ in range(40):
        quantizer.update_codebook(z_e, indices)
    np.testing.assert_allclose(quantizer.codebook.numpy()[used], targets, atol=1e-3)


def test_perplexity_counts_the_codes_in_use():
    assert float(to_numpy(code_perplexity(np.zeros((4, 7, 7), "int32"), 8))) == pytest.approx(1.0)
    assert float(to_numpy(code_perplexity(np.arange(8).reshape(2, 2, 2), 8))) == pytest.approx(8.0, rel=1e-5)
    two = np.array([0] * 30 + [1] * 10)  # entropy of (3/4, 1/4)
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert float(to_numpy(code_perplexity(two, 8))) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("ema", [False, True], ids=["codebook_loss", "ema"])
def test_vq_train_step_logs_exactly_the_loss_terms_and_they_add_up(digits, ema):
    x = digits[:64]
    trained, reference = vq_vae(ema=ema, seed=3), vq_vae(ema=ema, seed=3)
    trained.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False)
    logs = trained.train_on_batch(x, return_dict=True)
    codes = reference.encode(x)  # before the step: with ema, the step moves the codebook
    terms = dict(reference.loss_terms(x, training=True))
    counts = to_numpy(terms.pop("code_counts"))  # the batch's code histogram, which the perplexity metric adds up
    np.testing.assert_array_equal(counts, np.bincount(codes.ravel(), minlength=8))
    terms = {k: float(np.mean(to_numpy(v))) for k, v in terms.items()}
    names = {"loss", "reconstruction_loss", "commitment_loss"} | (set() if ema else {"codebook_loss"})
    assert set(logs) == names | {"perplexity"} and names == set(terms) == {*trained.loss_weights, "loss"}
    assert trained.loss_weights["commitment_loss"] == 0.25  # the raw term, weighted by beta
    for name in names:
        assert logs[name] == pytest.approx(terms[name], rel=1e-5), name
    assert logs["perplexity"] == pytest.approx(float(to_numpy(code_perplexity(codes, 8))), rel=1e-5)
    assert logs["loss"] == pytest.approx(sum(w * logs[k] for k, w in trained.loss_weights.items()), rel=1e-6)
    if not ema:  # the two terms measure the same distance ||z_e - z_q||^2
        assert logs["commitment_loss"] == pytest.approx(logs["codebook_loss"], rel=1e-5)
    history = vq_vae(ema=ema).fit(digits, epochs=2, batch_size=64, verbose=0).history
    logged = sum(w * np.array(history[k]) for k, w in trained.loss_weights.items())
    np.testing.assert_allclose(history["loss"], logged, rtol=1e-6)
    assert all(1.0 <= p <= 8.0 for p in history["perplexity"])
    assert history["loss"][1] < history["loss"][0]


def test_the_ema_codebook_moves_exactly_once_per_training_step(digits):
    """With ``ema``, the codebook moves in the step (SGD(0) moves nothing else), by exactly one EMA
    step: what one call of ``loss_terms(training=True)`` takes; evaluation leaves it alone."""
    x = digits[:64]
    trained, reference = vq_vae(ema=True, seed=3), vq_vae(ema=True, seed=3)
    trained.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False)
    start = trained.quantizer.codebook.numpy().copy()
    trained.evaluate(x, batch_size=64, verbose=0)
    reference.loss_terms(x)  # training=False: no EMA step
    np.testing.assert_array_equal(trained.quantizer.codebook.numpy(), start)
    trained.train_on_batch(x)
    assert not np.array_equal(trained.quantizer.codebook.numpy(), start)
    reference.loss_terms(x, training=True)  # one EMA step from the same z_e
    for a, b in zip(trained.quantizer.weights, reference.quantizer.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_networks_that_do_not_fit_are_refused_naming_the_network_and_the_fix():
    with pytest.raises(vae_tf.InputError, match=r"GumbelSoftmaxVAE's decoder takes codes of width 12 .*n=2, num_categories=5"):
        GumbelSoftmaxVAE(build_categorical_encoder(2, 5, hidden_units=(8,)), build_categorical_decoder(3, 4, hidden_units=(8,)))
    flat = vae_tf.build_encoder(latent_dim=4, hidden_units=(8,))
    with pytest.raises(vae_tf.InputError, match=r"GumbelSoftmaxVAE's encoder must output \[logits, ...\] .*build_categorical_encoder"):
        GumbelSoftmaxVAE(flat, build_categorical_decoder(2, 2, hidden_units=(8,)))
    images = keras.Input((28, 28, 1))
    one_category = keras.Model(images, keras.layers.Reshape((4, 1))(keras.layers.Dense(4)(keras.layers.Flatten()(images))))
    with pytest.raises(vae_tf.InputError, match="num_categories >= 2"):
        GumbelSoftmaxVAE(one_category, vae_tf.build_decoder(latent_dim=4, hidden_units=(8,)))
    arch = {"embedding_dim": 4, "filters": (8, 16)}
    with pytest.raises(vae_tf.InputError, match=r"VQVAE's decoder takes codes of shape \(7, 7, 3\) .*embedding_dim=4"):
        VQVAE(build_vq_encoder(**arch), build_vq_decoder(embedding_dim=3, filters=(8, 16)))
    with pytest.raises(vae_tf.InputError, match=r"VQVAE's decoder outputs shape \(32, 32, 1\)"):
        VQVAE(build_vq_encoder(**arch), build_vq_decoder((32, 32, 1), **arch))


def test_vq_vae_api_prior_and_save_load_round_trip(digits, tmp_path):
    model = vq_vae(ema=True)
    model.fit(digits[:128], epochs=1, batch_size=32, verbose=0)
    x = digits[:20]
    indices = model.encode(x)
    assert indices.shape == (20, 7, 7) and indices.dtype == np.int64
    np.testing.assert_allclose(model.reconstruct(x), model.decode(indices), rtol=1e-6, atol=1e-7)
    usage = model.codebook_usage(x)
    np.testing.assert_array_equal(usage, np.bincount(indices.ravel(), minlength=8))
    assert usage.sum() == 20 * 49
    prior = model.fit_code_prior(indices[:1])  # one image: every position has one code of probability 1
    assert prior.shape == (7, 7, 8)
    np.testing.assert_allclose(prior.sum(-1), 1.0)
    np.testing.assert_array_equal(model.sample(3, seed=0, prior=prior), model.decode(np.repeat(indices[:1], 3, axis=0)))
    np.testing.assert_array_equal(model.sample(4, seed=1), model.sample(4, seed=1))
    frequencies = (indices[..., None] == np.arange(8)).mean(axis=0)  # (7, 7, 8)
    np.testing.assert_allclose(model.fit_code_prior(indices), frequencies)
    np.testing.assert_allclose(model.fit_code_prior(indices, pseudocount=1.0), (frequencies * 20 + 1) / 28)
    for bad in (np.full((2, 7, 7), 8), np.zeros((2, 6, 7)), np.full((2, 7, 7), 0.5)):
        with pytest.raises(vae_tf.InputError):
            model.decode(bad)
    with pytest.raises(vae_tf.InputError, match="prior"):
        model.sample(2, prior=np.ones((7, 7, 8)))
    path = tmp_path / "vqvae.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, VQVAE) and (loaded.num_embeddings, loaded.ema, loaded.beta) == (8, True, 0.25)
    for a, b in zip(model.quantizer.weights, loaded.quantizer.weights):  # the codebook and the EMA state
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(loaded.encode(x), indices)
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
    model.train_on_batch(x)  # an exact resume: one more step gives the same weights
    loaded.train_on_batch(x)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
