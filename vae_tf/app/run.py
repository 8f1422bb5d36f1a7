"""The training run behind ``vae-tf train``, as a pipeline that the run walks through once:

make the ``--distribute`` strategy (:mod:`vae_tf.app.distribute`) -> claim ``--out`` (this worker's
directory: :func:`worker_out`; :mod:`vae_tf.app.outdir`) -> read the checkpoint and settle the configuration
(:mod:`vae_tf.app.config`) -> load and split the data (:mod:`vae_tf.tools.data`) -> seed -> build or resume
inside the strategy's scope and fit (:mod:`vae_tf.app.training`) -> evaluate and write the report (:mod:`vae_tf.app.reporting`).

Every failure is a :class:`RunError` whose ``line()`` is the one line to print and whose
``exit_code`` is the process's exit code (see README, "Errors and exit codes").
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import ConfigError, RunConfig
from ..tools.data import MNISTError, make_dataset, scale_images, split_validation, subset
from .outdir import CHECKPOINT_DIR, HISTORY_CSV, OutDirError, claimed

if TYPE_CHECKING:
    from .training import SignalGuard

# vae_tf.app.training (Keras, TensorFlow) is imported where a run needs it, not here: the command line
# imports this module for its errors and exit codes, and answers --help and bad options without
# starting TensorFlow.

PROG = "vae-tf"
EXIT_OK, EXIT_USAGE, EXIT_DIVERGED, EXIT_WRITE_FAILED, EXIT_WORKER_LOST = 0, 2, 3, 4, 5


# --------------------------------------------------------------------------- errors
class RunError(Exception):
    """A run that cannot go on; ``line()`` is the message, ``exit_code`` the exit status."""

    exit_code = 1
    label = "error: "

    def line(self) -> str:
        return f"{PROG}: {self.label}" + " ".join(str(self).split())


class UsageError(RunError):
    """Bad input: options, data, output directory or checkpoint (exit 2)."""

    exit_code = EXIT_USAGE


class DivergedError(RunError):
    """A NaN or infinite loss stopped training; the last good checkpoint is kept (exit 3)."""

    exit_code = EXIT_DIVERGED


class WriteFailedError(RunError):
    """A checkpoint or output could not be written (disk full, read-only); nothing half-written (exit 4)."""

    exit_code = EXIT_WRITE_FAILED


class WorkerLostError(RunError):
    """Another worker of a multi-worker cluster stopped; every worker keeps its last completed
    epoch and all of them must be restarted with ``--resume`` (exit 5)."""

    exit_code = EXIT_WORKER_LOST


class RunInterrupted(RunError):
    """SIGINT or SIGTERM stopped the run (exit 130 or 143)."""

    label = ""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """What the command line asks for: ``options`` are the configuration values given
    explicitly (field name -> value), ``quick`` whether ``--quick``/``$VAE_TF_QUICK`` is on."""

    out: Path
    options: Mapping[str, Any]
    quick: bool = False
    resume: bool = False
    overwrite: bool = False
    data: str | None = None
    verbose: int | None = None
    distribute: str = "none"
    logical_cpus: int | None = None
    tensorboard: Path | None = None
    source: Any = None  # the other data options: a vae_tf.app.sources.DataOptions (None: only --data)


@dataclasses.dataclass
class RunData:
    """The images of a run: fit/validation/test splits (uint8 as loaded) and where they came from."""

    fit: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    info: dict


def say(message: str = "", file=None) -> None:
    """Print one line of the command's output (stdout unless ``file``), flushed."""
    print(message, file=file or sys.stdout, flush=True)


# --------------------------------------------------------------------------- the pipeline
def train(request: RunRequest) -> str:
    """Run the whole pipeline; return the summary line (already printed). Raises :class:`RunError`."""
    start = time.perf_counter()
    from .training import Interrupted, SignalGuard

    check_tensorboard(request.tensorboard)
    strategy = make_strategy(request)  # first: a logical-device split must precede TensorFlow's start
    with SignalGuard() as guard:
        try:
            with claimed(worker_out(request), resume=request.resume, overwrite=request.overwrite) as out:
                state = read_resume_state(out / CHECKPOINT_DIR) if request.resume else None
                config = resolve_config(request, state)
                check_batch_size(config, strategy)
                arrays, info = load_data(request.data, state, request.source)
                from .sources import check_model_fits

                check_model_fits(config.arch, config.conditional, info)
                guard.check()
                run_state = _run_state(state, config, info)
                return _train_model(request, out, config, run_state, arrays, guard, start, strategy)
        except (OutDirError, MNISTError) as e:
            raise UsageError(str(e)) from None
        except Interrupted as e:  # before the model existed
            name = signal_name(e.signum)
            raise RunInterrupted(f"interrupted by {name} before training started; nothing was written.", e.signum) from None


