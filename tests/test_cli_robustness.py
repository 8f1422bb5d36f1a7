"""``vae-tf train`` under hostile conditions (issue 11): a second run into a locked ``--out``,
other data on resume, hand-edited checkpoints, failing writes, and interrupts at awkward moments.

Signals and failing writes that cannot be timed from outside (root ignores read-only
directories) are produced in-process: the run sends the real signal to itself, or a write
raises the real ``OSError``; everything else runs the real command in a subprocess.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from test_cli import MNIST, SMALL, _our_lines, _read_json, _signal_when, _wait_for_epoch, run_cli

import vae_tf
from vae_tf.app import cli, reporting, training
def _main(capsys, *args) -> tuple[int, list[str], str]:
    code = cli.main(["train", *args])
    captured = capsys.readouterr()
    return code, captured.err.splitlines(), captured.out


def _tiny_npz(path: Path, invert: bool = False) -> Path:
    """A small MNIST-format file cut from the real one (optionally pixel-inverted: same size)."""
    (x_train, y_train), (x_test, y_test) = vae_tf.load_mnist(MNIST)
    x_train, x_test = x_train[:300], x_test[:64]
    if invert:
        x_train, x_test = 255 - x_train, 255 - x_test
    np.savez(path, x_train=x_train, y_train=y_train[:300], x_test=x_test, y_test=y_test[:64])
    return path


# --------------------------------------------------------------------------- the lock
def test_a_second_run_into_the_same_out_is_refused_while_the_first_runs(tmp_path):
    args = ["--out", "run", "--epochs", "50", "--train-size", "2000", "--test-size", "64", "--batch-size", "64",
            "--verbose", "0"]
    owner, state_path, second = tmp_path / "run" / ".owner", tmp_path / "run" / "checkpoint" / "state.json", []

    def start_second_then_wait_for_an_epoch(first):
        assert first.poll() is None
        second.append(run_cli(*args, cwd=tmp_path, timeout=120))  # started while the first one runs
        _wait_for_epoch(first, state_path, after=0)

    pid, code, err = _signal_when(tmp_path, args, lambda: owner.is_file() and owner.read_text().strip(),
                                  signal.SIGTERM, then=start_second_then_wait_for_an_epoch)
    lines = _our_lines(second[0].stderr)
    assert second[0].returncode == 2 and len(lines) == 1, second[0].stderr
    assert f"in use by another vae-tf run (process {pid})" in lines[0], lines
    # The first run was not disturbed: its checkpoint is whole and names its model.
    assert code == 143, err[-2000:]
    state = _read_json(state_path)
    assert state["epoch"] >= 1 and (tmp_path / "run" / "checkpoint" / state["model_file"]).is_file()


# --------------------------------------------------------------------------- resume checks
@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    """A finished 1-epoch run on a small data file (in-process), to resume from."""
    root = tmp_path_factory.mktemp("resume")
    data = _tiny_npz(root / "data.npz")
    out = root / "run"
    assert cli.main(["train", "--out", str(out), "--data", str(data), "--epochs", "1", "--batch-size", "64",
                     "--verbose", "0"]) == 0
    return out, data


def test_resume_with_other_data_of_the_same_size_is_refused(one_epoch_run, tmp_path):
    out, data = one_epoch_run
    inverted = _tiny_npz(tmp_path / "inverted.npz", invert=True)
    assert inverted.stat().st_size == data.stat().st_size
    result = run_cli("--out", str(out), "--resume", "--epochs", "2", "--data", str(inverted), cwd=tmp_path, timeout=120)
    lines = _our_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "--resume: the data" in lines[0] and "differ from the checkpointed run's" in lines[0], lines
    assert _read_json(out / "checkpoint" / "state.json")["epoch"] == 1


def _edited(out: Path, dest: Path, edit) -> Path:
    """A copy of the run's checkpoint with ``edit(state)`` applied to its state.json."""
    (dest / "checkpoint").mkdir(parents=True)
    state = _read_json(out / "checkpoint" / "state.json")
    model_file = state["model_file"]
    (dest / "checkpoint" / model_file).write_bytes((out / "checkpoint" / model_file).read_bytes())
    state = edit(state)
    (dest / "checkpoint" / "state.json").write_text(json.dumps(state))
    return dest


def _set(key, value, inside=None):
    def edit(state):
        (state[inside] if inside else state)[key] = value
        return state

    return edit


