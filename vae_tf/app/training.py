"""Reliable training runs on Keras's callbacks: per-epoch checkpoints and resume, history as
CSV, NaN stop, TensorBoard, plus what Keras has no callback for (SIGINT/SIGTERM, the run state).

Used by the command line (``python -m vae_tf train``) and usable from Python::

    with SignalGuard() as guard:
        nan_stop = fit_epochs(model, train_ds, val_ds, state, out / "checkpoint", guard, epochs=10, verbose=2)
        guard.check()  # raises Interrupted if SIGINT/SIGTERM stopped the fit

A checkpoint directory holds ``epoch-NNNN.keras``, written by ``keras.callbacks.ModelCheckpoint``
(the whole model: config, weights, optimizer state, the noise generators' state), and
``state.json``, written by :class:`RunState` (completed epochs, the model file's name, the run
config, the data's checksum, the history so far). Each epoch's model is a new file and
``state.json`` is replaced atomically to name it only once it is complete, then the previous model
file is deleted: a run killed at any moment leaves a ``state.json`` that names a complete model
file; a model file it does not name (an epoch cut short, diverged or killed mid-save) is deleted
by :func:`discard_unsaved` when the fit ends or the next one starts. With early stopping, the
best epoch's model file is kept too (``state.json``'s ``early_stopping.best_model_file``): the
weights a resumed run restores at its end.

Keras's callbacks are used where they give the guarantee: ``ModelCheckpoint`` (not
``BackupAndRestore``, which overwrites one weights file in place, so a kill mid-save leaves none
whole, and saves every epoch, diverged or cut short, as the one to restore), ``CSVLogger``
(``history.csv``; trimmed to the checkpointed epochs by :func:`discard_unsaved`),
``TerminateOnNaN`` (:class:`NaNStop` adds which epoch failed and the validation losses) and
``TensorBoard`` and ``EarlyStopping`` (:class:`ResumableEarlyStopping` carries its progress
across a resume). Hand-written: :class:`SignalGuard` and :class:`StopOnSignal` (Keras has no
signal handling), :class:`RunState` (Keras keeps no run config, data checksum or history with a
checkpoint), :class:`EpochProgbar` (Keras's bar overshoots an epoch's steps) and
:class:`LearningRateLog` (Keras logs no scheduled learning rate).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

from ..tools.files import atomic_write, atomic_write_json

STATE_FILE = "state.json"
#: ``ModelCheckpoint``'s file name for the model after epoch N (1-based).
MODEL_PATTERN = "epoch-{epoch:04d}.keras"


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

    The first signal is only recorded in ``pending``; :meth:`check` and :class:`StopOnSignal`
    (between batches) raise :class:`Interrupted` at safe points, since raising inside a running
    TensorFlow step can abort the process. A second signal raises at once, except inside
    ``with guard.critical():``, which holds signals until it ends. The previous handlers are
    restored on exit. Outside the main thread it installs nothing; a signal the platform does not
    let Python handle (SIGTERM on some Windows set-ups) is skipped."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self._previous: dict[int, Any] = {}
        self._depth = 0
        self.pending: int | None = None

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                with contextlib.suppress(OSError, ValueError):
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
    each step's results. ``cut_short`` says whether the current epoch will end before its last
    step: Keras runs the execution that begins at the batch where the stop is requested
    (``steps_per_execution`` steps) and then leaves the epoch, so an epoch whose remaining steps
    fit in that execution still completes."""

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


class NaNStop(keras.callbacks.TerminateOnNaN):
    """``keras.callbacks.TerminateOnNaN`` (stop once a batch's training loss is NaN or infinite)
    that also says which epoch failed and checks each epoch's logs, validation losses included.
    After a stop, ``bad_epoch`` (1-based) and ``bad_logs`` (the non-finite values) say where."""

    def __init__(self):
        super().__init__()
        self.bad_epoch: int | None = None
        self.bad_logs: dict[str, float] = {}
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs=None) -> None:
        super().on_batch_end(batch, logs)
        self._flag(self._epoch, logs)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._flag(epoch, logs)

    def _flag(self, epoch: int, logs) -> None:
        bad = {k: float(v) for k, v in (logs or {}).items() if not _finite(v)}
        if bad and self.bad_epoch in (None, epoch + 1):
            self.bad_epoch, self.bad_logs = epoch + 1, {**self.bad_logs, **bad}
            self.model.stop_training = True


