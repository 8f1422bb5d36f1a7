"""The IWAE objective (vae_tf.IWAE) and the reproduction script benchmarks/iwae_table.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import vae_tf

ROOT = Path(__file__).resolve().parent.parent


def binary_images(n, seed=0):
    return (np.random.default_rng(seed).random((n, 28, 28, 1)) < 0.3).astype("float32")


def nets(seed=0, latent_dim=3):
    keras.utils.set_random_seed(seed)
    arch = {"latent_dim": latent_dim, "hidden_units": (16,)}
    return vae_tf.build_encoder(**arch), vae_tf.build_decoder(**arch)


def numpy_terms(terms):
    return {k: keras.ops.convert_to_numpy(v) for k, v in terms.items()}


def test_k1_equals_the_vae_objective_exactly():
    enc, dec = nets()
    x = binary_images(16)
    vae = numpy_terms(vae_tf.VAE(enc, dec, seed=3).loss_terms(x, training=True))
    iwae = numpy_terms(vae_tf.IWAE(enc, dec, k=1, seed=3).loss_terms(x, training=True))
    for name in ("loss", "reconstruction_loss", "kl_loss"):
        np.testing.assert_array_equal(iwae[name], vae[name])
    np.testing.assert_array_equal(iwae["iwae_gain"], 0.0)


def test_k_sample_loss_matches_the_held_out_estimator_in_expectation():
    """The training path's -L_k and iwae_log_likelihood's L_k (K = k) agree per image in
    expectation: the sample/example layout of the training path is right."""
    enc, dec = nets()
    model = vae_tf.IWAE(enc, dec, k=5, seed=1)
    x, reps = binary_images(4), 400
    x_rep = np.repeat(x, reps, axis=0)  # image i at rows i*reps .. (i+1)*reps - 1
    train = numpy_terms(model.loss_terms(x_rep))["loss"].reshape(4, reps)
    held_out = -vae_tf.iwae_log_likelihood(model, x_rep, num_samples=5, seed=0).reshape(4, reps)
    se = np.sqrt(train.var(axis=1) / reps + held_out.var(axis=1) / reps)
    assert np.all(np.abs(train.mean(axis=1) - held_out.mean(axis=1)) < 4 * se + 1e-3)
    # and the images differ enough that a mixed-up layout would show
    assert np.ptp(train.mean(axis=1)) > 10 * se.max()


def test_bounds_are_ordered_in_expectation():
    """E[-L_50] <= E[-L_5] <= E[-ELBO] (the VAE loss), on an untrained model with a wide gap."""
    enc, dec = nets()
    x = np.repeat(binary_images(8), 50, axis=0)
    means = {}
    for k in (1, 5, 50):
        terms = numpy_terms(vae_tf.IWAE(enc, dec, k=k, seed=2).loss_terms(x))
        means[k] = terms["loss"].mean()
        if k > 1:  # the logged terms add up to the loss
            np.testing.assert_allclose(
                terms["loss"], terms["reconstruction_loss"] + terms["kl_loss"] - terms["iwae_gain"], rtol=1e-5
            )
            assert terms["iwae_gain"].mean() > 0
    assert means[50] < means[5] < means[1]


def test_k_sample_elbo_objective_has_the_vae_expectation():
    enc, dec = nets()
    x = np.repeat(binary_images(4), 200, axis=0)
    vae = numpy_terms(vae_tf.VAE(enc, dec, seed=4).loss_terms(x))["loss"]
    elbo5 = numpy_terms(vae_tf.IWAE(enc, dec, k=5, objective="elbo", seed=4).loss_terms(x))
    np.testing.assert_allclose(elbo5["loss"], elbo5["reconstruction_loss"] + elbo5["kl_loss"], rtol=1e-6)
    se = np.sqrt(vae.var() / len(x))
    assert abs(vae.mean() - elbo5["loss"].mean()) < 4 * se
    assert elbo5["loss"].var() < vae.var()  # 5 samples: a lower-variance estimate


@pytest.mark.parametrize("objective", ["iwae", "elbo"])
def test_fit_under_xla_gives_finite_gradients_and_terms_that_add_up(objective):
    enc, dec = nets()
    model = vae_tf.IWAE(enc, dec, k=5, objective=objective, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True, steps_per_execution=8)  # as the CLI does
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(vae_tf.make_dataset(binary_images(96), batch_size=16, seed=0), epochs=2, verbose=0).history
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss", "iwae_gain"}
    assert all(np.isfinite(v).all() for v in history.values())
    assert all(np.isfinite(w.numpy()).all() for w in model.trainable_weights)
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    logged = sum(weight * np.array(history[name]) for name, weight in model.loss_weights.items())
    np.testing.assert_allclose(history["loss"], logged, rtol=1e-4)


def test_save_and_load_keep_k_objective_and_the_next_draws(tmp_path):
    enc, dec = nets()
    model = vae_tf.IWAE(enc, dec, k=7, objective="elbo", seed=5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(binary_images(32), batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "iwae.keras")
    loaded = keras.models.load_model(tmp_path / "iwae.keras")
    assert type(loaded) is vae_tf.IWAE and (loaded.k, loaded.objective) == (7, "elbo")
    x = binary_images(8, seed=1)
    np.testing.assert_allclose(
        numpy_terms(loaded.loss_terms(x))["loss"], numpy_terms(model.loss_terms(x))["loss"], rtol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0}, "k must be"),
        ({"k": 2.5}, "k must be"),
        ({"beta": 2.0}, "beta must be 1"),
        ({"objective": "vae"}, "objective"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    enc, dec = nets()
    with pytest.raises(ValueError, match=match):
        vae_tf.IWAE(enc, dec, **kwargs)


# --------------------------------------------------------------------------- the reproduction script
sys.path.insert(0, str(ROOT))
from benchmarks import iwae_table  # noqa: E402


def test_schedule_scales_the_papers_stages():
    full = iwae_table.schedule(1.0)
    assert [n for n, _ in full] == [3**i for i in range(8)] and sum(n for n, _ in full) == 3280
    assert full[0][1] == pytest.approx(1e-3) and full[7][1] == pytest.approx(1e-4)
    assert [n for n, _ in iwae_table.schedule(0.01)] == [1, 1, 1, 1, 1, 2, 7, 22]
    stages = [(2, 0.1), (3, 0.01)]
    assert [iwae_table.learning_rate_at(stages, e) for e in range(6)] == [0.1, 0.1, 0.01, 0.01, 0.01, 0.01]


def run_script(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "iwae_table.py"), *args],
        capture_output=True, text=True, env=env, timeout=600,
    )


def test_script_tiny_run_saves_results_and_a_rerun_skips_them(tmp_path):
    out = tmp_path / "table.json"
    first = run_script("--tiny", "--out", str(out))
    assert first.returncode == 0, first.stderr[-2000:]
    stored = json.loads(out.read_text())
    assert [r["config"] for r in stored["results"]] == ["vae-1", "iwae-5"]
    for r in stored["results"]:
        assert np.isfinite(r["test_nll_nats"]) and r["test_nll_nats"] > 0
        assert r["published_nll_nats"] == iwae_table.PUBLISHED[r["config"]]
        assert r["epochs"] == 8 and r["train_wall_s"] >= 0
    assert "training images: 128 (paper: 60,000)" in first.stdout
    assert "| IWAE | 5 | 8 |" in first.stdout and "85.54" in first.stdout
    second = run_script("--tiny", "--configs", "vae-1,iwae-5,iwae-1", "--out", str(out))
    assert second.returncode == 0, second.stderr[-2000:]
    assert "vae-1: already in" in second.stdout and "iwae-5: already in" in second.stdout
    results = json.loads(out.read_text())["results"]
    assert results[:2] == stored["results"]  # kept, not re-measured
    assert results[2]["config"] == "iwae-1" and results[2]["copied_from"] == "vae-1"
    assert results[2]["test_nll_nats"] == results[0]["test_nll_nats"]  # k = 1: the same run


@pytest.mark.parametrize(
    "args, match", [(["--configs", "vae-3"], "unknown config"), (["--test-n", "0"], "--test-n")]
)
def test_script_rejects_bad_options(args, match):
    result = run_script(*args)
    assert result.returncode == 2 and match in result.stderr