def make_strategy(request: RunRequest):
    """The ``tf.distribute`` strategy of ``request.distribute`` (see
    :func:`vae_tf.app.distribute.strategy_from_name`). Raises :class:`UsageError`."""
    from .distribute import strategy_from_name

    try:
        return strategy_from_name(request.distribute, request.logical_cpus)
    except (ValueError, RuntimeError) as e:
        raise UsageError(f"--distribute {request.distribute}: {e}") from None


def check_tensorboard(log_dir: Path | None) -> None:
    """``--tensorboard DIR`` needs the ``tensorboard`` package and a DIR that is not a file.
    Raises :class:`UsageError`."""
    if log_dir is None:
        return
    if importlib.util.find_spec("tensorboard") is None:
        raise UsageError("--tensorboard needs the tensorboard package: pip install tensorboard (or vae-tf[tensorboard]).")
    if log_dir.exists() and not log_dir.is_dir():
        raise UsageError(f"--tensorboard {str(log_dir)!r} is an existing file, not a directory.")


def writes_results(request: RunRequest) -> bool:
    """Whether this process writes the run's results (model, history, metrics, figures,
    TensorBoard logs): always, except on a multi-worker cluster's non-chief workers."""
    from .distribute import is_chief

    return request.distribute != "multi-worker" or is_chief()


def worker_out(request: RunRequest) -> Path:
    """The directory this process runs in: ``--out``, except on a multi-worker cluster's
    non-chief workers, which keep their own lock and checkpoint (to resume from) in
    ``OUT.<task>-<index>`` next to it; they write no model, figures or metrics."""
    from .distribute import task

    if writes_results(request):
        return request.out
    kind, index = task()
    return request.out.with_name(f"{request.out.name}.{kind}-{index}")


def check_batch_size(config: RunConfig, strategy) -> None:
    """``--batch-size`` is the global batch: a multiple of the number of replicas, so that each
    gets an equal share. Raises :class:`UsageError`."""
    from .distribute import global_batch_size

    replicas = strategy.num_replicas_in_sync
    try:
        global_batch_size(config.batch_size, strategy)
        if config.batch_size % replicas:
            raise ValueError(f"it is the global batch, split over {replicas} replicas: give a multiple of {replicas}, "
                             f"got {config.batch_size}.")
    except ValueError as e:
        raise UsageError(f"--batch-size: {e}") from None


def read_resume_state(ckpt_dir: Path) -> dict:
    """The checkpoint's checked state (:func:`vae_tf.app.training.read_state`); raises :class:`UsageError`."""
    from .training import CheckpointError, read_state

    try:
        return read_state(ckpt_dir)
    except CheckpointError as e:
        raise UsageError(f"--resume: {e}") from None


def resolve_config(request: RunRequest, state: dict | None) -> RunConfig:
    """A new run's config (defaults, quick or not, plus the options), or the checkpoint's
    continued with the options (only ``epochs`` may change). Raises :class:`UsageError`."""
    try:
        if state is None:
            return RunConfig.from_options(request.options, quick=request.quick)
        try:
            saved = RunConfig.from_dict(state.get("config"))
        except ConfigError as e:
            raise UsageError(f"--resume: the checkpoint's state.json has a bad run config: {e}") from None
        config = saved.resumed_with({**request.options, **({"quick": True} if request.quick else {})})
    except ConfigError as e:
        raise UsageError(str(e)) from None
    if state["epoch"] > config.epochs:
        raise UsageError(f"the checkpoint has {state['epoch']} completed epochs, more than --epochs {config.epochs}.")
    return config


def load_data(data_arg: str | None, state: dict | None, source=None):
    """Load the images of ``--data`` ``data_arg`` or of ``source`` (a
    :class:`vae_tf.app.sources.DataOptions`; by default, on resume, the checkpointed run's data)
    and describe them; a resume must see the same data (by checksum). Returns ``(arrays, info)``.
    Raises :class:`UsageError` (see :func:`vae_tf.app.sources.load_source`)."""
    from .sources import DataOptions, load_source, same_data_check

    options = dataclasses.replace(source or DataOptions(), data=data_arg) if data_arg is not None else source
    saved = (state or {}).get("data") or {}
    arrays, info = load_source(options or DataOptions(), saved)
    if state is not None:
        same_data_check(info, saved)
    return arrays, info


