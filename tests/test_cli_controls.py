"""``vae-tf train``'s training controls of issue 32 beside ``--kl-warmup``: ``--early-stopping
PATIENCE`` (Keras's EarlyStopping on val_loss, best weights restored, the stop reported) and
``--lr-schedule cosine`` (Keras's CosineDecay, each epoch's rate logged), both exact on resume.

Runs go through ``vae_tf.app.cli.main`` in-process on the offline MNIST at tiny sizes. An
interrupted run is made by sending the process SIGINT (what Ctrl-C sends) right after a chosen
epoch's checkpoint is written: the run's own signal handling stops it as it would a user's Ctrl-C.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import shutil
import signal
from pathlib import Path

import keras
import numpy as np
import pytest

from vae_tf.app import cli, training
from vae_tf.app.config import RunConfig

#: A run that overfits 10 training images quickly: its val_loss stops improving within a few epochs.
EARLY = ["--quick", "--train-size", "20", "--val-fraction", "0.5", "--batch-size", "10", "--test-size", "64",
         "--learning-rate", "0.01", "--epochs", "40", "--early-stopping", "2", "--verbose", "0"]
COSINE = ["--quick", "--train-size", "256", "--test-size", "64", "--batch-size", "64", "--learning-rate", "0.002",
          "--epochs", "4", "--lr-schedule", "cosine", "--verbose", "0"]


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _with(args: list[str], **values) -> list[str]:
    """``args`` with the values of some options replaced (``early_stopping=1`` -> ``--early-stopping 1``)."""
    args = list(args)
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if flag in args:
            args[args.index(flag) + 1] = str(value)
        else:
            args += [flag, str(value)]
    return args


def _rule(val_loss: list[float], patience: int, start: int = 0) -> tuple[int | None, int | None]:
    """Early stopping's rule written out: ``(best_epoch, stopped_epoch)``, 1-based (None: none).
    Epochs up to ``start`` are not watched; training stops once ``patience`` epochs in a row have
    not gone below the best val_loss so far."""
    best, best_epoch, wait = math.inf, None, 0
    for epoch, value in enumerate(val_loss, 1):
        if epoch <= start:
            continue
        if value < best:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return best_epoch, epoch
    return best_epoch, None


def _weights(path: Path) -> list[np.ndarray]:
    return keras.models.load_model(path, compile=False).get_weights()


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def _curves(out: Path) -> dict:
    return {k: v for k, v in _read(out / "history.json").items() if k != "epoch_time_s"}


@contextlib.contextmanager
def _ctrl_c_after(epoch: int):
    """Send this process SIGINT right after epoch ``epoch``'s ``state.json`` is written."""
    original = training.RunState.on_epoch_end

    def on_epoch_end(self, e, logs=None):
        original(self, e, logs)
        if e + 1 == epoch:
            signal.raise_signal(signal.SIGINT)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training.RunState, "on_epoch_end", on_epoch_end)
        yield


def _interrupted_then_resumed(out: Path, args: list[str], after: int, capsys) -> int:
    """Run ``args`` into ``out``, Ctrl-C after epoch ``after``, resume it; return the epochs the
    interrupted run had checkpointed."""
    with _ctrl_c_after(after):
        assert cli.main(["train", "--out", str(out), *args]) == cli.EXIT_INTERRUPTED, capsys.readouterr().err
    done = _read(out / "checkpoint" / "state.json")["epoch"]
    assert cli.main(["train", "--out", str(out), "--resume", "--verbose", "0"]) == 0, capsys.readouterr().err
    return done


def _assert_same_run(a: Path, b: Path) -> None:
    assert _curves(a) == _curves(b)
    ma, mb = _read(a / "metrics.json"), _read(b / "metrics.json")
    for key in ("test_neg_elbo_nats", "test_kl_loss_nats", "final_val_loss", "epochs", "early_stopping"):
        assert ma[key] == mb[key], key
    assert _same(_weights(a / "model.keras"), _weights(b / "model.keras"))


