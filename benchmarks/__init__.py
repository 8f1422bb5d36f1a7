"""Benchmarks of ``vae_tf`` (not part of the installed package; run from the project root).

* ``train_throughput.py``: images per second inside ``fit`` against the plain Keras example
  (and PyTorch); modules ``children`` (one training run per process), ``torch_reference``,
  ``flops`` (FLOP count and CPU peak) and ``report`` (tables and goal checks).
* ``whole_process.py``: wall time of a whole ``python -m vae_tf train`` process against a whole
  process of the plain Keras example, with a breakdown of the fixed costs (``timeline``).

The pass/fail thresholds of both live in ``goals.json``.
"""
