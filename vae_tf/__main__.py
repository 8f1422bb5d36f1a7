"""``python -m vae_tf`` and the ``vae-tf`` console script: the command line (see :mod:`vae_tf.cli`)."""

from __future__ import annotations

import os
import sys

from . import xla_cache
from .cli import main as _cli_main


def exit_now(code: int) -> None:
    """Flush stdout/stderr and end the process with ``code`` without interpreter teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


def main() -> int:
    """Run the command line on ``sys.argv`` and end the process with its code (see :mod:`vae_tf.cli`).

    The process ends with ``os._exit`` once its streams are flushed, not with a normal interpreter
    teardown. Every output was already written atomically and closed (or nothing was), so no exit
    work is lost, and the teardown could only cost or undo:
    - time: tearing down TensorFlow took 1.3 s of a 6-epoch run (``benchmarks/whole_process.py``);
    - exit code 130: a Ctrl-C that lands while TensorFlow's C++ import runs Python code sets
      CPython's "unhandled KeyboardInterrupt" flag, and a normal exit then re-kills the process with
      SIGINT (exit -2 instead of 130) although the interrupt was handled;
    - exit code 5's one line: after a lost collective peer, TensorFlow's cross-device thread pool is
      left half closed and its finalizer prints an OSError traceback during teardown.
    """
    code = _cli_main()
    xla_cache.publish()  # what atexit would do (os._exit skips it)
    exit_now(code)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
