"""Training on several devices or machines with ``tf.distribute``, equal to one device.

Build and compile a model inside ``strategy.scope()``; ``fit`` then splits every batch across
the replicas. The batch size given to ``fit`` (and the CLI's ``--batch-size``) is the
**global** batch: each of ``n`` replicas gets ``batch_size / n`` examples, the loss is the mean
over the global batch and the gradients are summed over replicas, so one step equals a step
on one device with the same batch and the learning rate stays the same.

Only the chief writes results (:func:`chief_path`); every worker keeps its own checkpoint (see
:func:`vae_tf.app.run.worker_out`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf


TF_CONFIG_VAR = "TF_CONFIG"
#: Names accepted by :func:`strategy_from_name` (the command line's ``--distribute``).
STRATEGY_NAMES = ("none", "mirrored", "multi-worker")


def use_logical_cpus(n: int) -> list[tf.config.LogicalDevice]:
    """Split the machine's CPU into ``n`` logical devices (``/cpu:0`` ... ``/cpu:{n-1}``), so
    that ``MirroredStrategy`` can run ``n`` replicas on a CPU-only machine (for tests and
    teaching; it is not faster than one device). Must run before TensorFlow initialises its
    devices (before any tensor is created); a second call with the same ``n`` is a no-op.

    Raises:
        ValueError: ``n < 1``.
        RuntimeError: TensorFlow already initialised its devices with another split.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"the number of logical CPUs must be a positive integer, got {n!r}.")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(n))
    except RuntimeError:
        devices = tf.config.list_logical_devices("CPU")
        if len(devices) != n:
            raise RuntimeError(
                f"cannot split the CPU into {n} logical devices: TensorFlow already initialised "
                f"{len(devices)}; call use_logical_cpus({n}) before any other TensorFlow work."
            ) from None
    return tf.config.list_logical_devices("CPU")


def tf_config() -> dict | None:
    """The cluster description in ``$TF_CONFIG`` as a dict, or None when it is unset.

    Raises:
        ValueError: the variable is not JSON with a ``cluster`` and a ``task``.
    """
    text = os.environ.get(TF_CONFIG_VAR, "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"${TF_CONFIG_VAR} is not valid JSON ({err}); see the README's multi-worker example.") from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ValueError(
            f"${TF_CONFIG_VAR} must be JSON with 'cluster' and 'task', e.g. "
            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}.'
        )
    return config


def strategy_from_name(name: str, logical_cpus: int | None = None) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (one of :data:`STRATEGY_NAMES`).

    * ``"none"``: TensorFlow's default strategy (one device, no replication).
    * ``"mirrored"``: ``MirroredStrategy`` over all local GPUs (one replica on the CPU when
      there is none), or over ``logical_cpus`` logical CPU devices when given (see
      :func:`use_logical_cpus`; call this before other TensorFlow work then).
    * ``"multi-worker"``: ``MultiWorkerMirroredStrategy`` over the cluster in ``$TF_CONFIG``;
      every worker runs the same program and must be started (each blocks until all are up).

    Raises:
        ValueError: unknown ``name``; ``logical_cpus`` with a strategy other than
            ``"mirrored"``; ``"multi-worker"`` without a valid ``$TF_CONFIG``.
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"unknown distribution strategy {name!r}; choose one of {STRATEGY_NAMES}.")
    if logical_cpus is not None and name != "mirrored":
        raise ValueError(f"logical_cpus applies to 'mirrored' only, got it with {name!r}.")
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if logical_cpus is None:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([d.name for d in use_logical_cpus(logical_cpus)])
    if tf_config() is None:
        raise ValueError(
            f"'multi-worker' needs the cluster in ${TF_CONFIG_VAR}: set it on every worker, e.g. "
            '{"cluster": {"worker": ["localhost:12345", "localhost:23456"]}, "task": {"type": "worker", "index": 0}}.'
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def task() -> tuple[str, int]:
    """This process's ``(task type, index)`` in ``$TF_CONFIG``; ``("chief", 0)`` without it."""
    config = tf_config()
    if config is None:
        return "chief", 0
    return str(config["task"].get("type", "worker")), int(config["task"].get("index", 0))


def is_chief() -> bool:
    """Whether this process writes the run's results: always without ``$TF_CONFIG``; in a
    cluster the ``chief`` task, or worker 0 when the cluster has no chief (TensorFlow's rule)."""
    config = tf_config()
    kind, index = task()
    if config is None or kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in config["cluster"]


@contextlib.contextmanager
def chief_path(path: str | os.PathLike) -> Iterator[Path]:
    """Where this worker writes ``path``: ``path`` itself on the chief; on other workers a
    private temporary path (deleted on exit), so that every worker can run the same saving
    code (a save may need all workers, e.g. to read synchronised variables) and only the
    chief's file is kept::

        with chief_path(run_dir / "model.keras") as target:
            model.save(target)
    """
    path = Path(path)
    if is_chief():
        yield path
        return
    kind, index = task()
    private = path.parent / f".{kind}-{index}-tmp"
    private.mkdir(parents=True, exist_ok=True)
    try:
        yield private / path.name
    finally:
        shutil.rmtree(private, ignore_errors=True)


def global_batch_size(batch_size: int, strategy: tf.distribute.Strategy | None = None) -> int:
    """Check the global ``batch_size`` against ``strategy`` (the current one by default) and
    return it: every replica must get at least one example.

    Raises:
        ValueError: ``batch_size`` is smaller than the number of replicas.
    """
    replicas = (strategy or tf.distribute.get_strategy()).num_replicas_in_sync
    if int(batch_size) != batch_size or batch_size < replicas:
        raise ValueError(
            f"the batch size is the global batch, split over {replicas} replicas: it must be an "
            f"integer >= {replicas}, got {batch_size!r}."
        )
    return int(batch_size)
