"""Reliable training runs: per-epoch checkpoints, resume, NaN/Inf stop, SIGINT/SIGTERM handling.

Used by the command line (``python -m vae_tf train``) and usable from Python::

    with SignalGuard() as guard:
        nan_stop = FiniteLossStop()
        checkpoint = EpochCheckpoint(out / "checkpoint", state, guard=guard, nan_stop=nan_stop)
        model.fit(..., initial_epoch=state["epoch"], callbacks=[StopOnSignal(guard), nan_stop, checkpoint])
        guard.check()  # raises Interrupted if SIGINT/SIGTERM stopped the fit

A checkpoint directory holds ``epoch-NNNN.keras`` (the model with its optimizer state) and
``state.json`` (completed epochs, the model file's name, the run config, the history so far).
A new checkpoint is written as the new model file first, then ``state.json`` is replaced
atomically to point at it, then the old model file is deleted: a run killed at any moment
leaves a ``state.json`` that names a complete model file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
from pathlib import Path
from typing import Any

import keras

from .files import atomic_save_model, atomic_write_json, atomic_write_text  # noqa: F401  (re-exported)

STATE_FILE = "state.json"


# --------------------------------------------------------------------------- signals
class Interrupted(KeyboardInterrupt):
    """Raised by :class:`SignalGuard` on SIGINT or SIGTERM; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        """Shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


class SignalGuard:
    """Context manager that turns SIGINT (Ctrl-C) and SIGTERM into a clean stop.

    In the main thread, the first signal only records itself in ``pending``; the code checks
    at safe points (:meth:`check`, and :class:`StopOnSignal` between batches) and raises
    :class:`Interrupted` there. Raising inside a running TensorFlow step can abort the process
    while its data-pipeline threads are still working, so nothing is raised from the handler
    itself, except on a second signal outside a :meth:`critical` block (the user insists).
    Inside ``with guard.critical():`` signals are only recorded, and :class:`Interrupted` is
    raised when the block ends, so a checkpoint is never abandoned half written. The previous
    handlers are restored on exit. Outside the main thread it installs nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self._previous: dict[int, Any] = {}
        self._depth = 0
        self.pending: int | None = None

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.pending is not None and not self._depth:
            raise Interrupted(signum)
        if self.pending is None:
            self.pending = signum

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal came (and we are not in a critical block)."""
        if self.pending is not None and not self._depth:
            raise Interrupted(self.pending)

    @contextlib.contextmanager
    def critical(self):
        """Hold SIGINT/SIGTERM until the block ends; then raise :class:`Interrupted` if one came."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        self.check()


# --------------------------------------------------------------------------- callbacks
def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number: nothing to check


class StopOnSignal(keras.callbacks.Callback):
    """Stop ``fit``/``evaluate`` at the next batch once ``guard`` has recorded a signal.

    Only ``*_batch_begin`` hooks are used: they receive no logs, so Keras need not wait for
    each step's results (no per-batch synchronisation)."""

    def __init__(self, guard: SignalGuard):
        super().__init__()
        self.guard = guard

    def _poll(self, *args, **kwargs) -> None:
        if self.guard.pending is not None:
            self.model.stop_training = True
            self.model.stop_evaluating = True

    on_epoch_begin = on_train_batch_begin = on_test_batch_begin = _poll


class FiniteLossStop(keras.callbacks.Callback):
    """Stop training at the end of the first epoch whose logged losses/metrics (training or
    validation) are NaN or infinite. A NaN in any batch makes the epoch mean NaN, so checking
    epoch logs catches it without a per-batch synchronisation. After a stop, ``bad_epoch``
    (1-based) and ``bad_logs`` say where, and :class:`EpochCheckpoint` saves nothing for it."""

    def __init__(self):
        super().__init__()
        self.bad_epoch: int | None = None
        self.bad_logs: dict[str, float] = {}

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        bad = {k: float(v) for k, v in logs.items() if not _finite(v)}
        if bad:
            self.bad_epoch, self.bad_logs = epoch + 1, bad
            self.model.stop_training = True


