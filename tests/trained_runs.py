"""Helpers of the ``vae-tf evaluate`` / ``vae-tf sample`` tests: run the real command in a
subprocess, and the quick training runs they score (module fixtures: import them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import vae_tf

MNIST = vae_tf.find_mnist()


def run_vae_tf(*args: str, cache_dir: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m vae_tf ARGS`` on the offline MNIST; ``cache_dir`` is ``$VAE_TF_CACHE_DIR``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", VAE_TF_QUICK="", VAE_TF_MNIST=str(MNIST))
    if cache_dir is not None:
        env["VAE_TF_CACHE_DIR"] = str(cache_dir)
    return subprocess.run([sys.executable, "-m", "vae_tf", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def our_lines(stderr: str) -> list[str]:
    """stderr lines written by the command (TensorFlow's start-up logging filtered out)."""
    return [line for line in stderr.splitlines() if line.startswith("vae-tf")]


def quick_run(out: Path, *extra: str) -> Path:
    """A finished ``vae-tf train --quick`` run in ``out`` (one epoch, to keep tests short)."""
    result = run_vae_tf("train", "--quick", "--epochs", "1", "--verbose", "0", "--out", str(out), *extra)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A quick unconditional run, made once per test module."""
    return quick_run(tmp_path_factory.mktemp("trained") / "run")


@pytest.fixture(scope="module")
def conditional_dir(tmp_path_factory):
    """A quick ``--conditional`` run, made once per test module."""
    return quick_run(tmp_path_factory.mktemp("trained") / "cond", "--conditional")
