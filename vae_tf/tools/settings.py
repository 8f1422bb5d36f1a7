"""Run-time settings read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

QUICK_ENV_VAR = "VAE_TF_QUICK"
#: Environment variable naming the vae_tf cache directory (see :func:`resolve_cache_dir`).
CACHE_ENV_VAR = "VAE_TF_CACHE_DIR"


def env_flag(name: str) -> bool:
    """True when the environment variable ``name`` is set to ``1``, ``true``, ``yes`` or ``on``
    (any case, surrounding spaces ignored)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def quick_mode() -> bool:
    """True when ``$VAE_TF_QUICK`` is set to a true value (``1``, ``true``, ``yes``, ``on``).

    Notebooks and tests use it to train for fewer epochs on a data subset (and without XLA,
    whose compile would outlast so short a run); the default (unset) is the full-quality run
    that readers see. The models never read it.
    """
    return env_flag(QUICK_ENV_VAR)


def resolve_cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The vae_tf cache directory: ``path`` if given, else ``$VAE_TF_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/vae_tf``, else ``~/.cache/vae_tf`` (not created here)."""
    if path is not None:
        return Path(path).expanduser()
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "vae_tf"
    return Path.home() / ".cache" / "vae_tf"