def _run_state(state: dict | None, config: RunConfig, info: dict) -> dict:
    """The checkpoint state the run updates: the loaded one, or a fresh one at epoch 0."""
    state = dict(state) if state is not None else {"epoch": 0, "history": {}}
    return {**state, "config": config.to_dict(), "data": info}


def seed_run(config: RunConfig) -> dict[str, int]:
    """All of a run's seeding, in one place. Seeds Python, NumPy and TensorFlow with
    ``config.seed`` (before the weights are made) and returns the seeds of the stages:
    ``split`` (subsets and validation split), ``noise`` (the training data's shuffling) and
    ``figures`` (prior samples in the figures). A resumed run seeds exactly as the
    uninterrupted one: the training dataset starts at the resumed epoch (its order depends on
    ``(seed, epoch)`` only), and the reparameterization noise continues from the generator
    state saved in the checkpoint, so it reproduces the uninterrupted run's numbers."""
    import keras

    keras.utils.set_random_seed(config.seed)
    return {"split": config.seed, "noise": config.seed, "figures": config.seed}


def split_data(arrays, config: RunConfig, seeds: Mapping[str, int], info: dict) -> RunData:
    """The fit/validation/test images of ``config`` (random subsets, seeded by ``seeds["split"]``)."""
    (x_train, y_train), (x_test, y_test) = arrays
    if len(x_train) < 2 and config.train_size is None:
        raise UsageError(f"{info['source']} has {len(x_train)} training image(s); need at least 2.")
    pool = subset(x_train, y_train, config.train_size, seed=seeds["split"])
    fit, val = split_validation(*pool, config.val_fraction, seed=seeds["split"])
    if len(fit[0]) == 0:
        raise UsageError(f"--val-fraction {config.val_fraction} leaves no training images.")
    return RunData(fit, val, subset(x_test, y_test, config.test_size, seed=seeds["split"]), info)


def even_batch(n: int, batch_size: int, replicas: int) -> int:
    """The batch size for ``n`` examples on ``replicas`` replicas: ``batch_size``, lowered (when
    ``replicas > 1``) so that the first batch splits evenly over the replicas. Keras builds a
    distributed model from the replicas' mean first batch before every ``fit``/``evaluate``,
    which fails on unequal shares (keras/src/backend/tensorflow/trainer.py,
    ``_maybe_symbolic_build``); later batches may be uneven."""
    if replicas == 1:
        return batch_size
    first = min(batch_size, n)
    return max(first - first % replicas, replicas)


def make_datasets(data: RunData, config: RunConfig, seeds: Mapping[str, int], start_epoch: int = 0,
                  replicas: int = 1):
    """The ``tf.data`` pipelines ``(fit, validation, test)``; labels ride along for a conditional
    model. ``config.binarization`` applies to the fit set; validation and test images are
    thresholded (``"threshold"``) or one seeded Bernoulli draw (``"static"``, ``"dynamic"``). The fit set's first iteration is epoch ``start_epoch`` (the epoch a resume starts at).
    Batch sizes are global; see :func:`even_batch` for ``replicas``."""
    cond = config.conditional

    def dataset(split, batch_size, **kwargs):
        bs = even_batch(len(split[0]), batch_size, replicas)
        return make_dataset(split[0], split[1] if cond else None, batch_size=bs, **kwargs)

    # Held-out images are fixed: thresholded, or one seeded draw for static and dynamic training.
    held_out = {None: None, "threshold": "threshold"}.get(config.binarization, "static")
    return (
        dataset(data.fit, config.batch_size, shuffle=True, seed=seeds["noise"], start_epoch=start_epoch,
                binarization=config.binarization),
        dataset(data.val, max(config.batch_size, 512), shuffle=False, seed=config.seed, binarization=held_out),
        dataset(data.test, max(config.batch_size, 512), shuffle=False, seed=config.seed + 1, binarization=held_out),
    )


