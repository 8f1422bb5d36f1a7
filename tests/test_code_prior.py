"""The learned prior over code grids (vae_tf.family.code_prior): a PixelCNN with masked
convolutions, and the VQ-VAE's bound -log p(x) <= -log p(x | c(x)) - log p(c(x)) in nats."""

import itertools
import math

import keras
import numpy as np
import pytest

import vae_tf
from vae_tf.family.code_prior import (
    MaskedConv2D,
    PixelCNNPrior,
    causal_mask,
    code_prior_nll,
    vq_bound,
)
from vae_tf.family.vqvae import VQVAE, build_vq_decoder, build_vq_encoder

to_numpy = keras.ops.convert_to_numpy


def prior(k=3, grid=(2, 2), seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    arch = {"filters": 16, "num_layers": 1, "kernel_size": 3, **kwargs}
    model = PixelCNNPrior(k, grid, seed=seed, **arch)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


def all_grids(k, grid):
    """Every grid of ``k`` codes of shape ``grid``: ``(k ** (h w), h, w)``."""
    return np.array(list(itertools.product(range(k), repeat=int(np.prod(grid))))).reshape(-1, *grid)


def copies_of_the_first_code(n, k, grid, seed, keep=0.9):
    """Grids whose first code is uniform and every other code equals it with probability ``keep``,
    else uniform: strongly dependent positions whose marginals are all uniform."""
    rng = np.random.default_rng(seed)
    first = rng.integers(k, size=(n, 1, 1))
    noise = rng.integers(k, size=(n, *grid))
    codes = np.where(rng.random((n, *grid)) < keep, first, noise)
    codes[:, 0, 0] = first[:, 0, 0]
    return codes


@pytest.fixture(scope="module")
def structured():
    """A prior on 2x2 grids of 3 codes trained on :func:`copies_of_the_first_code`, and its data."""
    data = copies_of_the_first_code(3000, 3, (2, 2), seed=0)
    model = prior()
    model.fit(data, epochs=15, batch_size=100, verbose=0)
    return model, data


# --------------------------------------------------------------------------- masks
def test_masks_hide_the_future_and_type_a_hides_the_centre():
    for k in (1, 3, 5):
        for kind in "AB":
            mask, c = causal_mask(k, kind), k // 2
            rows, cols = np.indices((k, k))
            before = (rows < c) | ((rows == c) & (cols < c))  # raster order: earlier offsets
            np.testing.assert_array_equal(mask.astype(bool), before | ((rows == c) & (cols == c) & (kind == "B")))
    for bad in ((2, "A"), (0, "B"), (3, "C")):
        with pytest.raises(ValueError):
            causal_mask(*bad)


def test_the_masked_layer_applies_the_mask_in_every_call_without_changing_its_kernel():
    layer = MaskedConv2D(2, 3, "A", seed=0)
    x = np.random.default_rng(0).normal(size=(1, 3, 3, 1)).astype("float32")
    y = to_numpy(layer(x))
    kernel = layer.kernel.numpy()
    assert np.count_nonzero(kernel[1:, :]) > 0  # the kernel keeps its masked-out entries...
    x_later = x.copy()
    x_later[0, 1, 1:] += 5.0  # the centre and what follows it in raster order
    x_later[0, 2] += 5.0
    np.testing.assert_allclose(to_numpy(layer(x_later))[0, 1, 1], y[0, 1, 1], rtol=1e-6)  # ...which the output ignores
    np.testing.assert_array_equal(layer.kernel.numpy(), kernel)
    config = layer.get_config()
    assert MaskedConv2D.from_config(config).get_config() == config


def test_a_position_sees_only_the_positions_before_it_and_the_first_none():
    model = prior(k=4, grid=(4, 5), num_layers=2, kernel_size=5)
    rng = np.random.default_rng(1)
    codes = rng.integers(4, size=(8, 4, 5))
    logits = to_numpy(model(codes)).reshape(8, 20, 4)
    for position in range(20):
        changed = codes.copy().reshape(8, 20)
        changed[:, position] = (changed[:, position] + 1 + rng.integers(3, size=8)) % 4
        after = to_numpy(model(changed.reshape(8, 4, 5))).reshape(8, 20, 4)
        np.testing.assert_allclose(after[:, : position + 1], logits[:, : position + 1], atol=1e-6)
        if position % 5 < 4:  # the next position on the row sees this one
            assert np.abs(after[:, position + 1] - logits[:, position + 1]).max() > 1e-4
    first = to_numpy(model(rng.integers(4, size=(16, 4, 5))))[:, 0, 0]
    np.testing.assert_allclose(first, np.broadcast_to(first[0], first.shape), atol=1e-6)


# --------------------------------------------------------------------------- a distribution
def test_probabilities_of_all_grids_sum_to_one(structured):
    grids = all_grids(3, (2, 2))
    assert math.isclose(np.exp(prior(seed=5).log_prob(grids)).sum(), 1.0, abs_tol=1e-5)  # untrained
    trained, _ = structured
    log_p = trained.log_prob(grids)
    assert log_p.dtype == np.float64 and log_p.shape == (81,)
    assert math.isclose(np.exp(log_p).sum(), 1.0, abs_tol=1e-5)


def test_the_learned_prior_beats_the_position_wise_prior_on_dependent_codes(structured):
    trained, data = structured
    test = copies_of_the_first_code(2000, 3, (2, 2), seed=1)
    table = np.stack([np.bincount(data[:, i, j], minlength=3) for i in range(2) for j in range(2)]).reshape(2, 2, 3)
    table = table / table.sum(-1, keepdims=True)
    position_wise = -np.log(table[np.arange(2)[:, None], np.arange(2)[None, :], test]).sum(axis=(1, 2)).mean()
    np.testing.assert_allclose(code_prior_nll(test, table, (2, 2), 3).mean(), position_wise, rtol=1e-12)
    learned = -trained.log_prob(test).mean()
    # Exact: the first code costs ln 3, each other one -log(0.9 + 0.1 / 3) or -log(0.1 / 3).
    p_same = 0.9 + 0.1 / 3
    exact = math.log(3) - 3 * (p_same * math.log(p_same) + (1 - p_same) * math.log(0.1 / 3))
    assert position_wise > 4 * math.log(3) - 0.05  # the marginals are uniform: ~4.39 nats
    assert learned < exact + 0.15 < position_wise - 1.5, (learned, exact, position_wise)


def test_the_logged_loss_is_the_mean_negative_log_prob_in_nats(structured):
    trained, data = structured
    logs = trained.evaluate(data[:500], batch_size=128, verbose=0, return_dict=True)
    assert set(logs) == {"loss", *trained.loss_weights}
    assert logs["loss"] == pytest.approx(sum(w * logs[k] for k, w in trained.loss_weights.items()), rel=1e-6)
    assert logs["loss"] == pytest.approx(-trained.log_prob(data[:500]).mean(), rel=1e-5)
    history = prior(seed=2).fit(data, epochs=2, batch_size=100, verbose=0).history
    assert history["loss"] == history["nll"] and history["loss"][1] < history["loss"][0]


# --------------------------------------------------------------------------- sampling, saving
def test_samples_follow_log_prob_and_a_seed_gives_the_same_grids(structured):
    trained, _ = structured
    draws = trained.sample(4000, seed=3)
    assert draws.shape == (4000, 2, 2) and draws.dtype == np.int64
    np.testing.assert_array_equal(trained.sample(50, seed=7), trained.sample(50, seed=7))
    assert not np.array_equal(trained.sample(50, seed=7), trained.sample(50, seed=8))
    grids = all_grids(3, (2, 2))
    p = np.exp(trained.log_prob(grids))
    index = (draws.reshape(4000, 4) * 3 ** np.arange(3, -1, -1)).sum(-1)  # the row of all_grids
    frequency = np.bincount(index, minlength=81) / 4000
    assert 0.5 * np.abs(frequency - p).sum() < 0.06
    constant = [0, 40, 80]  # the three grids with one code everywhere: likely under the model only jointly
    assert p[constant].sum() > 0.5
    assert abs(frequency[constant].sum() - p[constant].sum()) < 4 * math.sqrt(0.25 / 4000)


def test_save_and_load_keep_log_prob_samples_and_config(structured, tmp_path):
    trained, data = structured
    path = tmp_path / "prior.keras"
    trained.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, PixelCNNPrior) and loaded.get_config() == trained.get_config()
    np.testing.assert_array_equal(loaded.log_prob(data[:64]), trained.log_prob(data[:64]))
    np.testing.assert_array_equal(loaded.sample(20, seed=1), trained.sample(20, seed=1))


