"""``python -m vae_tf`` and the ``vae-tf`` console script: the command line (see :mod:`vae_tf.app.cli`)."""

from __future__ import annotations

import sys

from .app.cli import main

if __name__ == "__main__":
    sys.exit(main())
