"""Ctrl-C while ``python -m vae_tf`` is still importing TensorFlow (issue 11): one line, exit
130, no traceback, nothing written. A library import interrupted the same way still raises
KeyboardInterrupt (only the command turns it into a message)."""

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


def test_ctrl_c_while_the_command_imports_tensorflow_is_one_line(tmp_path):
    code, err = _interrupt_early([sys.executable, "-m", "vae_tf", "train", "--out", "run"], tmp_path)
    ours = [line for line in err.splitlines() if line.startswith("vae-tf")]
    assert code == 130, err
    assert "Traceback" not in err and ours == ["vae-tf: interrupted during start-up; nothing was written."], err
    assert not (tmp_path / "run").exists()


def test_ctrl_c_while_a_library_user_imports_vae_tf_still_raises(tmp_path):
    script = tmp_path / "user.py"
    script.write_text("import vae_tf\n")
    code, err = _interrupt_early([sys.executable, str(script)], tmp_path)
    assert code != 0 and "KeyboardInterrupt" in err and "vae-tf:" not in err, err


def _imported_modules(args: list[str], cwd: Path) -> tuple[int, set[str], str]:
    """Exit code, the top-level modules ``python -X importtime ARGS`` imported, and stderr."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    modules = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
               if line.startswith("import time:")}
    return proc.returncode, modules, proc.stderr


def test_help_and_usage_errors_answer_without_starting_tensorflow(tmp_path):
    """``--help``, a bad option and a missing model path are answered before TensorFlow (seconds
    to import) starts; a real run does import it."""
    for args, code in ((["train", "--help"], 0), (["train", "--epochs", "0"], 2),
                       (["evaluate", str(tmp_path / "missing")], 2), (["sample", str(tmp_path), "--n", "1",
                                                                       "--out", "x.png"], 2)):
        rc, modules, err = _imported_modules(["-m", "vae_tf", *args], tmp_path)
        assert rc == code, err
        assert not modules & {"tensorflow", "keras", "matplotlib", "scipy"}, (args, sorted(modules))
    rc, modules, err = _imported_modules(["-c", "import vae_tf"], tmp_path)
    assert rc == 0 and {"tensorflow", "keras"} <= modules, err  # a library import registers everything