# --------------------------------------------------------------------------- early stopping
def test_early_stopping_stops_by_the_rule_keeps_the_best_weights_and_resumes_exactly(tmp_path, capsys):
    whole = tmp_path / "whole"
    assert cli.main(["train", "--out", str(whole), *EARLY]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "early stopping" in line]
    history, metrics = _read(whole / "history.json"), _read(whole / "metrics.json")
    best, stopped = _rule(history["val_loss"], patience=2)
    assert stopped is not None and stopped == best + 2, history["val_loss"]  # it stopped, where the rule says
    assert history["epoch"] == list(range(1, stopped + 1)) and metrics["epochs"] == stopped
    assert metrics["early_stopping"] == {"patience": 2, "monitor": "val_loss", "start_from_epoch": 0, "best_epoch": best,
                                         "best_val_loss": history["val_loss"][best - 1], "stopped_epoch": stopped}
    assert len(lines) == 1 and f"after epoch {best} (val_loss" in lines[0], lines
    assert f"stopped after epoch {stopped} of 40" in lines[0] and f"epoch {best}'s weights" in lines[0]
    # The checkpoint keeps the best epoch's model beside the last one; model.keras has the best weights.
    ckpt = whole / "checkpoint"
    assert _read(ckpt / "state.json")["early_stopping"] == {
        "wait": 2, "best": history["val_loss"][best - 1], "best_epoch": best, "stopped_epoch": stopped,
        "best_model_file": f"epoch-{best:04d}.keras"}
    assert sorted(p.name for p in ckpt.glob("*.keras")) == [f"epoch-{best:04d}.keras", f"epoch-{stopped:04d}.keras"]
    final = _weights(whole / "model.keras")
    assert _same(final, _weights(ckpt / f"epoch-{best:04d}.keras"))
    assert not _same(final, _weights(ckpt / f"epoch-{stopped:04d}.keras"))

    # Interrupted after the best epoch, before the stop: the same stop, history, weights and test -ELBO.
    split = tmp_path / "split"
    done = _interrupted_then_resumed(split, EARLY, after=best, capsys=capsys)
    assert best <= done < stopped
    _assert_same_run(whole, split)

    # A stopped run is finished: resumed with more epochs, it trains no further and reports the same.
    capsys.readouterr()
    assert cli.main(["train", "--out", str(split), "--resume", "--epochs", "50", "--verbose", "0"]) == 0
    assert f"stopped after epoch {stopped} of 50" in capsys.readouterr().out
    _assert_same_run(whole, split)

    # A missing best model, or a state.json whose best epoch is not one it ran, is exit 2 and one line.
    broken = tmp_path / "broken"
    shutil.copytree(split, broken)
    (broken / "checkpoint" / f"epoch-{best:04d}.keras").unlink()
    state = _read(split / "checkpoint" / "state.json")
    state["early_stopping"]["best_epoch"] = stopped + 1
    (split / "checkpoint" / "state.json").write_text(json.dumps(state))
    for out, expected in ((broken, "the best epoch's model"), (split, "unreadable or corrupt")):
        capsys.readouterr()
        assert cli.main(["train", "--out", str(out), "--resume"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and "Traceback" not in err, err


def test_early_stopping_watches_no_kl_warmup_epoch(tmp_path, capsys):
    """With --kl-warmup W the first W epochs' val_loss (at a KL weight below beta) is not compared:
    the best epoch is a later one. A run that is all warm-up says early stopping watched nothing."""
    out = tmp_path / "warm"
    assert cli.main(["train", "--out", str(out), *_with(EARLY, epochs=8, kl_warmup=3, early_stopping=1)]) == 0
    history, info = _read(out / "history.json"), _read(out / "metrics.json")["early_stopping"]
    assert history["kl_weight"][:4] == [0.0, 1 / 3, 2 / 3, 1.0]
    assert info["start_from_epoch"] == 3 and info["best_epoch"] > 3
    assert (info["best_epoch"], info["stopped_epoch"]) == _rule(history["val_loss"], patience=1, start=3)

    capsys.readouterr()
    out = tmp_path / "all_warmup"
    assert cli.main(["train", "--out", str(out), *_with(EARLY, epochs=2, kl_warmup=2)]) == 0
    assert "early stopping (patience 2) monitored no epoch" in capsys.readouterr().out
    info = _read(out / "metrics.json")["early_stopping"]
    assert (info["best_epoch"], info["stopped_epoch"]) == (None, None)
    assert _read(out / "checkpoint" / "state.json")["early_stopping"]["best_model_file"] is None


# --------------------------------------------------------------------------- learning-rate schedule
def test_cosine_schedule_logs_each_epochs_rate_is_saved_and_resumes_exactly(tmp_path, capsys):
    whole = tmp_path / "whole"
    assert cli.main(["train", "--out", str(whole), *COSINE]) == 0
    history, metrics = _read(whole / "history.json"), _read(whole / "metrics.json")
    steps = math.ceil(metrics["n_train"] / 64)
    expected = [0.002 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]  # at each epoch's first step
    np.testing.assert_allclose(history["learning_rate"], expected, rtol=1e-6, atol=1e-9)
    with open(whole / "history.csv", newline="") as f:
        assert [float(row["learning_rate"]) for row in csv.DictReader(f)] == history["learning_rate"]
    optimizer = keras.models.load_model(whole / "model.keras").optimizer
    schedule = optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay" and schedule["config"]["decay_steps"] == 4 * steps
    assert int(optimizer.iterations) == 4 * steps and float(optimizer.learning_rate) == pytest.approx(0, abs=1e-9)

    split = tmp_path / "split"
    assert _interrupted_then_resumed(split, COSINE, after=1, capsys=capsys) < 4
    _assert_same_run(whole, split)

    # The schedule decays over the run's epochs: a resume may not change them, nor the controls.
    for args, expected in ((["--epochs", "6"], "--epochs 6 (checkpoint: 4; the cosine learning-rate schedule"),
                           (["--early-stopping", "3"], "--early-stopping 3 (checkpoint: 0)"),
                           (["--lr-schedule", "constant"], "--lr-schedule 'constant' (checkpoint: 'cosine')")):
        capsys.readouterr()
        assert cli.main(["train", "--out", str(split), "--resume", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err


def test_a_constant_rate_is_not_logged(tmp_path):
    out = tmp_path / "constant"
    assert cli.main(["train", "--out", str(out), *_with(COSINE, epochs=1, lr_schedule="constant")]) == 0
    assert "learning_rate" not in _read(out / "history.json")
    assert _read(out / "metrics.json")["early_stopping"] is None


# --------------------------------------------------------------------------- bad values, old checkpoints
@pytest.mark.parametrize(("args", "expected"), [
    (["--early-stopping", "-1"], "argument --early-stopping: expected an integer >= 0, got '-1'"),
    (["--early-stopping", "1.5"], "argument --early-stopping: expected an integer >= 0, got '1.5'"),
    (["--early-stopping"], "argument --early-stopping: expected one argument"),
    (["--lr-schedule", "step"], "argument --lr-schedule: invalid choice: 'step'"),
])
def test_bad_values_are_one_line_and_exit_2(tmp_path, capsys, args, expected):
    assert cli.main(["train", "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vae-tf train: error:") and expected in err, err
    assert not (tmp_path / "out").exists()


def test_checkpoint_progress_is_checked_and_old_checkpoints_have_both_off(tmp_path):
    good = {"epoch": 3, "model_file": "epoch-0003.keras", "optimizer_iterations": 6, "history": {"loss": [3.0, 2.0, 2.5]},
            "early_stopping": {"wait": 1, "best": 2.0, "best_epoch": 2, "stopped_epoch": None,
                               "best_model_file": "epoch-0002.keras"}}
    training.check_state(good)
    for bad in ({"best_epoch": 4, "best_model_file": "epoch-0004.keras"}, {"best_model_file": "epoch-0001.keras"},
                {"stopped_epoch": 2}, {"wait": -1}, {"wait": True}, {"best": None}, {"best": float("nan")},
                {"best": "2.0"}, {"extra": 1}):
        with pytest.raises(ValueError, match="early_stopping"):
            training.check_state({**good, "early_stopping": {**good["early_stopping"], **bad}})
    for epoch in (1, 2, 3, 4):  # 4: an epoch cut short; 1: a best model since replaced
        (tmp_path / f"epoch-{epoch:04d}.keras").write_bytes(b"model")
    training.discard_unsaved(tmp_path, good)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0002.keras", "epoch-0003.keras"]
    old = {k: v for k, v in RunConfig().to_dict().items() if k not in ("early_stopping", "lr_schedule")}
    config = RunConfig.from_dict(old)
    assert (config.early_stopping, config.lr_schedule) == (0, "constant")


# --------------------------------------------------------------------------- the Python API
def test_readme_recipe_of_both_controls_runs_on_a_vae(small_batch):
    """README's Training-controls recipe (Keras's CosineDecay and EarlyStopping beside KLWarmup),
    run as written on a small VAE: the rate ends at 0, the best epoch after the warm-up is kept."""
    import re

    import vae_tf

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    recipe = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "EarlyStopping" in block)
    x = small_batch[0]
    keras.utils.set_random_seed(0)
    vae = vae_tf.VAE(vae_tf.build_encoder(latent_dim=2), vae_tf.build_decoder(latent_dim=2), seed=0)
    names = {"keras": keras, "vae_tf": vae_tf, "vae": vae, "epochs": 4, "warmup": 2,
             "train_ds": vae_tf.make_dataset(x[:384], batch_size=128, seed=0),
             "val_ds": vae_tf.make_dataset(x[384:], shuffle=False)}
    exec(recipe, names)
    assert float(vae.optimizer.learning_rate) == pytest.approx(0, abs=1e-9) and int(vae.optimizer.iterations) == 12
    stop = names["stop"]
    assert stop.best_epoch >= 2 and stop.best == min(vae.history.history["val_loss"][2:])
