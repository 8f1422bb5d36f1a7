"""``vae-tf`` where ``fcntl`` does not exist (Windows): ``--help`` and a quick training run work.

The interpreter is a Linux one in which ``import fcntl`` fails: a meta path finder, installed
before anything else is imported, raises ImportError for it (as Windows' Python does). Nothing
of vae_tf may need it: the output directory's lock comes from ``filelock``, stale temporary
files are found without probing processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import vae_tf

WITHOUT_FCNTL = textwrap.dedent(
    """
    import sys

    class NoFcntl:
        def find_spec(self, name, path=None, target=None):
            if name == "fcntl":
                raise ImportError("No module named 'fcntl' (as on Windows)")
            return None

    sys.meta_path.insert(0, NoFcntl())
    sys.modules.pop("fcntl", None)
    try:
        import fcntl
    except ImportError:
        pass
    else:
        raise SystemExit("the finder did not hide fcntl")
    from vae_tf.app.cli import main

    code = main(sys.argv[1:])
    assert "fcntl" not in sys.modules, "something imported fcntl"
    sys.exit(code)
    """
)


def _vae_tf_without_fcntl(*args: str, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", VAE_TF_QUICK="1", VAE_TF_MNIST=str(vae_tf.find_mnist()))
    return subprocess.run([sys.executable, "-c", WITHOUT_FCNTL, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_help_and_a_quick_train_run_where_import_fcntl_fails(tmp_path):
    result = _vae_tf_without_fcntl("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage: vae-tf" in result.stdout and "train" in result.stdout

    args = ["train", "--out", "run", "--epochs", "1", "--train-size", "200", "--test-size", "50", "--verbose", "0"]
    result = _vae_tf_without_fcntl(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and result.stdout.strip().splitlines()[-1].startswith("vae-tf: done:")
    assert json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["epoch"] == 1
    assert (tmp_path / "run" / "model.keras").is_file() and (tmp_path / "run" / "history.csv").is_file()