def _train_model(request, out: Path, config: RunConfig, state: dict, arrays, guard: SignalGuard, start: float,
                 strategy) -> str:
    """Seed, split, build or resume, fit, evaluate and report; :class:`RunError` on failure."""
    from .training import CheckpointError, Interrupted, build_or_resume, early_stopping_for, fit_epochs, precision_policy

    ckpt_dir, initial = out / CHECKPOINT_DIR, state["epoch"]
    seeds = seed_run(config)
    data = split_data(arrays, config, seeds, state["data"])
    datasets = make_datasets(data, config, seeds, start_epoch=initial, replicas=strategy.num_replicas_in_sync)
    verbose = request.verbose if request.verbose is not None else (1 if sys.stdout.isatty() else 2)
    try:
        with precision_policy(config.mixed_precision):
            try:
                with strategy.scope():  # variables are made (or loaded) on every replica
                    model = build_or_resume(config, ckpt_dir, state, steps_per_epoch=int(datasets[0].cardinality()))
                stopping = early_stopping_for(config, ckpt_dir, state)
            except CheckpointError as e:
                raise UsageError(f"--resume: {e}") from None
            say(_start_line(config, data, state, ckpt_dir, out, strategy))
            results = writes_results(request)
            nan_stop = fit_epochs(model, *datasets[:2], state, ckpt_dir, guard, epochs=config.epochs, verbose=verbose,
                                  history_csv=out / HISTORY_CSV if results else None,
                                  tensorboard=request.tensorboard if results else None,
                                  kl_warmup=config.kl_warmup, beta=config.beta, early_stopping=stopping,
                                  log_learning_rate=config.lr_schedule != "constant")
            guard.check()  # SIGINT/SIGTERM stopped the fit: report and exit
            if nan_stop.bad_epoch is not None:
                raise DivergedError(_diverged_message(nan_stop, state, ckpt_dir))
            return _report(model, datasets[2], data, config, state, out, guard, initial, start)
    except Interrupted as e:
        if verbose == 1:
            say("")  # end the progress bar's line
        raise RunInterrupted(_interrupted_message(e.signum, state, config, out, request), e.signum) from None
    except OSError as e:
        raise WriteFailedError(_write_failed_message(e, state, out, request)) from None
    except _cluster_errors() as e:  # a peer worker died: its collective ops were aborted
        raise WorkerLostError(_worker_lost_message(e, state, config, out, request)) from None


def _report(model, test_ds, data: RunData, config: RunConfig, state: dict, out: Path, guard, initial, start) -> str:
    """Evaluate on the test set and write every output; return the summary line (printed)."""
    import matplotlib

    matplotlib.use("Agg")  # figures to files; no display needed
    from .reporting import early_stopping_line, evaluate_test_set, run_metrics, write_outputs
    from .training import StopOnSignal

    test = evaluate_test_set(model, test_ds, callbacks=[StopOnSignal(guard)])
    guard.check()
    history = {"epoch": list(range(1, state["epoch"] + 1)), **state["history"]}
    sizes = {"n_train": len(data.fit[0]), "n_validation": len(data.val[0]), "n_test": len(data.test[0])}
    metrics = run_metrics(test, history, first_epoch=initial, sizes=sizes, config=config.to_dict(),
                          data=data.info, conditional=config.conditional, stopping=state.get("early_stopping"))
    metrics["replicas"] = model.distribute_strategy.num_replicas_in_sync
    with guard.critical(check=False), outputs_dir(model, out) as (target, kept):  # a signal: reported below
        from .sources import labels_or_none

        figures = write_outputs(model, target, history, metrics, scale_images(data.test[0]), labels_or_none(data.test[1]),
                                beta=config.beta, seed=config.seed, wall_time=lambda: time.perf_counter() - start)
    speed = metrics["train_samples_per_second"]
    line = (
        f"{PROG}: done: {_kind(config)}, {state['epoch']} epochs, test -ELBO {metrics['test_neg_elbo_nats']:.2f} nats/image"
        + (f", test accuracy {metrics['test_accuracy']:.3f}" if config.conditional else "")
        + f", {metrics['wall_time_s']:.1f} s" + (f" ({speed:,.0f} training images/s)" if speed else "")
        + (f"; wrote model.keras, history.json, history.csv, metrics.json and {len(figures)} figures to {out}" if kept
           else f"; the chief wrote the outputs, this worker's checkpoint is in {out / CHECKPOINT_DIR}")
    )
    if metrics["early_stopping"]:
        say(f"{PROG}: {early_stopping_line(metrics)}")
    say(line)
    if guard.pending is not None:
        say(f"{PROG}: {signal_name(guard.pending)} came after every output was written; the run is complete.",
            file=sys.stderr)
    return line