def test_a_hand_edited_checkpoint_state_is_refused_in_one_line(one_epoch_run, tmp_path, capsys):
    out, _ = one_epoch_run
    cases = {
        "epoch0": (_set("epoch", 0), "'epoch' must be an integer >= 1, got 0"),
        "negative": (_set("epoch", -3), "'epoch' must be an integer >= 1, got -3"),
        "true": (_set("epoch", True), "'epoch' must be an integer >= 1, got True"),
        "whole_true": (lambda s: True, "expected a JSON object, got bool"),
        "history": (lambda s: {**s, "epoch": 3, "model_file": "epoch-0003.keras"}, "has 1 values for 3 epochs"),
        "model_file": (_set("model_file", "../../etc/passwd"), "is not the model of epoch 1"),
        "latent_str": (_set("latent_dim", "2", inside="config"), "latent_dim must be an integer >= 1, got '2'"),
        "cond_int": (_set("conditional", 1, inside="config"), "conditional must be true or false, got 1"),
        "lr_nan": (_set("learning_rate", None, inside="config"), "learning_rate must be a number > 0, got None"),
        "arch": (_set("arch", "resnet", inside="config"), "arch must be one of"),
    }
    for name, (edit, expected) in cases.items():
        run = _edited(out, tmp_path / name, edit)
        code, err, _ = _main(capsys, "--out", str(run), "--resume", "--epochs", "2")
        assert code == 2 and len(err) == 1 and err[0].startswith("vae-tf: error: --resume:"), (name, err)
        assert expected in err[0], (name, err)
        assert not (run / "model.keras").exists()
    # The real command: the same one line, no traceback.
    result = run_cli("--out", str(tmp_path / "history"), "--resume", "--epochs", "4", cwd=tmp_path, timeout=120)
    lines = _our_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "has 1 values for 3 epochs" in lines[0], result.stderr


# --------------------------------------------------------------------------- failing writes
def _failing_on_call(real, n: int, error: OSError):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(args)
        if len(calls) == n:
            raise error
        return real(*args, **kwargs)

    return wrapper


def _half_written_on_call(real, n: int, error: OSError):
    """``model.save`` that, on its ``n``-th call, writes half a file and fails as a full disk does."""
    calls = []

    def save(model, filepath, *args, **kwargs):
        calls.append(filepath)
        if len(calls) == n:
            Path(filepath).write_bytes(b"half a model")
            raise error
        return real(model, filepath, *args, **kwargs)

    return save


def test_a_full_disk_during_a_run_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    full = OSError(errno.ENOSPC, "No space left on device", str(out / "checkpoint" / "epoch-0002.keras"))
    # keras.callbacks.ModelCheckpoint's save of epoch 2 (the second model.save of the run) fails half-way.
    monkeypatch.setattr(vae_tf.VAE, "save", _half_written_on_call(keras.Model.save, 2, full), raising=False)
    code, err, _ = _main(capsys, "--out", str(out), "--epochs", "3", *SMALL)
    assert code == cli.EXIT_WRITE_FAILED == 4, err
    assert len(err) == 1 and "No space left on device" in err[0], err
    assert "nothing was half-written and the last good checkpoint (epoch 1) is kept" in err[0], err
    state = _read_json(out / "checkpoint" / "state.json")
    assert state["epoch"] == 1 and len(state["history"]["loss"]) == 1
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == ["epoch-0001.keras", "state.json"]
    assert len((out / "history.csv").read_text().splitlines()) == 2  # the header and epoch 1
    monkeypatch.undo()
    # The run goes on from there once the disk has room again.
    code, err, _ = _main(capsys, "--out", str(out), "--resume")
    assert code == 0, err
    assert _read_json(out / "history.json")["epoch"] == [1, 2, 3]

    # A failing final write (model.keras on a read-only directory): same promise, exit 4.
    denied = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "ro" / "model.keras"))
    monkeypatch.setattr(reporting, "atomic_save_model", _failing_on_call(reporting.atomic_save_model, 1, denied))
    code, err, _ = _main(capsys, "--out", str(tmp_path / "ro"), "--epochs", "1", *SMALL)
    assert code == 4 and len(err) == 1 and "Permission denied" in err[0] and "(epoch 1) is kept" in err[0], err
    assert not (tmp_path / "ro" / "model.keras").exists()


# --------------------------------------------------------------------------- interrupts
def test_sigterm_before_training_says_so_and_leaves_no_empty_directory(tmp_path):
    out = tmp_path / "run"
    _, code, stderr = _signal_when(tmp_path, ["--out", str(out), "--epochs", "1", *SMALL], out.exists, signal.SIGTERM)
    lines = _our_lines(stderr)
    assert code == 143 and len(lines) == 1 and "interrupted by SIGTERM" in lines[0], stderr
    assert "Traceback" not in stderr and not out.exists(), (stderr, list(out.iterdir()) if out.exists() else None)


def test_ctrl_c_during_start_up_is_one_line(capsys, monkeypatch):
    import vae_tf.app.run

    def interrupted(request):
        raise KeyboardInterrupt

    monkeypatch.setattr(vae_tf.app.run, "train", interrupted)
    code, err, _ = _main(capsys, "--out", "never-created")
    assert code == 130 and err == ["vae-tf: interrupted during start-up; nothing was written."]


def _signal_self(signum):
    os.kill(os.getpid(), signum)
    time.sleep(0.05)  # the handler runs here


