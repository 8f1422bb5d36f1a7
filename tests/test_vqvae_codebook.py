"""The VQ-VAE's codebook measured over the whole data (CodePerplexity, VQVAE.codebook_statistics)
and kept alive (dead-code restarts, VQVAE(restart_every=...)), issue 33 point 6.

``python tests/test_vqvae_codebook.py mirrored`` is the tf.distribute check this file runs in a
fresh process (TensorFlow's device split must be set before it initialises); it prints one JSON
line prefixed ``RESULT ``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

import vae_tf
from vae_tf.family.vqvae import (
    VQVAE,
    CodePerplexity,
    VectorQuantizer,
    build_vq_decoder,
    build_vq_encoder,
    code_counts,
    code_perplexity,
)

to_numpy = keras.ops.convert_to_numpy
ARCH = {"embedding_dim": 4, "filters": (8, 16)}
DEAD = 4  # codes 4..7 of 8 start far from every encoder output: no vector is ever assigned to them


@pytest.fixture(scope="module")
def digits(mnist):
    """500 static-binarized training digits (n, 28, 28, 1): the same pixels at every call."""
    (x, _), _ = mnist
    return vae_tf.binarize_static(vae_tf.scale_images(x[:500]), seed=0)


def vq_vae(ema=False, seed=0, optimizer=None, dead=False, **kwargs):
    """A small VQ-VAE with 8 codes; with ``dead``, codes 4..7 moved 10 away in every dimension."""
    keras.utils.set_random_seed(seed)
    model = VQVAE(build_vq_encoder(**ARCH), build_vq_decoder(**ARCH), 8, ema=ema, seed=seed, **kwargs)
    if dead:
        kill_codes(model)
    model.compile(optimizer=optimizer or keras.optimizers.Adam(3e-3), jit_compile=False)
    return model


def kill_codes(model) -> None:
    q = model.quantizer
    codebook = to_numpy(q.codebook).copy()
    codebook[DEAD:] += 10.0
    q.codebook.assign(codebook)
    if q.ema:  # the EMA state agrees: each code the average of one vector, itself
        q.ema_sum.assign(codebook * to_numpy(q.ema_count)[:, None])


def numpy_perplexity(indices, k):
    p = np.bincount(np.ravel(indices), minlength=k) / np.size(indices)
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


# --------------------------------------------------------------------------- perplexity of the whole data
def test_codebook_statistics_are_those_of_every_code_of_the_data_at_once(digits):
    model = vq_vae()
    model.fit(digits[:128], epochs=1, batch_size=32, verbose=0)
    codes = model.encode(digits)
    stats = model.codebook_statistics(digits)
    assert stats == model.codebook_statistics(digits, batch_size=7)  # no batch in the number
    assert stats["codes_used"] == len(np.unique(codes)) and stats["codes_used"] > 1
    assert stats["perplexity"] == pytest.approx(numpy_perplexity(codes, 8), rel=1e-12)
    assert 1.0 < stats["perplexity"] <= stats["codes_used"]
    batch_means = np.mean([numpy_perplexity(codes[i : i + 10], 8) for i in range(0, 500, 10)])
    assert batch_means != pytest.approx(stats["perplexity"], rel=1e-3)  # what the old metric logged differs


def test_code_perplexity_metric_accumulates_counts_until_reset():
    metric = CodePerplexity(4)
    assert float(metric.result()) == pytest.approx(1.0)  # nothing counted yet
    metric.update_state(code_counts(np.zeros((2, 3), "int32"), 4))  # six zeros: perplexity 1
    assert float(metric.result()) == pytest.approx(1.0)
    metric.update_state(code_counts(np.array([1, 2, 3, 1, 2, 3]), 4))
    both = np.array([0] * 6 + [1, 2, 3] * 2)
    assert float(metric.result()) == pytest.approx(float(code_perplexity(both, 4)), rel=1e-6)
    assert float(metric.result()) == pytest.approx(numpy_perplexity(both, 4), rel=1e-6)
    np.testing.assert_array_equal(to_numpy(metric.counts), [6, 2, 2, 2])
    metric.reset_state()
    np.testing.assert_array_equal(to_numpy(metric.counts), 0)
    with pytest.raises(ValueError, match="sample_weight"):
        metric.update_state(np.ones(4), sample_weight=np.ones(4))
    assert CodePerplexity.from_config(metric.get_config()).num_embeddings == 4


@pytest.mark.parametrize("ema", [False, True], ids=["codebook_loss", "ema"])
def test_the_logged_perplexity_is_the_whole_data_s_whatever_the_batch_size(digits, ema):
    """evaluate and fit (SGD(0): the codes stay put; EMA off so the codebook does too) log the
    perplexity of every code of the data, the same at batch 32, 100 and 500."""
    model = vq_vae(ema=ema)
    model.fit(digits[:128], epochs=1, batch_size=32, verbose=0)
    whole = model.codebook_statistics(digits)["perplexity"]
    for batch_size in (32, 500):
        logs = model.evaluate(digits, batch_size=batch_size, verbose=0, return_dict=True)
        assert logs["perplexity"] == pytest.approx(whole, rel=1e-5), batch_size
    if ema:
        return
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False)
    for batch_size in (100, 500):  # two epochs each: the counts start again at each epoch
        history = model.fit(digits, epochs=2, batch_size=batch_size, shuffle=False, verbose=0).history
        np.testing.assert_allclose(history["perplexity"], [whole, whole], rtol=1e-5)


# --------------------------------------------------------------------------- dead-code restarts
def test_restart_arguments_are_checked_and_default_off():
    q = VectorQuantizer(8, 4, seed=0)
    assert q.restart_every is None and [w.name for w in q.weights] == ["codebook"]
    with pytest.raises(ValueError, match="restart_unused_codes needs"):
        q.restart_unused_codes(np.zeros((1, 2, 2, 4), "float32"), np.zeros((1, 2, 2), "int32"))
    with pytest.raises(vae_tf.InputError, match="restart_every must be an integer >= 1"):
        VectorQuantizer(8, 4, restart_every=0)
    with pytest.raises(ValueError, match="restart_threshold must be a finite number > 0"):
        VectorQuantizer(8, 4, restart_every=10, restart_threshold=0.0)
    on = VectorQuantizer(8, 4, ema=True, restart_every=10)
    assert [w.name for w in on.weights] == ["codebook", "ema_count", "ema_sum", "code_use", "steps_since_check"]


@pytest.mark.parametrize("ema", [False, True], ids=["codebook_loss", "ema"])
def test_restarts_move_unused_codes_to_batch_vectors_every_n_steps(digits, ema):
    """SGD(0): only the quantizer's own updates move the codebook. With restart_every=3, the
    unused codes wait two steps, then each moves to an encoder output of the third batch."""
    model = vq_vae(ema=ema, optimizer=keras.optimizers.SGD(0.0), dead=True, restart_every=3)
    q, x = model.quantizer, digits[:16]
    z_e = to_numpy(model.encoder(x)).reshape(-1, 4)  # the encoder does not move under SGD(0)
    start = to_numpy(q.codebook).copy()
    for step in (1, 2):
        model.train_on_batch(x)
        np.testing.assert_allclose(to_numpy(q.codebook)[DEAD:], start[DEAD:], atol=1e-3)  # (EMA: its smoothing)
        assert int(q.steps_since_check) == step
    use = to_numpy(q.code_use).copy()
    assert use.sum() == 2 * 16 * 49 and np.all(use[DEAD:] == 0)
    unused = use == 0  # the third step assigns as the first two: SGD(0) moves no code
    model.train_on_batch(x)
    restarted = to_numpy(q.codebook)[unused]
    distance = ((restarted[:, None, :] - z_e[None]) ** 2).sum(-1).min(1)  # to the nearest batch vector
    np.testing.assert_allclose(distance, 0.0, atol=1e-10)
    assert int(q.steps_since_check) == 0 and np.all(to_numpy(q.code_use) == 0)
    if ema:  # the restarted codes' EMA state: the average of one vector, itself
        np.testing.assert_array_equal(to_numpy(q.ema_count)[unused], 1.0)
        np.testing.assert_array_equal(to_numpy(q.ema_sum)[unused], restarted)
    else:  # the used codes: moved by nothing
        np.testing.assert_array_equal(to_numpy(q.codebook)[~unused], start[~unused])
    assert model.codebook_statistics(x)["codes_used"] > DEAD


@pytest.mark.parametrize("ema", [False, True], ids=["codebook_loss", "ema"])
def test_restarts_revive_a_dead_codebook_the_same_way_for_one_seed(digits, ema):
    def train(**kwargs):
        model = vq_vae(ema=ema, dead=True, **kwargs)
        history = model.fit(digits[:256], epochs=2, batch_size=32, shuffle=False, verbose=0).history
        return model, history

    plain, _ = train()
    assert plain.codebook_statistics(digits)["codes_used"] <= DEAD  # dead codes stay dead
    revived, history = train(restart_every=4)
    stats = revived.codebook_statistics(digits)
    assert stats["codes_used"] > DEAD + 1
    assert stats["perplexity"] > plain.codebook_statistics(digits)["perplexity"]
    assert np.all(np.isfinite(history["loss"]))
    again, _ = train(restart_every=4)  # one seed, the same restarts and the same weights
    for a, b in zip(revived.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_load_keeps_the_restarts_their_state_and_their_draws(digits, tmp_path):
    model = vq_vae(ema=True, dead=True, restart_every=2, restart_threshold=5.0)
    x = digits[:32]
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    model.train_on_batch(x)  # one step into the next window: a count to keep
    path = tmp_path / "restarts.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert (loaded.restart_every, loaded.quantizer.restart_threshold) == (2, 5.0)
    assert int(loaded.quantizer.steps_since_check) == 1
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    for m in (model, loaded):  # dead codes again: the check after the next window restarts them
        kill_codes(m)
    before = to_numpy(model.quantizer.codebook).copy()
    for _ in range(3):  # the window's last step, then a whole window
        model.train_on_batch(x)
        loaded.train_on_batch(x)
    assert np.abs(to_numpy(model.quantizer.codebook)[DEAD:] - before[DEAD:]).min() > 1.0  # restarted
    for a, b in zip(model.get_weights(), loaded.get_weights()):  # the same draws: the generator came back
        np.testing.assert_array_equal(a, b)
    config = model.get_config()
    del config["restart_every"], config["restart_threshold"]  # a file saved before the option
    assert VQVAE.from_config(config).restart_every is None


def test_restarts_train_under_mixed_float16(digits):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3), initial_scale=64.0)
        model = vq_vae(ema=True, optimizer=optimizer, dead=True, restart_every=1)
        assert model.encoder.compute_dtype == "float16" and model.quantizer.compute_dtype == "float32"
        history = model.fit(digits[:64], epochs=1, batch_size=32, verbose=0).history
        assert int(model.optimizer.iterations) == 2  # no step skipped for overflow
        assert all(np.isfinite(v).all() for v in history.values()), history
        logs = model.evaluate(digits[:64], batch_size=32, verbose=0, return_dict=True)
        assert logs["loss"] == pytest.approx(sum(w * logs[k] for k, w in model.loss_weights.items()), rel=1e-5)
        assert model.codebook_statistics(digits[:64])["codes_used"] > DEAD
    finally:
        keras.mixed_precision.set_global_policy(previous)


# --------------------------------------------------------------------------- tf.distribute
def test_restarts_and_perplexity_on_two_replicas_equal_one_device():
    """Two SGD epochs of 13 examples, batch 8 (4 + 4, then 3 + 2 per replica), restarting dead
    codes at every step, with and without EMA: each replica's quantizer equals one device's (the
    restarts draw from every replica's vectors); and evaluate's perplexity (12 examples, 3 + 3 per
    replica and batch) is the whole data's, the counts of both replicas."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    proc = subprocess.run([sys.executable, __file__, "mirrored"], env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    for case in ("codebook_loss", "ema"):
        r = result[case]
        assert r["replicas"] == 2 and r["steps"] == [4, 4], case
        assert r["dead_moved"] > 5.0  # the restarts happened: the comparison can fail
        assert r["max_relative_diff"] < 1e-5, case
        assert r["perplexity"][1] == pytest.approx(r["perplexity"][0], rel=1e-5), case
        assert r["perplexity"][0] == pytest.approx(r["whole_data"], rel=1e-5), case
        assert r["whole_data"] > 1.5  # several codes in use: a replica's own counts would differ


def _mirrored_check() -> dict:
    from vae_tf.app import distribute

    strategy = distribute.strategy_from_name("mirrored", logical_cpus=2)
    import tensorflow as tf

    (x, _), _ = vae_tf.load_mnist()
    x = vae_tf.binarize_static(vae_tf.scale_images(x[:13]), seed=0)
    result = {}
    for ema, case in ((False, "codebook_loss"), (True, "ema")):
        single = vq_vae(ema=ema, optimizer=keras.optimizers.SGD(0.05), dead=True, restart_every=1, decay=0.5)
        weights, start = single.get_weights(), to_numpy(single.quantizer.codebook).copy()
        with strategy.scope():
            mirrored = vq_vae(ema=ema, optimizer=keras.optimizers.SGD(0.05), restart_every=1, decay=0.5)
            mirrored.set_weights(weights)
        # before training, while several codes are in use: evaluate does not move the codebook
        evaluate = [m.evaluate(x[:12], batch_size=6, verbose=0, return_dict=True) for m in (single, mirrored)]
        whole = single.codebook_statistics(x[:12])["perplexity"]
        for m in (single, mirrored):
            m.fit(x, batch_size=8, epochs=2, shuffle=False, verbose=0)
        per_replica = strategy.run(lambda m=mirrored: [tf.identity(w) for w in m.quantizer.weights])
        replicas = [[np.array(t) for t in local] for local in strategy.experimental_local_results(per_replica)]
        one = [to_numpy(w) for w in single.quantizer.weights]
        result[case] = {
            "replicas": strategy.num_replicas_in_sync,
            "steps": [int(to_numpy(m.optimizer.iterations)) for m in (single, mirrored)],
            "dead_moved": float(np.abs(one[0][DEAD:] - start[DEAD:]).min()),
            "max_relative_diff": max(float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))
                                     for local in replicas for a, b in zip(local, one)),  # fmt: skip
            "perplexity": [float(e["perplexity"]) for e in evaluate],
            "whole_data": whole,
        }
    return result


if __name__ == "__main__" and sys.argv[1:] == ["mirrored"]:
    print("RESULT " + json.dumps(_mirrored_check()), flush=True)
