"""The trained model the course ships for notebook 03 (vae_tf/course/models.py): it is notebook 02's
model, a run of 02 on this machine takes precedence, and the shipping command writes what it says."""

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest

import vae_tf
from vae_tf.course import models

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK02 = ROOT / "notebooks" / "02_mnist_vae_2d.ipynb"


@pytest.fixture(scope="module")
def shipped():
    return models.load_notebook02_vae(None)


@pytest.fixture(scope="module")
def shipped_scores(shipped):
    return models.record_scores(shipped[0])


def test_the_shipped_weights_are_the_ones_the_record_describes():
    record = models.notebook02_record()
    assert record["weights_sha256"] == models.weights_sha256()
    assert record["course_train_sha256"] == vae_tf.data.COURSE_TRAIN_SHA256


def test_rounding_to_float16_costs_the_model_nothing_measurable():
    """The shipped weights are 02's rounded to float16 (1.6 MB instead of 3.3): the record shows
    how far, and the rounded model's test scores equal the original's to 0.001 nats."""
    record = models.notebook02_record()
    assert 0 < record["largest_rounding_change"] < 2e-3
    for key, value in record["float32_original"].items():
        assert record[key] == pytest.approx(value, abs=1e-3), key


def test_the_shipped_model_scores_what_its_record_says(shipped, shipped_scores):
    model, source = shipped
    assert "shipped" in source and isinstance(model, vae_tf.VAE) and model.latent_dim == 2
    record = models.notebook02_record()
    for key, value in shipped_scores.items():  # same seed: only another machine's round-off differs
        assert value == pytest.approx(record[key], abs=0.05), key


def test_the_shipped_model_is_ready_for_evaluate_as_notebook_03_uses_it(shipped):
    """Issue 25: a fresh clone (Colab, CI) has no 02 file, so 03 gets the shipped copy and calls
    evaluate on it at once."""
    (x_train, _), _ = vae_tf.load_course_mnist()
    terms = shipped[0].evaluate(vae_tf.make_dataset(x_train[:256], shuffle=False), return_dict=True, verbose=0)
    assert terms["loss"] == pytest.approx(terms["reconstruction_loss"] + terms["kl_loss"], rel=1e-5)
    assert 100 < terms["loss"] < 250  # a trained 2-D VAE on MNIST, in nats per image


def test_the_shipped_model_is_the_one_notebook_02_stored(shipped_scores):
    """The KL term of the test set (closed form, no sampling) is a fingerprint of the weights: the
    stored notebook 02 printed it for its MLP VAE."""
    from vae_tf.course.claims import RECORDS_MIME

    cells = json.loads(NOTEBOOK02.read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    # the stored summary's records (issue 34), or the printed line of a notebook stored before it
    values = [r["measured"] for o in outputs for r in o.get("data", {}).get(RECORDS_MIME, {}).get("records", [])
              if r["text"] == "5.45" and r["verdict"] == "ok"]
    values += [float(v) for v in re.findall(r'stated ✓ "5\.45" \(this run: ([0-9.]+)', "".join("".join(o.get("text", "")) for o in outputs))]
    assert values, "notebook 02's stored run no longer states its MLP VAE's test KL as 5.45"
    assert shipped_scores["test_kl"] == pytest.approx(values[0], abs=1e-3)


def _small_vae(latent_dim=2):
    keras.utils.set_random_seed(0)
    return vae_tf.VAE(vae_tf.build_encoder(latent_dim=latent_dim, hidden_units=(8,)),
                      vae_tf.build_decoder(latent_dim=latent_dim, hidden_units=(8,)), seed=0)


def test_a_saved_run_of_notebook_02_takes_precedence(tmp_path):
    path = tmp_path / "vae_2d_mlp.keras"
    mine = _small_vae()
    mine.save(path)
    model, source = models.load_notebook02_vae(path)
    assert str(path) in source
    np.testing.assert_array_equal(model.decode(np.zeros((1, 2), "float32")), mine.decode(np.zeros((1, 2), "float32")))
    _, fallback = models.load_notebook02_vae(tmp_path / "missing.keras")
    assert "shipped" in fallback


def test_a_file_that_holds_another_model_is_refused(tmp_path):
    path = tmp_path / "vae_16d.keras"
    _small_vae(latent_dim=16).save(path)
    with pytest.raises(TypeError, match="not notebook 02's 2-D VAE"):
        models.load_notebook02_vae(path)
    with pytest.raises(TypeError, match="not notebook 02's 2-D VAE"):
        models.ship_notebook02_vae(path, weights=tmp_path / "w.h5", record_path=tmp_path / "w.json")


def test_shipping_writes_the_weights_and_a_record_that_match(tmp_path, shipped):
    saved = tmp_path / "vae_2d_mlp.keras"
    copy = models.build_notebook02_vae()  # the weights, without the fresh optimizer the loader compiles
    copy.set_weights(shipped[0].get_weights())
    copy.save(saved)
    weights, record_path = tmp_path / "w.weights.h5", tmp_path / "w.json"
    record = models.ship_notebook02_vae(saved, weights=weights, record_path=record_path)
    assert json.loads(record_path.read_text()) == record
    assert record["weights_sha256"] == models.weights_sha256(weights)
    assert weights.stat().st_size < 2e6  # float16
    for a, b in zip(models.read_weights(weights), shipped[0].get_weights()):  # already float16 values: unchanged
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="run notebook 02"):
        models.ship_notebook02_vae(tmp_path / "missing.keras", weights=weights, record_path=record_path)