@contextlib.contextmanager
def outputs_dir(model, out: Path):
    """Yield ``(directory, kept)``: where to write the run's outputs and whether they stay.
    ``out`` itself, except on a non-chief worker of a ``MultiWorkerMirroredStrategy`` run: it
    writes them like the chief (a save may need every worker) into a private temporary
    directory, deleted after (:func:`vae_tf.app.distribute.chief_path`)."""
    import tensorflow as tf

    from .distribute import chief_path, is_chief

    if not isinstance(model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield out, True
        return
    with chief_path(out) as target:
        target.mkdir(parents=True, exist_ok=True)
        yield target, is_chief()


# --------------------------------------------------------------------------- messages
def _kind(config: RunConfig) -> str:
    return ("conditional " if config.conditional else "") + f"{config.arch} VAE"


def _start_line(config: RunConfig, data: RunData, state: dict, ckpt_dir: Path, out: Path, strategy) -> str:
    replicas = strategy.num_replicas_in_sync
    resumed = (
        f"{PROG}: resuming {_kind(config)} from {ckpt_dir} at epoch {state['epoch']} of {config.epochs}\n"
        if state["epoch"] else ""
    )
    return resumed + (
        f"{PROG}: training {_kind(config)} (latent_dim={config.latent_dim}, beta={config.beta:g}, "
        f"{config.likelihood}{', mixed precision' if config.mixed_precision else ''}"
        f"{f', {replicas} replicas, global batch {config.batch_size}' if replicas > 1 else ''}) on {len(data.fit[0]):,} "
        f"{_shape(data.info)} images from {data.info['source']} (validation {len(data.val[0]):,}, test {len(data.test[0]):,}) "
        f"for {config.epochs} epochs{' (quick mode)' if config.quick else ''}; outputs -> {out}"
    )


def _shape(info: dict) -> str:
    return "x".join(str(s) for s in info.get("image_shape") or (28, 28, 1))


def resume_hint(out: Path, distribute: str = "none") -> str:
    """The command that resumes the run in ``out``, shell-quoted so it can be pasted (with
    ``--distribute``, to run on every worker)."""
    flag = f" --distribute {distribute}" if distribute != "none" else ""
    return f"{PROG} train --out {shlex.quote(str(out))}{flag} --resume"


def _request_hint(request: RunRequest) -> str:
    return resume_hint(request.out, request.distribute) + (
        " (on every worker)" if request.distribute == "multi-worker" else ""
    )


def _cluster_errors() -> tuple[type[Exception], ...]:
    """TensorFlow's errors when a peer of a multi-worker cluster stops (its heartbeats end)."""
    import tensorflow as tf

    return (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError)


def _worker_lost_message(error, state: dict, config: RunConfig, out: Path, request: RunRequest) -> str:
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines() if line.strip()]
    cause = next((line for line in lines if "/job:" in line and "unhealthy" not in line), lines[-1] if lines else "")
    return (
        f"another worker of the cluster stopped ({type(error).__name__}: {cause[:160]}); "
        f"{_kept(state, out)}; restart every worker with: {_request_hint(request)}"
    )


def _kept(state: dict, out: Path) -> str:
    done = state["epoch"]
    if not done:
        return "no epoch had completed, so there is no checkpoint"
    return f"the last good checkpoint (epoch {done}) is kept in {out / CHECKPOINT_DIR}"


def _diverged_message(nan_stop, state: dict, ckpt_dir: Path) -> str:
    bad = ", ".join(f"{k}={v}" for k, v in nan_stop.bad_logs.items())
    kept = _kept(state, ckpt_dir.parent)
    return (
        f"training diverged: non-finite loss in epoch {nan_stop.bad_epoch} ({bad}); stopped; {kept}. "
        "Try a smaller --learning-rate, or a larger --sigma with --likelihood gaussian."
    )


def _interrupted_message(signum: int, state: dict, config: RunConfig, out: Path, request: RunRequest) -> str:
    done = state["epoch"]
    where = (
        f"the last completed epoch ({done} of {config.epochs}) is checkpointed in {out / CHECKPOINT_DIR}; "
        f"resume with: {_request_hint(request)}"
        if done
        else "no epoch had completed, so nothing was checkpointed"
    )
    return f"interrupted by {signal_name(signum)}; {where}"


def _write_failed_message(error: OSError, state: dict, out: Path, request: RunRequest) -> str:
    what = f"{error.filename!r}" if error.filename else "an output file"
    hint = f"; free space or fix permissions, then resume with: {_request_hint(request)}" if state["epoch"] else ""
    return (
        f"could not write {what} ({error.strerror or error}); nothing was half-written and "
        f"{_kept(state, out)}{hint}"
    )


def signal_name(signum: int) -> str:
    """``"SIGINT"`` for 2, ``"SIGTERM"`` for 15, ..."""
    import signal

    return signal.Signals(signum).name
