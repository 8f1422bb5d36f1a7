"""Reliable training runs: per-epoch checkpoints, resume, NaN/Inf stop, SIGINT/SIGTERM handling,
and the command line's build/resume and fit stages.

Used by the command line (``python -m vae_tf train``) and usable from Python::

    with SignalGuard() as guard:
        nan_stop, stopper = FiniteLossStop(), StopOnSignal(guard)
        checkpoint = EpochCheckpoint(out / "checkpoint", state, stopper=stopper, nan_stop=nan_stop)
        model.fit(..., initial_epoch=state["epoch"], callbacks=[stopper, nan_stop, checkpoint])
        guard.check()  # raises Interrupted if SIGINT/SIGTERM stopped the fit

A checkpoint directory holds ``epoch-NNNN.keras`` (the model with its optimizer state) and
``state.json`` (completed epochs, the model file's name, the run config, the data's checksum,
the history so far). A new checkpoint is written as the new model file first, then
``state.json`` is replaced atomically to point at it, then the old model file is deleted: a
run killed at any moment leaves a ``state.json`` that names a complete model file.

Keras's callbacks are used where they give the guarantee; each hand-written one says why not:
``EpochProgbar`` (Keras's own bar overshoots an epoch's steps), ``StopOnSignal`` (Keras has no
signal handling), ``FiniteLossStop`` (``TerminateOnNaN`` checks
only the training ``loss``, at every batch, and does not say which epoch failed) and
``EpochCheckpoint`` (below).

Why not ``keras.callbacks.BackupAndRestore``: it saves weights only (no model config to rebuild
from), its ``training_metadata.json`` holds just the epoch (no history, run config or data
checksum) and is written in place, not atomically; it restores silently with no check that the
backup belongs to this run, and deletes the backup when ``fit`` ends. Why not ``CSVLogger`` or
``History`` files: the history must change together with the checkpoint it describes (one
atomic ``state.json``), or a resumed run would log an interrupted epoch twice.
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

from ..tools.files import atomic_save_model, atomic_write_json, atomic_write_text  # noqa: F401  (re-exported)

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
    def critical(self, check: bool = True):
        """Hold SIGINT/SIGTERM until the block ends; then raise :class:`Interrupted` if one came
        (with ``check=False`` the signal stays in ``pending`` for the caller to report)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if check:
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
    each step's results (no per-batch synchronisation). ``cut_short`` says whether the current
    epoch will end before its last step: Keras runs the execution that begins at the batch
    where the stop is requested (``steps_per_execution`` steps) and then leaves the epoch, so an
    epoch whose remaining steps fit in that execution still completes."""

    def __init__(self, guard: SignalGuard):
        super().__init__()
        self.guard = guard
        self.cut_short = self._stopping = False

    def _poll(self, *args, **kwargs) -> None:
        if self.guard.pending is not None:
            self.model.stop_training = True
            self.model.stop_evaluating = True

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.cut_short = self._stopping = False
        self._poll()

    def on_train_batch_begin(self, batch: int, logs=None) -> None:
        if self.guard.pending is not None and not self._stopping:
            self._stopping = True  # the execution starting here is the epoch's last
            steps = self.params.get("steps")
            self.cut_short = steps is None or batch + int(self.model.steps_per_execution or 1) < steps
        self._poll()

    def on_train_end(self, logs=None) -> None:
        self._stopping = False

    def on_test_batch_begin(self, batch: int, logs=None) -> None:
        if not (self._stopping and not self.cut_short):  # a completed epoch keeps its validation
            self._poll()


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
        stopper: the run's :class:`StopOnSignal`; the write happens in its guard's
            ``critical()``, and an epoch it cut short is not saved.
        nan_stop: a :class:`FiniteLossStop` listed *before* this callback; epochs it flags are
            not saved, so the last checkpoint stays the last good one.
    """

    def __init__(
        self, directory, state: dict, stopper: StopOnSignal | None = None, nan_stop: FiniteLossStop | None = None
    ):
        super().__init__()
        self.directory = Path(directory)
        self.state = state
        self.stopper = stopper
        self.nan_stop = nan_stop
        self._epoch_start = None
        self.epochs_saved = 0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        import time

        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        import time

        logs = dict(logs or {})
        if self.stopper is not None and self.stopper.cut_short:
            return  # interrupted before the epoch's last step
        if (self.nan_stop is not None and self.nan_stop.bad_epoch == epoch + 1) or not all(
            _finite(v) for v in logs.values()
        ):
            return
        elapsed = time.perf_counter() - (self._epoch_start or time.perf_counter())
        # The new state is a copy until its checkpoint is on disk: a failed write (full disk,
        # read-only directory) leaves ``self.state`` describing the last good checkpoint.
        history = {k: list(v) for k, v in self.state.get("history", {}).items()}
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        history.setdefault("epoch_time_s", []).append(round(elapsed, 4))
        steps = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        state = {**self.state, "epoch": epoch + 1, "optimizer_iterations": steps, "history": history}
        with self.stopper.guard.critical(check=False) if self.stopper else contextlib.nullcontext():
            save_checkpoint(self.directory, self.model, state)
        self.state.update(state)
        self.epochs_saved += 1


