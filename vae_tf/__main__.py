"""``python -m vae_tf`` and the ``vae-tf`` console script: the command line (see :mod:`vae_tf.cli`)."""

from __future__ import annotations

import os
import sys

from .cli import main as _cli_main
from .run import EXIT_WORKER_LOST

# Exit codes after which the process ends with ``os._exit`` (streams flushed first) instead of a
# normal interpreter teardown, because that teardown can undo the one-line contract:
# - 130: a Ctrl-C that lands while TensorFlow's C++ import runs Python code sets CPython's
#   "unhandled KeyboardInterrupt" flag, and a normal exit then re-kills the process with SIGINT
#   (exit -2 instead of 130) although the interrupt was handled;
# - 5: after a lost collective peer TensorFlow's cross-device thread pool is left half closed and
#   its finalizer prints an OSError traceback during teardown.
# Every output was already written atomically (or nothing was), so no atexit work is lost.
_EXIT_WITHOUT_TEARDOWN = (130, EXIT_WORKER_LOST)


def exit_now(code: int) -> None:
    """Flush stdout/stderr and end the process with ``code`` without interpreter teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


def main() -> int:
    """Run the command line on ``sys.argv`` and exit with its code (see :mod:`vae_tf.cli`)."""
    code = _cli_main()
    if code in _EXIT_WITHOUT_TEARDOWN:
        exit_now(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
