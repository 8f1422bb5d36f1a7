"""``python -m vae_tf.course``: the course tooling's command line (:mod:`vae_tf.course.cli`)."""

import sys

from .cli import main

sys.exit(main())