class EpochProgbar(keras.callbacks.ProgbarLogger):
    """Keras's progress bar, ending each epoch at its step count. With ``steps_per_execution > 1``
    Keras reports the last, partial execution of an epoch as a whole one, so the bar overshoots
    (``192/172``; keras-team/keras#20861); the step number is clamped to the epoch's steps."""

    def _clamped(self, batch: int) -> int:
        return min(batch, self.target - 1) if self.target else batch  # target: the steps of the epoch

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(self._clamped(batch), logs)

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(self._clamped(batch), logs)


# --------------------------------------------------------------------------- checkpoints
class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not match the requested run."""


def save_checkpoint(directory, model: keras.Model, state: dict) -> Path:
    """Write ``model`` as ``epoch-NNNN.keras`` and point ``state.json`` at it (see module doc);
    ``state["model_file"]`` (the previous checkpoint's model, if any) is deleted after. Raises
    ``OSError`` if a write fails; then the previous checkpoint is intact and still current."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    previous = state.get("model_file")
    name = f"epoch-{int(state['epoch']):04d}.keras"
    atomic_save_model(model, directory / name)
    try:
        atomic_write_json(directory / STATE_FILE, {**state, "model_file": name})
    except BaseException:
        if previous != name:
            (directory / name).unlink(missing_ok=True)
        raise
    state["model_file"] = name
    if previous not in (None, name):
        (directory / previous).unlink(missing_ok=True)
    return directory / name


def read_state(directory, missing_ok: bool = False) -> dict | None:
    """The checkpoint's ``state.json`` as a dict, checked by :func:`check_state`. Raises
    :class:`CheckpointError` if it is missing (unless ``missing_ok``, then ``None``),
    unreadable or inconsistent."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        if missing_ok:
            return None
        raise CheckpointError(f"no checkpoint to resume: {str(path)!r} does not exist.")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        check_state(state)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint state {str(path)!r} is unreadable or corrupt ({e}).") from None
    return state


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_state(state) -> None:
    """Raise ``ValueError`` unless ``state`` is what :class:`EpochCheckpoint` writes: ``epoch``
    an integer >= 1, ``model_file`` ``epoch-NNNN.keras`` of that epoch, ``optimizer_iterations``
    an integer >= 0, ``history`` lists of ``epoch`` finite numbers, ``config``/``data`` objects."""
    if not isinstance(state, dict):
        raise ValueError(f"expected a JSON object, got {type(state).__name__}")
    epoch = state.get("epoch")
    if not _is_int(epoch) or epoch < 1:
        raise ValueError(f"'epoch' must be an integer >= 1, got {epoch!r}")
    if state.get("model_file") != f"epoch-{epoch:04d}.keras":
        raise ValueError(f"'model_file' {state.get('model_file')!r} is not the model of epoch {epoch}")
    steps = state.get("optimizer_iterations")
    if not _is_int(steps) or steps < 0:
        raise ValueError(f"'optimizer_iterations' must be an integer >= 0, got {steps!r}")
    history = state.get("history")
    if not isinstance(history, dict) or not history:
        raise ValueError("'history' must be a non-empty object of per-epoch lists")
    for key, values in history.items():
        if not isinstance(values, list) or len(values) != epoch:
            n = len(values) if isinstance(values, list) else type(values).__name__
            raise ValueError(f"history {key!r} has {n} values for {epoch} epochs")
        if not all(_is_int(v) or isinstance(v, float) for v in values) or not all(map(_finite, values)):
            raise ValueError(f"history {key!r} holds values that are not finite numbers")
    for key in ("config", "data"):
        if key in state and not isinstance(state[key], dict):
            raise ValueError(f"{key!r} must be a JSON object")


def load_checkpoint_model(directory, state: dict) -> keras.Model:
    """Load the model that ``state`` names (compiled, optimizer state restored) and check that
    its optimizer step count matches the state. Raises :class:`CheckpointError`."""
    import vae_tf  # noqa: F401  (registers the package's models with Keras)

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


# --------------------------------------------------------------------------- build, resume, fit
@contextlib.contextmanager
def precision_policy(mixed: bool):
    """Keras's global dtype policy for the block: ``"mixed_float16"`` if ``mixed`` (float16
    compute, float32 weights: faster on GPUs with tensor cores), else ``"float32"``. The previous
    policy is restored after the block."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


