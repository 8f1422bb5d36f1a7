"""``vae-tf evaluate``: evaluation.json and the summary on quick runs, and bad input (exit 2).

The judge trains once per test session (conftest's ``judge``); the commands find it through
``$VAE_TF_CACHE_DIR`` set to that session cache."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from trained_runs import conditional_dir, our_lines, run_dir, run_vae_tf  # noqa: F401 (fixtures)

K, N = 50, 120  # small IWAE K and test subset: quick, still a clear ELBO-IWAE gap


@pytest.fixture(scope="session")
def cache_dir(judge, judge_cache):
    """The session's judge cache (conftest), the judge already trained there: the commands find it."""
    return judge_cache


def evaluate(path, *args, cache_dir=None):
    return run_vae_tf("evaluate", str(path), *args, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def evaluated(run_dir, cache_dir):
    result = evaluate(run_dir, "--iwae-samples", str(K), "--test-size", str(N), "--seed", "3", cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    return result, json.loads((run_dir / "evaluation.json").read_text())


def test_likelihood_numbers_are_consistent(evaluated, run_dir):
    _, r = evaluated
    t = r["test"]
    assert t["iwae_nll_nats"] > 0
    # -ELBO >= -L_K in expectation; allow the Monte Carlo noise of a 120-image mean
    assert t["neg_elbo_nats"] >= t["iwae_nll_nats"] - 2.0
    assert t["neg_elbo_nats"] == pytest.approx(t["reconstruction_loss_nats"] + t["kl_loss_nats"], rel=1e-9)
    assert t["kl_loss_nats"] >= 0
    assert r["iwae_samples"] == K and 0 <= r["active_units"] <= r["latent_dim"] == 2
    # the per-digit values are the overall ones split by label
    per = r["test_per_digit"]
    assert sum(v["n"] for v in per.values()) == N == r["data"]["n_test_used"]
    weighted = sum(v["n"] * v["iwae_nll_nats"] for v in per.values()) / N
    assert weighted == pytest.approx(t["iwae_nll_nats"], rel=1e-9)
    # the run's training neg ELBO (1000 other test images) is in the same range
    train_metrics = json.loads((run_dir / "metrics.json").read_text())
    assert abs(t["neg_elbo_nats"] - train_metrics["test_neg_elbo_nats"]) < 25


def test_states_data_and_preprocessing(evaluated, run_dir):
    result, r = evaluated
    recorded = json.loads((run_dir / "metrics.json").read_text())["data"]
    assert r["data"]["sha256"] == recorded["sha256"] and r["data"]["same_as_training_run"] is True
    assert r["preprocessing"] == {"trained": "grey", "used": "grey", "description": "grey levels in [0, 1]",
                                  "source": "metrics.json"}
    out = result.stdout
    assert f"{r['data']['source']} (sha256 {recorded['sha256'][:12]})" in out
    assert "pixels: grey levels in [0, 1]" in out
    assert f"IWAE NLL (K={K}, first {N:,} of the images) {r['test']['iwae_nll_nats']:.2f} nats" in out
    assert r["iwae_images"] == N  # fewer than the default 1,000: all of them
    assert f"-ELBO {r['test']['neg_elbo_nats']:.2f} nats" in out
    assert str(run_dir / "evaluation.json") in out
    # grey levels under a Bernoulli likelihood: said, once
    assert sum("not a bound on -log p(x)" in n for n in r["notes"]) == 1


def test_sample_quality_by_the_judge(evaluated):
    _, r = evaluated
    q = r["sample_quality"]
    assert q["judge_test_accuracy"] >= 0.99
    h = q["class_histogram"]
    assert sum(h["counts"]) == h["n"] == q["n_samples"] == N
    assert 1 <= h["classes_covered"] <= 10 and 0 <= h["entropy_nats"] <= h["max_entropy_nats"] + 1e-12
    # a one-epoch 2-D VAE's samples are far further from test images than test halves are from each other
    assert q["frechet_distance"] > q["frechet_floor_test_halves"] > 0
    assert "digit_accuracy" not in q


def test_conditional_model_reports_digit_accuracy(conditional_dir, cache_dir):
    result = evaluate(conditional_dir, "--test-size", "100", cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    r = json.loads((conditional_dir / "evaluation.json").read_text())
    assert r["model_class"] == "AuxiliaryClassifierVAE" and r["iwae_samples"] is None
    assert "iwae_nll_nats" not in r["test"] and r["test"]["neg_elbo_nats"] > 0
    acc = r["sample_quality"]["digit_accuracy"]
    assert acc["requested_counts"] == [10] * 10 and len(acc["per_digit"]) == 10
    assert acc["accuracy"] == pytest.approx(np.mean(acc["per_digit"]))
    assert "asked digit" in result.stdout


def test_bare_model_file_and_preprocessing_flag(run_dir, tmp_path):
    shutil.copy(run_dir / "model.keras", tmp_path / "m.keras")
    result = evaluate(tmp_path / "m.keras", "--iwae-samples", "5", "--test-size", "20", "--no-judge",
                      "--preprocessing", "threshold")
    assert result.returncode == 0, result.stderr[-2000:]
    r = json.loads((tmp_path / "evaluation.json").read_text())
    assert r["preprocessing"]["trained"] is None and r["preprocessing"]["used"] == "threshold"
    assert r["data"]["same_as_training_run"] is None and "sample_quality" not in r
    assert "binarized at 0.5" in result.stdout
    assert not any("not a bound" in n for n in r["notes"])  # binary pixels: a real bound


def test_refuses_to_mix_preprocessing_unless_asked(run_dir, tmp_path):
    result = evaluate(run_dir, "--preprocessing", "static", "--test-size", "20", "--no-judge")
    assert result.returncode == 2
    assert our_lines(result.stderr) == [l for l in result.stderr.splitlines() if "mismatch" in l]
    assert len(our_lines(result.stderr)) == 1 and "--allow-preprocessing-mismatch" in result.stderr
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    ok = evaluate(copy, "--preprocessing", "static", "--allow-preprocessing-mismatch", "--test-size", "20",
                  "--iwae-samples", "5", "--no-judge")
    assert ok.returncode == 0, ok.stderr[-2000:]
    p = json.loads((copy / "evaluation.json").read_text())["preprocessing"]
    assert (p["trained"], p["used"]) == ("grey", "static")


@pytest.mark.parametrize(
    "args, words",
    [
        (["--iwae-samples", "0"], "--iwae-samples"),
        (["--iwae-samples", "-3"], "--iwae-samples"),
        (["--test-size", "0"], "--test-size"),
        (["--test-size", "many"], "--test-size"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bad_options_exit_2(run_dir, args, words):
    result = evaluate(run_dir, *args)
    assert result.returncode == 2
    lines = our_lines(result.stderr)
    assert len(lines) == 1 and words in lines[0]


def test_missing_and_non_model_paths_exit_2(tmp_path):
    missing = evaluate(tmp_path / "nowhere")
    not_model = tmp_path / "notes.keras"
    not_model.write_text("not a model")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    for result, words in ((missing, "does not exist"), (evaluate(not_model), "is not a Keras model file"),
                          (evaluate(empty_dir), "holds no model.keras")):
        assert result.returncode == 2
        lines = our_lines(result.stderr)
        assert len(lines) == 1 and words in lines[0], result.stderr[-1000:]