def test_bad_codes_and_arguments_name_the_fix():
    model = prior()
    for bad, match in (
        (np.zeros((2, 3, 2)), r"shape \(m, 2, 2\)"),
        (np.zeros((2, 2)), r"codes\[None\]"),
        (np.full((1, 2, 2), 3), r"\[0, 3\)"),
        (np.full((1, 2, 2), -1), r"\[0, 3\)"),
        (np.full((1, 2, 2), 0.5), "whole numbers"),
        (np.zeros((1, 2, 2), dtype=bool), "code indices"),
    ):
        with pytest.raises(vae_tf.InputError, match=match):
            model.log_prob(bad)
    np.testing.assert_array_equal(model.log_prob(np.ones((1, 2, 2))), model.log_prob(np.ones((1, 2, 2), "int64")))
    with pytest.raises(vae_tf.InputError, match="shape"):
        model.fit(np.zeros((4, 2, 3)), epochs=1, verbose=0)
    with pytest.raises(vae_tf.InputError):
        model.sample(0)
    with pytest.raises(ValueError, match="odd"):
        PixelCNNPrior(3, (2, 2), kernel_size=4)
    with pytest.raises(vae_tf.InputError, match="grid_shape"):
        PixelCNNPrior(3, (2, 2, 1))


# --------------------------------------------------------------------------- the VQ-VAE's bound
@pytest.fixture(scope="module")
def vq(mnist):
    """A tiny VQ-VAE (7x7 grid, 8 codes) trained briefly on 512 binarized digits, and 256 others."""
    (x, _), _ = mnist
    digits = vae_tf.binarize_static(vae_tf.scale_images(x[:768]), seed=0)
    keras.utils.set_random_seed(0)
    arch = {"embedding_dim": 4, "filters": (8, 16)}
    model = VQVAE(build_vq_encoder(**arch), build_vq_decoder(**arch), 8, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    model.fit(digits[:512], epochs=3, batch_size=64, verbose=0)
    return model, digits[:512], digits[512:]


def test_the_bounds_pieces_equal_an_independent_computation(vq):
    model, train, test = vq
    result = vq_bound(model, test, batch_size=100)
    assert set(result) == {"reconstruction", "prior_nll", "bound"}
    assert all(v.dtype == np.float64 and v.shape == (256,) for v in result.values())
    assert np.all(result["prior_nll"] == 49 * math.log(8))  # uniform: h w ln K, exactly
    codes = model.encode(test)
    logits = to_numpy(model.decoder(model.quantizer.lookup(codes))).astype("float64")
    x = test.reshape(logits.shape).astype("float64")
    reconstruction = -(x * logits - np.logaddexp(0.0, logits)).sum(axis=(1, 2, 3))  # Bernoulli, in NumPy
    np.testing.assert_allclose(result["reconstruction"], reconstruction, rtol=1e-5)
    terms = model.loss_terms(model.as_model_input(test))  # the encoder's straight-through path
    np.testing.assert_allclose(result["reconstruction"], to_numpy(terms["reconstruction_loss"]), rtol=1e-5)
    np.testing.assert_allclose(result["bound"], result["reconstruction"] + result["prior_nll"], rtol=1e-12)

    table = model.fit_code_prior(model.encode(train), pseudocount=1.0)
    fitted = vq_bound(model, test, table)
    expected = -np.array([sum(math.log(table[i, j, c[i, j]]) for i in range(7) for j in range(7)) for c in codes])
    np.testing.assert_allclose(fitted["prior_nll"], expected, rtol=1e-12)
    np.testing.assert_array_equal(fitted["reconstruction"], result["reconstruction"])
    assert fitted["bound"].mean() < result["bound"].mean() - 5.0  # the codes are far from uniform


def test_the_bound_takes_a_learned_prior_and_rejects_priors_that_do_not_fit(vq):
    model, train, test = vq
    learned = PixelCNNPrior(8, model.grid_shape, filters=16, num_layers=1, seed=0)
    learned.compile(optimizer=keras.optimizers.Adam(3e-3))
    learned.fit(model.encode(train), epochs=2, batch_size=64, verbose=0)
    result = vq_bound(model, test[:50], learned)
    np.testing.assert_allclose(result["prior_nll"], -learned.log_prob(model.encode(test[:50])), rtol=1e-12)
    with pytest.raises(vae_tf.InputError, match="PixelCNNPrior"):
        vq_bound(model, test[:5], PixelCNNPrior(8, (4, 4), filters=4, num_layers=0, kernel_size=3))
    for bad in (np.ones((7, 7, 8)), np.full((7, 8, 8), 1 / 8), "position-wise"):
        with pytest.raises(vae_tf.InputError, match="prior"):
            vq_bound(model, test[:5], bad)
    with pytest.raises(vae_tf.InputError):
        vq_bound(model, test[:5, :27])
