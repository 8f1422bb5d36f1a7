"""The independent judge (vae_tf.judge) and the sample-quality measures (vae_tf.quality).

The judge is trained once per session, on the full offline training set, into a temporary
cache directory (the only long step, about a minute or two); everything else reuses it.
"""

import json
import math
import os
import shutil

import numpy as np
import pytest

import vae_tf
from vae_tf import judge as judge_module
from vae_tf.judge import JudgeError, load_judge, resolve_cache_dir, train_judge_model
from vae_tf.quality import (
    class_histogram,
    digit_accuracy,
    frechet_distance,
    frechet_distance_from_statistics,
    frechet_floor,
)


@pytest.fixture(scope="session")
def test_set(mnist):
    _, (x_test, y_test) = mnist
    return x_test, y_test.astype("int64")


# --------------------------------------------------------------------------- the judge
def test_judge_reaches_99_percent_on_the_test_set(judge, test_set):
    x_test, y_test = test_set
    measured = float(np.mean(judge.predict(x_test) == y_test))
    assert measured >= 0.99
    assert judge.test_accuracy == pytest.approx(measured, abs=1e-12)  # the record holds what we measure


def test_cache_record_describes_the_training(judge, judge_cache, mnist):
    (x, y), _ = mnist
    model_path, record_path = judge_module.judge_paths(judge_module.data_checksum(x, y), 0, judge_cache)
    assert judge.path == model_path and model_path.is_file()
    record = json.loads(record_path.read_text())
    assert record["train_data_sha256"] == judge_module.data_checksum(x, y)
    assert record["seed"] == 0 and record["judge_version"] == judge_module.JUDGE_VERSION
    assert record["train_size"] == len(x) and record["test_size"] == 10_000
    assert record["train_cpu_seconds"] > 0 and record["train_wall_seconds"] > 0
    assert set(record["versions"]) >= {"vae_tf", "keras", "tensorflow"}


def test_second_load_reads_the_cache_without_retraining(judge, judge_cache, test_set):
    mtime = judge.path.stat().st_mtime_ns
    again = load_judge(cache_dir=judge_cache, seed=0, train_if_missing=False)
    assert again.from_cache and again.path == judge.path
    assert judge.path.stat().st_mtime_ns == mtime
    assert again.test_accuracy == judge.test_accuracy
    x = test_set[0][:256]
    np.testing.assert_allclose(again.predict_proba(x), judge.predict_proba(x), rtol=1e-5, atol=1e-7)


def test_missing_judge_without_training_is_a_clear_error(tmp_path):
    with pytest.raises(JudgeError, match="train_if_missing=True"):
        load_judge(cache_dir=tmp_path, train_if_missing=False)
    assert not any(tmp_path.rglob("*.keras"))


def test_unreadable_cache_record_names_the_file_to_delete(judge, tmp_path):
    folder = tmp_path / "judge"
    folder.mkdir()
    shutil.copy(judge.path, folder / judge.path.name)
    (folder / judge.path.with_suffix(".json").name).write_text("{not json")
    with pytest.raises(JudgeError, match="delete .*retrain"):
        load_judge(cache_dir=tmp_path, train_if_missing=False)


def test_cache_directory_order(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_TF_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_dir() == tmp_path / "a"
    assert resolve_cache_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("VAE_TF_CACHE_DIR")
    assert resolve_cache_dir() == tmp_path / "xdg" / "vae_tf"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_cache_dir() == tmp_path / "home" / ".cache" / "vae_tf"


def test_training_is_deterministic_for_a_seed(mnist):
    (x, y), _ = mnist
    x, y = x[:384], y[:384]
    first, again = (train_judge_model(x, y, seed=3, epochs=1) for _ in range(2))
    for a, b in zip(first.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    untrained = judge_module.build_judge_model(3).get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(first.get_weights(), untrained))  # it did train
    other = judge_module.build_judge_model(4).get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(untrained, other) if a.ndim > 1)  # seed matters


def test_predictions_follow_the_pixel_rule(judge, test_set):
    x = test_set[0][:64]
    probs = judge.predict_proba(x)
    assert probs.shape == (64, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(judge.predict(x), probs.argmax(axis=1))
    np.testing.assert_allclose(judge.predict_proba((x / 255.0)[..., None]), probs, atol=1e-6)
    assert judge.features(x).shape == (64, 128)
    with pytest.raises(vae_tf.InputError, match=r"\[0, 1\]"):
        judge.predict(x.astype("float32"))
    with pytest.raises(vae_tf.InputError, match="shape"):
        judge.predict(np.zeros((2, 32, 32, 1), "float32"))


# --------------------------------------------------------------------------- quality measures
def test_class_histogram_on_known_labels():
    h = class_histogram([0, 0, 1, 1])
    assert h["counts"] == [2, 2] + [0] * 8 and h["n"] == 4 and h["classes_covered"] == 2
    assert h["entropy_nats"] == pytest.approx(math.log(2))
    assert h["max_entropy_nats"] == pytest.approx(math.log(10))
    assert class_histogram([7] * 5)["entropy_nats"] == 0.0
    uniform = class_histogram(np.repeat(np.arange(10), 3))
    assert uniform["classes_covered"] == 10 and uniform["entropy_nats"] == pytest.approx(math.log(10))
    with pytest.raises(vae_tf.InputError):
        class_histogram([3, 10])


def test_digit_accuracy_on_test_images_is_the_judges_accuracy_per_class(judge, test_set):
    x_test, y_test = test_set
    predicted = judge.predict(x_test)
    result = digit_accuracy(predicted, y_test)
    for d in range(10):
        assert result["per_digit"][d] == pytest.approx(np.mean(predicted[y_test == d] == d), abs=1e-12)
    assert result["requested_counts"] == np.bincount(y_test, minlength=10).tolist()
    assert result["accuracy"] == pytest.approx(judge.test_accuracy, abs=1e-12)


def test_digit_accuracy_marks_digits_never_requested():
    result = digit_accuracy([1, 2, 2], [1, 1, 2])
    assert result["per_digit"][:3] == [None, 0.5, 1.0] and result["per_digit"][3:] == [None] * 7
    with pytest.raises(vae_tf.InputError):
        digit_accuracy([1, 2], [1, 2, 3])


def test_frechet_distance_of_known_gaussians():
    # 1-D: (0 - 1)^2 + 1 + 4 - 2 * sqrt(1 * 4) = 2.
    assert frechet_distance_from_statistics([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(2.0)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 3))
    cov = a @ a.T  # rank 3 of 5: singular, as dead ReLU features make it
    assert frechet_distance_from_statistics(np.zeros(5), cov, np.zeros(5), cov) == pytest.approx(0.0, abs=1e-6)
    shifted = frechet_distance_from_statistics(np.zeros(5), cov, np.ones(5), cov)
    assert shifted == pytest.approx(5.0, rel=1e-6)


def test_frechet_distance_of_test_set_to_itself_noise_and_halves(judge, test_set):
    x_test = test_set[0]
    scale = float(np.trace(np.cov(judge.features(x_test), rowvar=False)))
    itself = frechet_distance(judge, x_test, x_test)
    floor = frechet_floor(judge, x_test, seed=0)
    noise = np.random.default_rng(0).random((2000, 28, 28), dtype="float32")
    to_noise = frechet_distance(judge, noise, x_test)
    assert itself < 1e-6 * scale
    assert 0 < floor < 0.05 * scale
    assert to_noise > 1.0 * scale and to_noise > 100 * floor