class EpochCheckpoint(keras.callbacks.Callback):
    """Save a checkpoint after each completed epoch with finite logs.

    Args:
        directory: checkpoint directory (created if needed).
        state: run state, updated in place and written to ``state.json``: ``epoch`` (completed
            epochs), ``model_file``, ``history`` (lists of per-epoch logs, plus ``epoch_time_s``)
            and anything else the caller stores there (e.g. the run ``config``).
        guard: a :class:`SignalGuard`; the write happens in ``guard.critical()``, and no
            checkpoint is written once a signal is pending (the epoch may be cut short).
        nan_stop: a :class:`FiniteLossStop` listed *before* this callback; epochs it flags are
            not saved, so the last checkpoint stays the last good one.
    """

    def __init__(self, directory, state: dict, guard: SignalGuard | None = None, nan_stop: FiniteLossStop | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.state = state
        self.guard = guard
        self.nan_stop = nan_stop
        self._epoch_start = None
        self.epochs_saved = 0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        import time

        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        import time

        logs = dict(logs or {})
        if self.guard is not None and self.guard.pending is not None:
            return  # interrupted: this epoch may be incomplete
        if (self.nan_stop is not None and self.nan_stop.bad_epoch == epoch + 1) or not all(
            _finite(v) for v in logs.values()
        ):
            return
        elapsed = time.perf_counter() - (self._epoch_start or time.perf_counter())
        state = self.state
        history = state.setdefault("history", {})
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        history.setdefault("epoch_time_s", []).append(round(elapsed, 4))
        state["epoch"] = epoch + 1
        state["optimizer_iterations"] = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        with self.guard.critical() if self.guard else contextlib.nullcontext():
            save_checkpoint(self.directory, self.model, state)
        self.epochs_saved += 1


# --------------------------------------------------------------------------- checkpoints
class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not match the requested run."""


def save_checkpoint(directory, model: keras.Model, state: dict) -> Path:
    """Write ``model`` as ``epoch-NNNN.keras`` and point ``state.json`` at it (see module doc)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    old = read_state(directory, missing_ok=True)
    name = f"epoch-{int(state['epoch']):04d}.keras"
    atomic_save_model(model, directory / name)
    state["model_file"] = name
    atomic_write_json(directory / STATE_FILE, state)
    if old and old.get("model_file") not in (None, name):
        (directory / old["model_file"]).unlink(missing_ok=True)
    return directory / name


def read_state(directory, missing_ok: bool = False) -> dict | None:
    """The checkpoint's ``state.json`` as a dict. Raises :class:`CheckpointError` if it is
    missing (unless ``missing_ok``, then ``None``) or unreadable."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        if missing_ok:
            return None
        raise CheckpointError(f"no checkpoint to resume: {str(path)!r} does not exist.")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
            raise ValueError("no integer 'epoch'")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint state {str(path)!r} is unreadable or corrupt ({e}).") from None
    return state


def load_checkpoint_model(directory, state: dict) -> keras.Model:
    """Load the model that ``state`` names (compiled, optimizer state restored) and check that
    its optimizer step count matches the state. Raises :class:`CheckpointError`."""
    import vae_tf  # noqa: F401  (registers the custom classes)

    path = Path(directory) / str(state.get("model_file", ""))
    if not path.is_file():
        raise CheckpointError(f"checkpoint model {str(path)!r} is missing; start a fresh run without --resume.")
    try:
        model = keras.models.load_model(path)
    except Exception as e:  # a corrupt zip, a config from another version, ...
        raise CheckpointError(
            f"checkpoint model {str(path)!r} could not be loaded ({type(e).__name__}: {e})."
        ) from None
    expected = state.get("optimizer_iterations")
    if model.optimizer is None:
        raise CheckpointError(f"checkpoint model {str(path)!r} has no optimizer state.")
    got = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    if expected is not None and got != int(expected):
        raise CheckpointError(
            f"checkpoint model {str(path)!r} has {got} optimizer steps but its state says {expected}; "
            "the checkpoint is inconsistent."
        )
    return model
