"""Run-time settings read from the environment."""

from __future__ import annotations

import os

QUICK_ENV_VAR = "VAE_TF_QUICK"


def quick_mode() -> bool:
    """True when ``$VAE_TF_QUICK`` is set to a true value (``1``, ``true``, ``yes``, ``on``).

    Notebooks and tests use it to train for fewer epochs on a data subset; the default (unset)
    is the full-quality run that readers see.
    """
    return os.environ.get(QUICK_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}
