"""Atomic writes (vae_tf.tools.files): a failed or killed write leaves the old file, and the temps
of killed writers are cleaned up while those of running ones are kept."""

import json
import os
import subprocess
import sys
import textwrap
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


def test_remove_stale_temps_keeps_the_temps_of_running_processes(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        dead_pid = int(finished.stdout)  # that process has exited
        names = {
            "dead": f".state.json.{dead_pid}.tmp",
            "dead_keras": f".epoch-0004.keras.{dead_pid}.tmp.keras",
            "live": f".state.json.{live.pid}.tmp",
            "mine": f".figure.png.{os.getpid()}.tmp.png",
            "not_a_temp": "state.json",
            "user_file": ".hidden.tmp.txt",
        }
        for name in names.values():
            (tmp_path / name).write_text("x")
        removed = files.remove_stale_temps(tmp_path)
        assert sorted(p.name for p in removed) == sorted([names["dead"], names["dead_keras"]])
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            names[k] for k in ("live", "mine", "not_a_temp", "user_file")
        )
    finally:
        live.kill()
        live.wait()
    assert files.remove_stale_temps(tmp_path / "missing") == []
