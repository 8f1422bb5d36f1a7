"""Atomic writes (vae_tf.tools.files): a failed or killed write leaves the old file, and the temps
of killed writers are cleaned up: all of them in a directory whose lock the caller holds, those
older than a given age elsewhere; no process is probed (``os.kill`` is not portable)."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from vae_tf.tools import files
def _temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


def test_atomic_write_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "state.json"
    files.atomic_write_json(target, {"epoch": 1})
    files.atomic_write_json(target, {"epoch": 2, "loss": [1.5]})
    assert json.loads(target.read_text()) == {"epoch": 2, "loss": [1.5]}
    files.atomic_write_text(tmp_path / "note.txt", "héllo\n")
    assert (tmp_path / "note.txt").read_text(encoding="utf-8") == "héllo\n"
    assert _temps(tmp_path) == []


def test_a_failing_writer_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old model")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_bytes(b"half of a new mod")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        files.atomic_write(target, half_then_fail, suffix=".keras")
    assert target.read_bytes() == b"old model"
    assert _temps(tmp_path) == []


def test_json_with_nan_is_refused_before_touching_the_file(tmp_path):
    target = tmp_path / "metrics.json"
    files.atomic_write_json(target, {"nll": 90.0})
    with pytest.raises(ValueError):
        files.atomic_write_json(target, {"nll": float("nan")})
    assert json.loads(target.read_text()) == {"nll": 90.0}
    assert _temps(tmp_path) == []


def test_atomic_save_model_and_save_figure_keep_the_old_file_on_failure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    class BrokenModel:
        def save(self, path):
            assert str(path).endswith(".keras")  # Keras insists on the suffix
            Path(path).write_bytes(b"partial")
            raise PermissionError("read-only checkpoint/")

    target = tmp_path / "model.keras"
    target.write_bytes(b"last good")
    with pytest.raises(PermissionError):
        files.atomic_save_model(BrokenModel(), target)
    assert target.read_bytes() == b"last good" and _temps(tmp_path) == []

    fig, ax = plt.subplots()
    ax.imshow(np.eye(4))
    files.save_figure(fig, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)  # closed after saving


def _run_child(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` with vae_tf/files.py importable as ``files`` (without importing TensorFlow)."""
    prelude = textwrap.dedent(
        f"""
        import importlib.util, os, signal, sys
        spec = importlib.util.spec_from_file_location("files", {files.__file__!r})
        files = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(files)
        """
    )
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True)


def test_a_writer_killed_mid_write_leaves_the_old_file_and_its_temp_is_removed_later(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"last good")
    child = _run_child(
        f"""
        def write(tmp):
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGKILL)
        files.atomic_write({str(target)!r}, write, suffix=".keras")
        """
    )
    assert child.returncode == -9, child.stderr
    assert target.read_bytes() == b"last good"
    (stale,) = tmp_path.glob(".model.keras.*.tmp.keras")  # what SIGKILL leaves behind
    assert files.remove_stale_temps(tmp_path) == [stale]
    assert not stale.exists() and target.read_bytes() == b"last good"


def _forbid_os_kill(monkeypatch):
    def kill(*args):
        raise AssertionError("os.kill probes no process portably (on Windows it sends CTRL_C_EVENT)")

    monkeypatch.setattr(os, "kill", kill)


def test_remove_stale_temps_removes_every_temp_when_the_caller_holds_the_lock(tmp_path, monkeypatch):
    _forbid_os_kill(monkeypatch)
    names = {
        "dead": ".state.json.999999.tmp",
        "dead_keras": ".epoch-0004.keras.999999.tmp.keras",
        "parent": f".state.json.{os.getppid()}.tmp",  # a running process's id: no matter, the lock says
        "not_a_temp": "state.json",
        "user_file": ".hidden.tmp.txt",
    }
    for name in names.values():
        (tmp_path / name).write_text("x")
    removed = files.remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted(names[k] for k in ("dead", "dead_keras", "parent"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names["not_a_temp"], names["user_file"]])
    assert files.remove_stale_temps(tmp_path / "missing") == []


def test_remove_stale_temps_by_age_keeps_a_write_that_may_still_run(tmp_path, monkeypatch):
    """In a folder other processes write to (the judge's cache), only temps older than any write."""
    _forbid_os_kill(monkeypatch)
    old, fresh = tmp_path / ".judge.keras.123.tmp.keras", tmp_path / ".judge.json.456.tmp"
    old.write_text("x")
    fresh.write_text("x")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert files.remove_stale_temps(tmp_path, older_than_s=3600) == [old]
    assert fresh.exists() and not old.exists()
