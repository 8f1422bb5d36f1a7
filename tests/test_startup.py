"""Start-up of ``python -m vae_tf`` (issue 11): Ctrl-C while it is still importing TensorFlow
writes nothing; a library import interrupted the same way raises KeyboardInterrupt; ``--help``
and usage errors answer with their exit codes and one line.

``import vae_tf`` imports Keras (it registers the models for ``keras.models.load_model``), so
the command pays TensorFlow's import before it parses its options (issue 23 removed the
``sys.argv`` test that skipped it); the interrupt then lands in that import, whose traceback is
Python's own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _interrupt_early(args: list[str], cwd: Path) -> tuple[int, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # Python is up (~0.1 s); importing TensorFlow takes seconds more
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, err


def test_ctrl_c_while_the_command_imports_tensorflow_writes_nothing(tmp_path):
    code, err = _interrupt_early([sys.executable, "-m", "vae_tf", "train", "--out", "run"], tmp_path)
    assert code != 0 and "KeyboardInterrupt" in err, err
    assert not (tmp_path / "run").exists()


def test_ctrl_c_while_a_library_user_imports_vae_tf_still_raises(tmp_path):
    script = tmp_path / "user.py"
    script.write_text("import vae_tf\n")
    code, err = _interrupt_early([sys.executable, str(script)], tmp_path)
    assert code != 0 and "KeyboardInterrupt" in err and "vae-tf:" not in err, err


def test_help_and_usage_errors_answer_with_their_exit_codes_and_one_line(tmp_path):
    """``--help``, a bad option and a missing model path are answered before any data or model is
    touched: exit code 0 or 2, one line of ours on stderr for an error, nothing written."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    for args, code in ((["train", "--help"], 0), (["train", "--epochs", "0"], 2),
                       (["evaluate", str(tmp_path / "missing")], 2), (["sample", str(tmp_path), "--n", "1",
                                                                       "--out", "x.png"], 2)):
        proc = subprocess.run([sys.executable, "-m", "vae_tf", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == code, proc.stderr
        ours = [line for line in proc.stderr.splitlines() if line.startswith("vae-tf")]
        assert len(ours) == (0 if code == 0 else 1) and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert "usage:" in proc.stdout if code == 0 else True
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written
