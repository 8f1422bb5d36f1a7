"""Shared fixtures: a small batch of real MNIST, loaded once per session."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mnist():
    """The full ``((x_train, y_train), (x_test, y_test))`` from vae_tf's loader (uint8)."""
    import vae_tf

    return vae_tf.load_mnist()


@pytest.fixture(scope="session")
def small_batch(mnist):
    """512 real training images scaled to [0, 1], shape (512, 28, 28, 1), and their labels."""
    import vae_tf

    (x, y), _ = mnist
    return vae_tf.scale_images(x[:512]), y[:512].astype("int64")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def judge_cache():
    """The user's vae_tf cache (``$VAE_TF_CACHE_DIR``, else XDG, else ``~/.cache/vae_tf``), the
    one the notebooks use. Tests that need an empty cache use ``tmp_path``."""
    from vae_tf.tools.judge import resolve_cache_dir

    return resolve_cache_dir()


@pytest.fixture(scope="session")
def judge(judge_cache):
    """The course's independent judge: the shipped one (vae_tf.judge.SHIPPED_WEIGHTS)."""
    from vae_tf.tools.judge import load_judge

    return load_judge(cache_dir=judge_cache, seed=0)
