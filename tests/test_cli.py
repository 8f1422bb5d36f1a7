"""The command line ``python -m vae_tf train``: outputs, bad input, NaN stop, interrupt and resume.

The real command runs in subprocesses on the offline MNIST in quick mode; bad-input cases
and small training runs also go through ``vae_tf.app.cli.main`` in-process (same code path, no
TensorFlow start-up per case).
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import matplotlib.image
import numpy as np
import pytest

import vae_tf
from vae_tf.app import cli
MNIST = vae_tf.find_mnist()
SMALL = ["--train-size", "256", "--test-size", "64", "--batch-size", "64", "--verbose", "0"]
FIGURES_2D = ["latent.png", "manifold.png", "reconstructions.png", "samples.png", "training_curves.png"]


def _env() -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", VAE_TF_QUICK="")
    env["VAE_TF_MNIST"] = str(MNIST)  # the real command finds the offline copy from any directory
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vae_tf", "train", *args]


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(_command(*args), cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _our_lines(stderr: str) -> list[str]:
    """stderr lines written by the CLI (TensorFlow's C++ start-up logging filtered out)."""
    return [line for line in stderr.splitlines() if line.startswith("vae-tf")]


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def _check_history_adds_up(history: dict, beta: float, epochs: int) -> None:
    assert history["epoch"] == list(range(1, epochs + 1))
    for prefix in ("", "val_"):
        loss, rec, kl = (np.asarray(history[prefix + k]) for k in ("loss", "reconstruction_loss", "kl_loss"))
        assert loss.shape == rec.shape == kl.shape == (epochs,)
        assert np.all(np.isfinite(loss)) and np.all(kl >= 0) and np.all(rec > 0)
        np.testing.assert_allclose(loss, rec + beta * kl, rtol=1e-4)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One real quick run: ``python -m vae_tf train --quick --out DIR --tensorboard tb``."""
    cwd = tmp_path_factory.mktemp("quick")
    result = run_cli("--quick", "--out", "run", "--tensorboard", "tb", cwd=cwd)
    return cwd / "run", result


# --------------------------------------------------------------------------- the main job
def test_quick_run_writes_loadable_model_history_metrics_and_figures(quick_run):
    out, result = quick_run
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "Epoch 2/2" in result.stdout  # Keras progress, one line per epoch when not a terminal
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("vae-tf: done:") and "test -ELBO" in summary

    history = _read_json(out / "history.json")
    _check_history_adds_up(history, beta=1.0, epochs=2)

    metrics = _read_json(out / "metrics.json")
    assert metrics["epochs"] == 2 and metrics["config"]["quick"] is True
    assert (metrics["n_train"], metrics["n_validation"], metrics["n_test"]) == (1800, 200, 1000)
    assert math.isclose(
        metrics["test_neg_elbo_nats"], metrics["test_reconstruction_loss_nats"] + metrics["test_kl_loss_nats"], rel_tol=1e-6
    )
    # Binary cross-entropy of grey-level MNIST after two short epochs: well below the 543 nats
    # of an all-0.5 model, far above a trained model's ~140.
    assert 100 < metrics["test_neg_elbo_nats"] < 400
    assert metrics["wall_time_s"] > 0 and metrics["train_samples_per_second"] > 0

    assert sorted(metrics["figures"]) == sorted(FIGURES_2D)
    for name in FIGURES_2D:
        image = matplotlib.image.imread(out / name)
        assert image.ndim == 3 and min(image.shape[:2]) > 100 and image.std() > 0.01, name

    # Loadable in another process than the one that trained it (this one), optimizer included.
    model = keras.models.load_model(out / "model.keras")
    assert isinstance(model, vae_tf.VAE) and model.latent_dim == 2
    assert int(model.optimizer.iterations) == 2 * math.ceil(1800 / 128)
    (_, _), (x_test, _) = vae_tf.load_mnist(MNIST)
    x = vae_tf.scale_images(x_test[:8])
    assert model.reconstruct(x).shape == (8, 28, 28, 1)

    state = _read_json(out / "checkpoint" / "state.json")
    assert state["epoch"] == 2 and (out / "checkpoint" / state["model_file"]).is_file()
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == ["epoch-0002.keras", "state.json"]
    assert not [p.name for p in out.rglob(".*tmp*")]  # no temporary files left behind
    _check_csv_is_the_history(out, epochs=2)
    # --tensorboard: Keras's TensorBoard callback wrote event files for training and validation.
    for split in ("train", "validation"):
        assert list((out.parent / "tb" / split).glob("events.out.tfevents.*")), split


def _check_csv_is_the_history(out: Path, epochs: int) -> None:
    """history.csv (keras.callbacks.CSVLogger: one row per completed epoch, counted from 0) holds
    the numbers of history.json."""
    import csv

    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    history = _read_json(out / "history.json")
    assert [int(r["epoch"]) for r in rows] == list(range(epochs))
    for key in ("loss", "val_loss", "kl_loss"):
        assert [float(r[key]) for r in rows] == history[key], key


def test_rerun_into_a_finished_run_is_refused_and_resume_with_other_settings_fails(quick_run, capsys):
    out, _ = quick_run
    cases = [
        ([], "already holds a run"),
        (["--resume", "--arch", "conv"], "--arch 'conv' (checkpoint: 'mlp')"),
        (["--resume", "--latent-dim", "3"], "--latent-dim 3 (checkpoint: 2)"),
        (["--resume", "--conditional"], "--conditional True (checkpoint: False)"),
        (["--resume", "--likelihood", "gaussian"], "--likelihood"),
        (["--resume", "--epochs", "1"], "more than --epochs 1"),
    ]
    for extra, expected in cases:
        assert cli.main(["train", "--out", str(out), "--data", str(MNIST), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("vae-tf: error:") and expected in err, (extra, err)


def test_resume_from_a_damaged_checkpoint_fails_clearly(quick_run, tmp_path, capsys):
    out, _ = quick_run
    state = _read_json(out / "checkpoint" / "state.json")
    for damage, expected in [("truncate", "could not be loaded"), ("state", "unreadable or corrupt")]:
        run = tmp_path / damage
        (run / "checkpoint").mkdir(parents=True)
        model_bytes = (out / "checkpoint" / state["model_file"]).read_bytes()
        (run / "checkpoint" / state["model_file"]).write_bytes(model_bytes[: len(model_bytes) // 2])
        (run / "checkpoint" / "state.json").write_text("{not json" if damage == "state" else json.dumps(state))
        assert cli.main(["train", "--out", str(run), "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("vae-tf: error: --resume:") and expected in err, err


# --------------------------------------------------------------------------- bad input
def _npz(path: Path, **overrides) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (20, 28, 28), dtype="uint8"),
        "y_train": rng.integers(0, 10, 20).astype("uint8"),
        "x_test": rng.integers(0, 256, (10, 28, 28), dtype="uint8"),
        "y_test": rng.integers(0, 10, 10).astype("uint8"),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_bad_input_gives_one_line_and_exit_code_2(tmp_path, capsys, monkeypatch):
    (tmp_path / "corrupt.npz").write_bytes(b"this is not a zip archive" * 10)
    (tmp_path / "truncated.npz").write_bytes(Path(MNIST).read_bytes()[:200_000])
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "unreadable.npz").write_bytes(Path(_npz(tmp_path / "ok.npz")).read_bytes())
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **k: False if str(p).endswith("unreadable.npz") else real_access(p, m, **k))
    data_cases = {
        "missing.npz": "not found",
        "emptydir": "not found",
        "unreadable.npz": "not readable",
        "corrupt.npz": "corrupt",
        "truncated.npz": "corrupt",
        _npz(tmp_path / "keys.npz", y_test=None).name: "lacks the arrays ['y_test']",
        _npz(tmp_path / "shape.npz", x_train=np.zeros((20, 28, 27), "uint8")).name: "both splits must have one image shape",
        _npz(tmp_path / "dtype.npz", x_train=np.zeros((20, 28, 28), "float32")).name: "dtype float32",
        _npz(tmp_path / "range.npz", x_test=np.full((10, 28, 28), 300, "int16")).name: "out of range",
        _npz(tmp_path / "labels.npz", y_train=np.full(20, 10, "uint8")).name: "labels outside 0-9",
    }
    out = str(tmp_path / "out")
    cases = [(["--data", str(tmp_path / name), "--out", out], msg) for name, msg in data_cases.items()]
    cases += [
        (["--epochs", "-1"], "argument --epochs: expected an integer >= 1, got '-1'"),
        (["--epochs", "0"], "argument --epochs"),
        (["--latent-dim", "0"], "argument --latent-dim"),
        (["--arch", "resnet"], "argument --arch: invalid choice"),
        (["--likelihood", "poisson"], "argument --likelihood"),
        (["--beta", "-0.5"], "argument --beta"),
        (["--beta", "nan"], "argument --beta"),
        (["--batch-size", "many"], "argument --batch-size"),
        (["--val-fraction", "1"], "argument --val-fraction"),
        (["--no-such-flag"], "unrecognized arguments"),
        (["--out", str(tmp_path / "a_file")], "is an existing file"),
        (["--out", str(tmp_path / "a_file" / "sub")], "not a writable directory"),
        (["--out", str(tmp_path / "emptydir"), "--resume"], "no checkpoint to resume"),
        (["--out", out, "--tensorboard", str(tmp_path / "a_file")], "--tensorboard"),
    ]
    for args, expected in cases:
        code = cli.main(["train", *args])
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (args, err)
        assert err.startswith(("vae-tf: error:", "vae-tf train: error:")) and expected in err, (args, err)
    assert not (tmp_path / "out").exists()  # a run that never started leaves no directory


def test_tensorboard_without_its_package_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    code = cli.main(["train", "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb"), *SMALL])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "pip install tensorboard" in err, err
    assert not (tmp_path / "run").exists() and not (tmp_path / "tb").exists()


def test_bad_input_in_the_real_command_has_no_traceback(tmp_path):
    (tmp_path / "corrupt.npz").write_bytes(b"\x00" * 1000)
    result = run_cli("--data", str(tmp_path / "corrupt.npz"), "--out", str(tmp_path / "o"), cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = _our_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("vae-tf: error: data file") and "corrupt" in lines[0], result.stderr
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- in-process runs
def test_same_seed_same_numbers_and_conditional_run(tmp_path, capsys):
    runs = []
    for name in ("a", "b"):
        assert cli.main(["train", "--out", str(tmp_path / name), "--epochs", "1", "--seed", "3", *SMALL]) == 0
        runs.append((_read_json(tmp_path / name / "history.json"), _read_json(tmp_path / name / "metrics.json")))
    (h1, m1), (h2, m2) = runs
    assert {k: v for k, v in h1.items() if k != "epoch_time_s"} == {k: v for k, v in h2.items() if k != "epoch_time_s"}
    assert m1["test_neg_elbo_nats"] == m2["test_neg_elbo_nats"]

    # Digit-conditioned model, 3-D latent (PCA scatter), Gaussian likelihood, beta != 1.
    out = tmp_path / "cond"
    args = ["--conditional", "--latent-dim", "3", "--likelihood", "gaussian", "--beta", "2", "--epochs", "2"]
    assert cli.main(["train", "--out", str(out), *args, *SMALL]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "test accuracy" in summary
    history, metrics = _read_json(out / "history.json"), _read_json(out / "metrics.json")
    assert history["epoch"] == [1, 2] and "val_classification_loss" in history
    np.testing.assert_allclose(
        np.asarray(history["loss"]),
        np.asarray(history["reconstruction_loss"]) + 2 * np.asarray(history["kl_loss"])
        + np.asarray(history["classification_loss"]),
        rtol=1e-4,
    )
    # The held-out negative ELBO uses beta = 1, whatever the training beta.
    assert math.isclose(
        metrics["test_neg_elbo_nats"], metrics["test_reconstruction_loss_nats"] + metrics["test_kl_loss_nats"], rel_tol=1e-6
    )
    assert 0 <= metrics["test_accuracy"] <= 1
    assert sorted(metrics["figures"]) == ["latent.png", "reconstructions.png", "samples.png", "training_curves.png"]
    model = keras.models.load_model(out / "model.keras")
    assert isinstance(model, vae_tf.AuxiliaryClassifierVAE) and model.latent_dim == 3


def test_nan_loss_stops_with_a_clear_message(tmp_path, capsys):
    out = tmp_path / "nan"
    # A learning rate of 1e12 drives the weights to overflow within the first epoch.
    code = cli.main(["train", "--out", str(out), "--epochs", "3", "--learning-rate", "1e12", *SMALL])
    captured = capsys.readouterr()
    assert code == cli.EXIT_DIVERGED, captured.err
    lines = _our_lines(captured.err)
    assert len(lines) == 1 and "training diverged: non-finite loss in epoch 1" in lines[0], captured.err
    assert "no checkpoint" in lines[0]
    assert not (out / "model.keras").exists() and not (out / "checkpoint" / "state.json").exists()


def test_nan_stop_keeps_the_last_good_checkpoint(tmp_path):
    """Unit test of the callbacks in fit_epochs' order: a non-finite epoch after good ones is not
    checkpointed, and the model ModelCheckpoint wrote for it is discarded."""
    from vae_tf.app.training import MODEL_PATTERN, NaNStop, RunState, discard_unsaved, read_state

    model = vae_tf.VAE(vae_tf.build_encoder(latent_dim=2), vae_tf.build_decoder(latent_dim=2))
    model.compile(optimizer="adam")
    stop, state = NaNStop(), {"epoch": 0, "history": {}}
    callbacks = [stop, keras.callbacks.ModelCheckpoint(str(tmp_path / MODEL_PATTERN)), RunState(tmp_path, state, nan_stop=stop)]
    for cb in callbacks:
        cb.set_model(model)
    good = {"loss": 200.0, "reconstruction_loss": 190.0, "kl_loss": 10.0}
    for epoch, logs in enumerate([good, good, {**good, "loss": float("nan")}]):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
    assert stop.bad_epoch == 3 and model.stop_training
    saved = read_state(tmp_path)
    assert saved["epoch"] == 2 and saved["history"]["loss"] == [200.0, 200.0]
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["epoch-0002.keras", "epoch-0003.keras"]
    discard_unsaved(tmp_path, state)
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["epoch-0002.keras"]


# --------------------------------------------------------------------------- interrupt and resume
def _wait_for_epoch(proc: subprocess.Popen, state_path: Path, after: int, timeout: float = 180) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (code {proc.returncode}) before epoch {after + 1} was checkpointed")
        try:
            epoch = json.loads(state_path.read_text())["epoch"]
            if epoch > after:
                return epoch
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint after epoch {after} within {timeout} s")


def _signal_when(cwd: Path, args: list[str], ready, signum: int, then=lambda proc: None) -> tuple[int, int, str]:
    """Start the real command, wait until ``ready()`` (polling), call ``then(proc)``, send
    ``signum``; return ``(pid, exit code, stderr)``."""
    with open(cwd / "err.txt", "w") as err:
        proc = subprocess.Popen(_command(*args), cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 120
            while not ready() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.005)
            then(proc)
            proc.send_signal(signum)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return proc.pid, code, (cwd / "err.txt").read_text()


def _interrupt(cwd: Path, args: list[str], state_path: Path, after: int, signum: int) -> tuple[int, str]:
    _, code, err = _signal_when(cwd, args, lambda: True, signum, then=lambda proc: _wait_for_epoch(proc, state_path, after))
    return code, err


def test_interrupted_runs_resume_to_the_requested_epochs(tmp_path):
    epochs, batch = 10, 32
    args = ["--quick", "--epochs", str(epochs), "--batch-size", str(batch), "--out", "run"]
    state_path = tmp_path / "run" / "checkpoint" / "state.json"

    code, err = _interrupt(tmp_path, args, state_path, after=0, signum=signal.SIGTERM)
    assert code == 143, err
    first = _read_json(state_path)["epoch"]
    assert 1 <= first < epochs, "the run was not interrupted during training"
    lines = _our_lines(err)
    assert len(lines) == 1 and "interrupted by SIGTERM" in lines[0] and "--resume" in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "model.keras").exists()

    code, err = _interrupt(tmp_path, [*args, "--resume"], state_path, after=first, signum=signal.SIGINT)
    assert code == 130 and "interrupted by SIGINT" in err and "Traceback" not in err, err
    second = _read_json(state_path)["epoch"]
    assert first < second < epochs

    result = run_cli("--out", "run", "--resume", cwd=tmp_path)  # the checkpoint holds the settings
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"at epoch {second} of {epochs}" in result.stdout
    out = tmp_path / "run"
    history, metrics = _read_json(out / "history.json"), _read_json(out / "metrics.json")
    _check_history_adds_up(history, beta=1.0, epochs=epochs)
    assert metrics["epochs"] == epochs and metrics["resumed_from_epoch"] == second
    assert metrics["epochs_this_run"] == epochs - second
    # The optimizer state travelled through both checkpoints: one Adam step per batch of every epoch.
    model = keras.models.load_model(out / "model.keras")
    assert int(model.optimizer.iterations) == epochs * math.ceil(metrics["n_train"] / batch)
    # The rows of the two interrupted epochs were dropped: each epoch is logged once.
    _check_csv_is_the_history(out, epochs=epochs)


def test_binarization_is_recorded_fixed_on_resume_and_read_by_evaluate(tmp_path, capsys):
    """``--binarization``: the run records it, ``evaluate`` scores a dynamic run on one static
    draw of the test images, and ``--resume`` refuses another scheme (issue 13 names)."""
    from vae_tf.app.trained import recorded_preprocessing

    scores = {}
    for scheme in ("threshold", "dynamic"):
        out = tmp_path / scheme
        assert cli.main(["train", "--out", str(out), "--epochs", "1", "--binarization", scheme, *SMALL]) == 0
        metrics = _read_json(out / "metrics.json")
        assert metrics["config"]["binarization"] == scheme
        scores[scheme] = metrics["test_neg_elbo_nats"]
    assert recorded_preprocessing(_read_json(tmp_path / "dynamic" / "metrics.json")) == "static"
    assert recorded_preprocessing(_read_json(tmp_path / "threshold" / "metrics.json")) == "threshold"
    assert scores["threshold"] != scores["dynamic"]  # different held-out pixels, different numbers
    capsys.readouterr()
    code = cli.main(["train", "--out", str(tmp_path / "dynamic"), "--resume", "--epochs", "2", "--binarization", "static"])
    err = capsys.readouterr().err
    assert code == 2 and "--binarization 'static' (checkpoint: 'dynamic')" in err, err
    assert cli.main(["train", "--out", str(tmp_path / "x"), "--binarization", "always"]) == 2
    assert "invalid choice: 'always'" in capsys.readouterr().err


def test_kl_warmup_is_recorded_adds_up_at_each_epochs_weight_and_resumes_exactly(tmp_path):
    """--kl-warmup 2 (issue 32): the KL weight of epochs 1-3 is 0, beta/2, beta in history.json and
    history.csv; each epoch's loss is reconstruction + weight * KL; the test -ELBO is at weight 1; a run
    stopped after epoch 1 and resumed to 3 ends with the uninterrupted run's numbers and weights."""
    args = [*SMALL, "--epochs", "3", "--kl-warmup", "2", "--beta", "2"]
    whole = run_cli(*args, "--out", "whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert "retracing" not in whole.stderr
    history = _read_json(tmp_path / "whole" / "history.json")
    assert history["kl_weight"] == [0.0, 1.0, 2.0]
    for prefix in ("", "val_"):
        loss, rec, kl = (np.asarray(history[prefix + k]) for k in ("loss", "reconstruction_loss", "kl_loss"))
        np.testing.assert_allclose(loss, rec + np.asarray(history["kl_weight"]) * kl, rtol=1e-4)
    with open(tmp_path / "whole" / "history.csv", newline="") as f:
        assert [float(row["kl_weight"]) for row in csv.DictReader(f)] == [0.0, 1.0, 2.0]
    metrics = _read_json(tmp_path / "whole" / "metrics.json")
    assert metrics["config"]["kl_warmup"] == 2
    assert math.isclose(metrics["test_neg_elbo_nats"], metrics["test_reconstruction_loss_nats"]
                        + metrics["test_kl_loss_nats"], rel_tol=1e-6)
    assert keras.models.load_model(tmp_path / "whole" / "model.keras").beta == 2.0  # the target, not a warm-up weight

    first = run_cli(*[a if a != "3" else "1" for a in args], "--out", "split", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_cli("--out", "split", "--resume", "--epochs", "3", "--verbose", "0", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    split = _read_json(tmp_path / "split" / "history.json")
    for key in ("loss", "val_loss", "kl_weight"):
        assert split[key] == history[key], key
    assert _read_json(tmp_path / "split" / "metrics.json")["test_neg_elbo_nats"] == metrics["test_neg_elbo_nats"]