#: The command line's ``steps_per_execution``: training steps per call into the compiled graph
#: (fewer Python round trips; callbacks' batch hooks then run every this many steps).
STEPS_PER_EXECUTION = 32


def compile_options(config, distributed: bool) -> dict:
    """The command line's ``compile`` keywords for a run of ``config``.

    * ``steps_per_execution``: :data:`STEPS_PER_EXECUTION`, or 1 under a ``tf.distribute``
      strategy: Keras runs several steps per execution in a ``tf.while_loop`` whose ``tf.cond``
      does not feed the collective all-reduce's placeholder (keras-team/keras#19246).
    * ``jit_compile``: XLA for dense models on a CPU and for every model on an accelerator; off
      for convolutional models on a CPU (XLA's convolutions are slower there than oneDNN's), in
      quick runs (its 2-3 s compile per batch shape outlasts a few dozen steps) and under a strategy.
    """
    import tensorflow as tf

    if distributed:
        return {"steps_per_execution": 1, "jit_compile": False}
    accelerator = any(d.device_type != "CPU" for d in tf.config.list_physical_devices())
    xla = not config.quick and (accelerator or config.arch != "conv")
    return {"steps_per_execution": STEPS_PER_EXECUTION, "jit_compile": xla}


def build_model(config, num_classes: int = 10, distributed: bool = False) -> keras.Model:
    """A new, compiled (Adam) model for a :class:`vae_tf.app.config.RunConfig`: a ``VAE``, or an
    ``AuxiliaryClassifierVAE`` when ``config.conditional``. Seeded by ``config.seed``; compiled
    with :func:`compile_options`."""
    from ..core.architectures import build_decoder, build_encoder
    from ..family.auxiliary import AuxiliaryClassifierVAE, build_classifier
    from ..core.replicas import ReplicaLossScaleOptimizer
    from ..core.vae import VAE

    arch, latent, seed = config.arch, config.latent_dim, config.seed
    common = {"beta": config.beta, "likelihood": config.likelihood, "sigma": config.sigma, "seed": seed}
    encoder = build_encoder(latent_dim=latent, arch=arch, seed=seed)
    if config.conditional:
        decoder = build_decoder(latent_dim=latent, arch=arch, condition_dim=num_classes)
        classifier = build_classifier(num_classes=num_classes, arch=arch)
        model = AuxiliaryClassifierVAE(encoder, decoder, classifier, num_classes=num_classes, **common)
    else:
        model = VAE(encoder, decoder=build_decoder(latent_dim=latent, arch=arch), **common)
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
    if config.mixed_precision:  # what compile would wrap it in, made safe for several replicas
        optimizer = ReplicaLossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, **compile_options(config, distributed))
    return model


def build_or_resume(config, directory, state: dict) -> keras.Model:
    """The checkpointed model if ``state["epoch"]`` > 0 (:func:`load_checkpoint_model`), else a
    new one (:func:`build_model`). Raises :class:`CheckpointError`."""
    import tensorflow as tf

    return load_checkpoint_model(directory, state) if state["epoch"] else build_model(config, distributed=tf.distribute.has_strategy())


def fit_epochs(model, fit_ds, val_ds, state: dict, directory, guard: SignalGuard, *, epochs: int, verbose: int):
    """Train ``model`` from epoch ``state["epoch"]`` to ``epochs``, checkpointing each completed,
    finite epoch into ``directory`` (``state`` is updated). Returns the :class:`FiniteLossStop`
    (``bad_epoch`` is set if training diverged). Call ``guard.check()`` after it: a signal stops
    the fit quietly. Raises ``OSError`` if a checkpoint could not be written."""
    nan_stop, stopper = FiniteLossStop(), StopOnSignal(guard)
    checkpoint = EpochCheckpoint(directory, state, stopper=stopper, nan_stop=nan_stop)
    guard.check()
    if state["epoch"] < epochs:
        model.fit(
            fit_ds,
            validation_data=val_ds,
            epochs=epochs,
            initial_epoch=state["epoch"],
            callbacks=[stopper, nan_stop, checkpoint, EpochProgbar()],
            verbose=verbose,
            shuffle=False,  # the dataset shuffles itself (seeded)
        )
    return nan_stop