#: The keys of early stopping's progress in ``state.json`` (:meth:`ResumableEarlyStopping.progress`).
EARLY_STOPPING_KEYS = ("wait", "best", "best_epoch", "stopped_epoch", "best_model_file")


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping(monitor="val_loss", mode="min", restore_best_weights=True)``
    that can go on from a checkpoint: :meth:`progress` is what a checkpoint stores, and a callback
    made with that progress and the best epoch's weights continues Keras's rule where it stood, so
    a resumed fit stops at the epoch, and ends with the weights, of the uninterrupted one.

    Keras's rule: an epoch whose ``val_loss`` is below the best so far becomes the best (``wait``
    back to 0); any other adds 1 to ``wait``, and training stops once ``wait`` reaches
    ``patience``. Epochs before ``start_from_epoch`` are not monitored. When training ends, the
    best epoch's weights are restored (the optimizer state and the noise generators stay the last
    epoch's). Only EarlyStopping's public attributes are read and set (``wait``, ``best``,
    ``best_epoch``, ``best_weights``, ``stopped_epoch``).

    Args:
        patience: epochs without improvement before stopping, an integer >= 1.
        start_from_epoch: how many first epochs are not monitored (e.g. a KL warm-up's).
        progress: a checkpoint's :meth:`progress` to go on from; None for a new fit.
        best_weights: the model's ``get_weights()`` at ``progress["best_epoch"]`` (None if no best yet).
    """

    def __init__(self, patience: int, start_from_epoch: int = 0, progress: Mapping | None = None,
                 best_weights: list | None = None):
        super().__init__(monitor="val_loss", mode="min", patience=patience, restore_best_weights=True,
                         start_from_epoch=start_from_epoch)
        self.resumed_progress = dict(progress) if progress else None
        self.resumed_best_weights = best_weights

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)  # Keras resets wait, best, best_epoch and best_weights here
        saved = self.resumed_progress
        if saved is not None and saved["best"] is not None:
            self.wait, self.best, self.best_epoch = saved["wait"], float(saved["best"]), saved["best_epoch"] - 1
            self.best_weights = self.resumed_best_weights

    def progress(self) -> dict:
        """Where the rule stands after the last epoch: ``wait``; ``best``, the lowest monitored
        ``val_loss`` (nats per image), and ``best_epoch`` (1-based); ``stopped_epoch`` (1-based,
        None while training goes on); ``best_model_file``, the best epoch's ``ModelCheckpoint``
        file. The best ones are None while no epoch has been monitored."""
        best = None if self.best is None else float(self.best)
        best_epoch = None if best is None else int(self.best_epoch) + 1
        return {"wait": int(self.wait), "best": best, "best_epoch": best_epoch,
                "stopped_epoch": int(self.stopped_epoch) + 1 if self.stopped_epoch else None,
                "best_model_file": None if best is None else MODEL_PATTERN.format(epoch=best_epoch)}


class LearningRateLog(keras.callbacks.Callback):
    """Log each epoch's learning rate as ``learning_rate``: the optimizer's rate at the epoch's
    first step (a schedule's value at the step count the epoch starts from). List it before the
    callbacks that read the logs (``CSVLogger``, :class:`RunState`)."""

    def __init__(self):
        super().__init__()
        self._rate = math.nan

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is not None:
            logs["learning_rate"] = self._rate


class RunState(keras.callbacks.Callback):
    """Write ``state.json`` after each completed epoch with finite logs, naming the model file that
    ``keras.callbacks.ModelCheckpoint`` (listed before this callback) wrote for it.

    Args:
        directory: the checkpoint directory.
        state: run state, updated in place and written to ``state.json``: ``epoch`` (completed
            epochs), ``model_file``, ``optimizer_iterations``, ``history`` (lists of per-epoch
            logs, plus ``epoch_time_s``) and anything else the caller stores there (e.g. the run
            ``config`` and ``data``).
        stopper: the run's :class:`StopOnSignal`; the write happens in its guard's
            ``critical()``, and an epoch it cut short is not recorded.
        nan_stop: the run's :class:`NaNStop`, listed before this callback; the epoch it flags
            is not recorded, so ``state.json`` keeps naming the last good model.
        early_stopping: the run's :class:`ResumableEarlyStopping`, listed before this callback;
            its :meth:`~ResumableEarlyStopping.progress` is stored as ``early_stopping``, and the
            best epoch's model file is kept.
    """

    def __init__(self, directory, state: dict, stopper: StopOnSignal | None = None, nan_stop: NaNStop | None = None,
                 early_stopping: ResumableEarlyStopping | None = None):
        super().__init__()
        self.directory, self.state = Path(directory), state
        self.stopper, self.nan_stop, self.early_stopping = stopper, nan_stop, early_stopping
        self._epoch_start = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = dict(logs or {})
        cut = self.stopper is not None and self.stopper.cut_short
        if cut or (self.nan_stop and self.nan_stop.bad_epoch == epoch + 1) or not all(map(_finite, logs.values())):
            return
        history = {k: list(v) for k, v in self.state.get("history", {}).items()}
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        history.setdefault("epoch_time_s", []).append(round(time.perf_counter() - self._epoch_start, 4))
        previous = set(_model_files(self.state))
        state = {**self.state, "epoch": epoch + 1, "model_file": MODEL_PATTERN.format(epoch=epoch + 1),
                 "optimizer_iterations": int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)),
                 "history": history}
        if self.early_stopping is not None:
            state["early_stopping"] = self.early_stopping.progress()
        # A failed write (full disk) raises here and leaves ``self.state`` the last good checkpoint's.
        with self.stopper.guard.critical(check=False) if self.stopper else contextlib.nullcontext():
            atomic_write_json(self.directory / STATE_FILE, state)
        self.state.update(state)
        for name in previous - set(_model_files(state)):
            (self.directory / name).unlink(missing_ok=True)


def _model_files(state: dict) -> list[str]:
    """The model files ``state`` names: the last epoch's and, with early stopping, the best one's."""
    names = [state.get("model_file"), (state.get("early_stopping") or {}).get("best_model_file")]
    return [n for n in names if n is not None]


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


def discard_unsaved(directory, state: dict, history_csv=None) -> None:
    """Make the checkpoint ``directory`` and ``history_csv`` say what ``state`` says: delete the
    ``epoch-*.keras`` files other than those it names (``model_file``, and the early-stopping
    ``best_model_file``), and keep the CSV's header and its first ``state["epoch"]`` rows (no
    file at epoch 0). Raises ``OSError`` if a write fails."""
    directory, kept = Path(directory), set(_model_files(state))
    for p in directory.glob("epoch-*.keras") if directory.is_dir() else ():
        if p.name not in kept:
            p.unlink(missing_ok=True)
    csv = Path(history_csv) if history_csv is not None else None
    if csv is None or not csv.is_file():
        return
    if not state["epoch"]:
        csv.unlink()
        return
    data = csv.read_bytes()
    kept = b"".join(line + b"\n" for line in data.split(b"\n")[:-1][: state["epoch"] + 1])  # whole lines only
    if kept != data:
        atomic_write(csv, lambda tmp: tmp.write_bytes(kept))


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
    """Raise ``ValueError`` unless ``state`` is what :class:`RunState` writes: ``epoch``
    an integer >= 1, ``model_file`` ``epoch-NNNN.keras`` of that epoch, ``optimizer_iterations``
    an integer >= 0, ``history`` lists of ``epoch`` finite numbers, ``config``/``data`` objects,
    and ``early_stopping`` (if there) what :meth:`ResumableEarlyStopping.progress` gives."""
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
    if "early_stopping" in state:
        _check_early_stopping(state["early_stopping"], epoch)


def _check_early_stopping(progress, epoch: int) -> None:
    """Raise ``ValueError`` unless ``progress`` is early stopping's state after ``epoch`` epochs."""
    if not isinstance(progress, dict) or set(progress) != set(EARLY_STOPPING_KEYS):
        raise ValueError(f"'early_stopping' must be an object with the keys {list(EARLY_STOPPING_KEYS)}")
    wait, best, best_epoch, stopped = (progress[k] for k in ("wait", "best", "best_epoch", "stopped_epoch"))
    if not _is_int(wait) or not 0 <= wait <= epoch:
        raise ValueError(f"early_stopping 'wait' must be an integer in [0, {epoch}], got {wait!r}")
    if best is None:
        if (best_epoch, progress["best_model_file"], wait) != (None, None, 0):
            raise ValueError("early_stopping has no 'best' value but names a best epoch, model or wait")
    elif isinstance(best, bool) or not isinstance(best, (int, float)) or not _finite(best) or not (
            _is_int(best_epoch) and 1 <= best_epoch <= epoch
            and progress["best_model_file"] == MODEL_PATTERN.format(epoch=best_epoch)):
        raise ValueError(f"early_stopping's best value {best!r}, epoch {best_epoch!r} and model "
                         f"{progress['best_model_file']!r} do not match (at most epoch {epoch})")
    if stopped not in (None, epoch):
        raise ValueError(f"early_stopping 'stopped_epoch' must be null or the last epoch {epoch}, got {stopped!r}")


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


#: ``--lr-schedule`` choices: ``constant`` (``--learning-rate`` throughout) or ``cosine``
#: (``keras.optimizers.schedules.CosineDecay`` from ``--learning-rate`` to 0 over the run's steps).
LR_SCHEDULES = ("constant", "cosine")


def learning_rate(config, steps_per_epoch: int | None = None):
    """Adam's learning rate for ``config``: ``config.learning_rate``, or for ``lr_schedule``
    ``"cosine"`` a ``keras.optimizers.schedules.CosineDecay`` from it to 0 over
    ``config.epochs * steps_per_epoch`` training steps (it is saved with the optimizer, whose
    step count a resumed run continues). Raises ``ValueError`` if a schedule lacks ``steps_per_epoch`` >= 1."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    if not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise ValueError(f"the {config.lr_schedule} learning-rate schedule needs steps_per_epoch >= 1, got {steps_per_epoch!r}")
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=config.epochs * steps_per_epoch)


def build_model(config, num_classes: int = 10, distributed: bool = False,
                steps_per_epoch: int | None = None, image_shape=(28, 28, 1)) -> keras.Model:
    """A new, compiled (Adam) model for a :class:`vae_tf.app.config.RunConfig`: a ``VAE``, or an
    ``AuxiliaryClassifierVAE`` when ``config.conditional``. Seeded by ``config.seed``; compiled
    with :func:`compile_options`; its learning rate is :func:`learning_rate` (a schedule needs
    ``steps_per_epoch``, the training batches per epoch). ``image_shape``: ``(h, w, c)`` of the data."""
    from ..core.architectures import build_decoder, build_encoder
    from ..family.auxiliary import AuxiliaryClassifierVAE, build_classifier
    from ..core.optimizers import ReplicaLossScaleOptimizer
    from ..core.vae import VAE

    arch, latent, seed = config.arch, config.latent_dim, config.seed
    common = {"beta": config.beta, "likelihood": config.likelihood, "sigma": config.sigma, "seed": seed}
    shape = tuple(int(s) for s in image_shape)
    encoder = build_encoder(shape, latent_dim=latent, arch=arch)
    if config.conditional:
        decoder = build_decoder(shape, latent_dim=latent, arch=arch, condition_dim=num_classes)
        classifier = build_classifier(shape, num_classes=num_classes, arch=arch)
        model = AuxiliaryClassifierVAE(encoder, decoder, classifier, num_classes=num_classes, **common)
    else:
        model = VAE(encoder, decoder=build_decoder(shape, latent_dim=latent, arch=arch), **common)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate(config, steps_per_epoch))
    if config.mixed_precision:  # what compile would wrap it in, made safe for several replicas
        optimizer = ReplicaLossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, **compile_options(config, distributed))
    return model


def build_or_resume(config, directory, state: dict, steps_per_epoch: int | None = None) -> keras.Model:
    """The checkpointed model if ``state["epoch"]`` > 0 (:func:`load_checkpoint_model`; a
    learning-rate schedule comes back with its optimizer), else a new one (:func:`build_model`).
    Raises :class:`CheckpointError`."""
    import tensorflow as tf

    if state["epoch"]:
        return load_checkpoint_model(directory, state)
    shape = (state.get("data") or {}).get("image_shape") or (28, 28, 1)  # the data's (vae_tf.app.sources)
    return build_model(config, distributed=tf.distribute.has_strategy(), steps_per_epoch=steps_per_epoch,
                       image_shape=shape)


def early_stopping_for(config, directory, state: dict) -> ResumableEarlyStopping | None:
    """The run's early stopping, None if ``config.early_stopping`` is 0: patience
    ``config.early_stopping`` epochs on ``val_loss``, not monitored during the
    ``config.kl_warmup`` epochs (a validation loss at a rising KL weight is not comparable with
    later ones), going on from ``state``'s progress with the best epoch's weights read from its
    model file. Raises :class:`CheckpointError` if the checkpoint lacks them."""
    if not config.early_stopping:
        return None
    progress = state.get("early_stopping")
    if state["epoch"] and progress is None:
        raise CheckpointError("the checkpoint's state.json has no early-stopping progress; start a fresh run.")
    weights = None
    if progress and progress["best_model_file"]:
        import vae_tf  # noqa: F401  (registers the package's models with Keras)

        path = Path(directory) / progress["best_model_file"]
        try:
            weights = keras.models.load_model(path, compile=False).get_weights()
        except Exception as e:  # missing, a corrupt zip, ...
            raise CheckpointError(f"the best epoch's model {str(path)!r} could not be loaded "
                                  f"({type(e).__name__}: {e}).") from None
    return ResumableEarlyStopping(config.early_stopping, start_from_epoch=config.kl_warmup, progress=progress,
                                  best_weights=weights)


@contextlib.contextmanager
def _quiet_retracing():
    """TensorFlow's logger at ERROR: KL warm-up retraces the step on purpose each warm-up epoch,
    and TensorFlow warns about every retrace after the fifth."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def fit_epochs(model, fit_ds, val_ds, state: dict, directory, guard: SignalGuard, *, epochs: int, verbose: int,
               history_csv=None, tensorboard=None, kl_warmup: int = 0, beta: float = 1.0,
               early_stopping: ResumableEarlyStopping | None = None, log_learning_rate: bool = False) -> NaNStop:
    """Train ``model`` from epoch ``state["epoch"]`` to ``epochs``, checkpointing each completed,
    finite epoch into ``directory`` (``state`` is updated), logging epochs to ``history_csv``
    (``keras.callbacks.CSVLogger``, appending) and to the ``tensorboard`` log folder if given; with
    ``kl_warmup`` epochs, :class:`vae_tf.KLWarmup` raises the KL weight to ``beta``; with
    ``early_stopping`` (:func:`early_stopping_for`), training stops once ``val_loss`` stops
    improving and ``model`` ends with the best epoch's weights (also when the checkpoint has
    nothing left to train: all epochs done, or stopped early); ``log_learning_rate`` logs each
    epoch's ``learning_rate`` (:class:`LearningRateLog`).
    Returns the :class:`NaNStop` (``bad_epoch`` is set if training diverged). Call
    ``guard.check()`` after it: a signal stops the fit quietly. Raises ``OSError`` if a
    checkpoint could not be written."""
    from ..family.warmup import KLWarmup

    nan_stop, stopper = NaNStop(), StopOnSignal(guard)
    logged = [KLWarmup(kl_warmup, beta=beta)] if kl_warmup else []  # before the callbacks that read their logs
    logged += [LearningRateLog()] if log_learning_rate else []
    stopping = [early_stopping] if early_stopping is not None else []  # before RunState, which stores its progress
    callbacks = [stopper, *logged, nan_stop, *stopping,
                 keras.callbacks.ModelCheckpoint(str(Path(directory) / MODEL_PATTERN)),
                 RunState(directory, state, stopper=stopper, nan_stop=nan_stop, early_stopping=early_stopping)]
    if history_csv is not None:
        callbacks.append(keras.callbacks.CSVLogger(str(history_csv), append=True))
    if tensorboard is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard)))
    guard.check()
    discard_unsaved(directory, state, history_csv)  # what a killed run left beyond its checkpoint
    quiet = _quiet_retracing() if kl_warmup else contextlib.nullcontext()
    stopped = (state.get("early_stopping") or {}).get("stopped_epoch") is not None
    try:
        if state["epoch"] < epochs and not stopped:
            with quiet:
                model.fit(fit_ds, validation_data=val_ds, epochs=epochs, initial_epoch=state["epoch"],
                          callbacks=[*callbacks, EpochProgbar()], verbose=verbose,
                          shuffle=False)  # the dataset shuffles itself (seeded)
        elif early_stopping is not None and early_stopping.resumed_best_weights is not None:
            model.set_weights(early_stopping.resumed_best_weights)  # what the finished fit ended with
    finally:
        with contextlib.suppress(OSError):  # an epoch cut short or diverged; retried at the next start
            discard_unsaved(directory, state, history_csv)
    return nan_stop
