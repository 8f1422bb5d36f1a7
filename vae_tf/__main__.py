"""``python -m vae_tf``: the command line (see :mod:`vae_tf.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