def test_a_first_epoch_that_ran_all_its_steps_is_kept_and_the_hint_is_quoted(tmp_path, capsys, monkeypatch):
    """4 steps per epoch < steps_per_execution: a SIGTERM during the epoch's only execution."""
    out = tmp_path / "my run"  # a space: the hint must survive the shell
    real = training.StopOnSignal.on_train_batch_begin
    sent = []

    def begin(self, batch, logs=None):
        if not sent:
            sent.append(batch)
            _signal_self(signal.SIGTERM)
        return real(self, batch, logs)

    monkeypatch.setattr(training.StopOnSignal, "on_train_batch_begin", begin)
    code, err, _ = _main(capsys, "--out", str(out), "--epochs", "3", *SMALL)
    monkeypatch.undo()
    assert code == 143 and len(err) == 1, err
    assert "the last completed epoch (1 of 3) is checkpointed" in err[0] and "no epoch had completed" not in err[0]
    hint = err[0].split("resume with: ", 1)[1]
    assert shlex.split(hint) == ["vae-tf", "train", "--out", str(out), "--resume"]
    assert _read_json(out / "checkpoint" / "state.json")["epoch"] == 1

    # Temp files of writes killed mid-way go at the next start: the run holds the directory's lock,
    # so no other process writes there, whatever process id a temp file's name holds (no probe of it).
    stale = [out / ".model.keras.999999.tmp.keras", out / "checkpoint" / ".state.json.999999.tmp",
             out / f".history.json.{os.getppid()}.tmp"]
    for p in stale:
        p.write_bytes(b"partial")
    code, err, _ = _main(capsys, *shlex.split(hint)[2:])
    assert code == 0, err
    assert not any(p.exists() for p in stale)
    assert _read_json(out / "history.json")["epoch"] == [1, 2, 3]


def test_sigterm_after_every_output_was_written_is_not_called_an_interrupt(tmp_path, capsys, monkeypatch):
    real = reporting.atomic_write_json

    def write(path, data):
        result = real(path, data)
        if Path(path).name == "metrics.json":
            _signal_self(signal.SIGTERM)
        return result

    monkeypatch.setattr(reporting, "atomic_write_json", write)
    code, err, out = _main(capsys, "--out", str(tmp_path / "run"), "--epochs", "1", *SMALL)
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith("vae-tf: done:")
    assert err == ["vae-tf: SIGTERM came after every output was written; the run is complete."]
    assert (tmp_path / "run" / "metrics.json").is_file()


# --------------------------------------------------------------------------- mixed precision
def test_mixed_precision_run_is_stored_and_fixed_on_resume(tmp_path, capsys):
    out = tmp_path / "mp"
    code, err, stdout = _main(capsys, "--out", str(out), "--epochs", "1", "--mixed-precision", *SMALL)
    assert code == 0, err
    assert "mixed precision" in stdout
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run
    assert _read_json(out / "metrics.json")["config"]["mixed_precision"] is True
    model = keras.models.load_model(out / "model.keras")
    assert model.encoder.get_layer("z_mean").dtype_policy.name == "mixed_float16"  # built under the policy
    assert np.isfinite(_read_json(out / "history.json")["loss"]).all()

    plain = tmp_path / "plain"
    assert _main(capsys, "--out", str(plain), "--epochs", "1", *SMALL)[0] == 0
    code, err, _ = _main(capsys, "--out", str(plain), "--resume", "--epochs", "2", "--mixed-precision")
    assert code == 2 and len(err) == 1 and "--mixed-precision True (checkpoint: False)" in err[0], err


# --------------------------------------------------------------------------- reproducibility
def _numbers(out: Path) -> tuple[dict, dict]:
    """history.json without the epoch times, and metrics.json's test numbers."""
    history = {k: v for k, v in _read_json(out / "history.json").items() if k != "epoch_time_s"}
    metrics = {k: v for k, v in _read_json(out / "metrics.json").items() if k.startswith("test_")}
    return history, metrics


def test_a_resumed_run_reproduces_the_uninterrupted_run_exactly(tmp_path):
    """4 epochs straight vs 2 epochs then ``--resume --epochs 4``: the same shuffling (a function
    of (seed, epoch)), the same reparameterization noise (the generator state is in the
    checkpoint) and the same weights and optimizer state give bit-identical numbers."""
    args = ["--seed", "5", *SMALL]
    straight = run_cli("--out", "straight", "--epochs", "4", *args, cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr[-3000:]
    first = run_cli("--out", "resumed", "--epochs", "2", *args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_cli("--out", "resumed", "--resume", "--epochs", "4", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "at epoch 2 of 4" in resumed.stdout
    (h_straight, m_straight), (h_resumed, m_resumed) = _numbers(tmp_path / "straight"), _numbers(tmp_path / "resumed")
    assert h_resumed["epoch"] == [1, 2, 3, 4]
    assert h_resumed == h_straight
    assert m_resumed == m_straight and "test_neg_elbo_nats" in m_resumed
