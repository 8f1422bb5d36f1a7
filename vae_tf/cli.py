"""Command line: ``python -m vae_tf train`` (also the console script ``vae-tf train``).

Trains a VAE on MNIST and writes into ``--out``: ``model.keras``, ``history.json``,
``metrics.json``, PNG figures, and ``checkpoint/`` (the last completed epoch, for
``--resume``). Run ``python -m vae_tf train --help`` for the options.

Exit codes: 0 success; 2 bad input (options, data, output directory, checkpoint; one line on
stderr); 3 training diverged (NaN/Inf loss; the last good checkpoint is kept); 130 / 143
interrupted by SIGINT (Ctrl-C) / SIGTERM (the last completed epoch is checkpointed).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

PROG = "vae-tf"
EXIT_OK, EXIT_USAGE, EXIT_DIVERGED = 0, 2, 3

#: Defaults of a full run: the 2-D-latent MNIST VAE.
FULL_DEFAULTS = {
    "arch": "mlp",
    "latent_dim": 2,
    "epochs": 30,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "beta": 1.0,
    "likelihood": "bernoulli",
    "sigma": 0.1,
    "conditional": False,
    "seed": 0,
    "train_size": None,  # all training images (10% of them for validation)
    "test_size": None,  # the whole official test set
    "val_fraction": 0.1,
}
#: ``--quick`` (or ``VAE_TF_QUICK=1``): a small fast run; explicit flags override these.
QUICK_DEFAULTS = {**FULL_DEFAULTS, "epochs": 2, "train_size": 2000, "test_size": 1000}
CONFIG_KEYS = tuple(FULL_DEFAULTS)
#: Settings a resumed run takes from its checkpoint; giving a different value is an error.
#: (``--epochs`` may change: a larger value trains the checkpointed run further.)
FIXED_ON_RESUME = tuple(k for k in CONFIG_KEYS if k != "epochs") + ("quick",)

OUTPUT_FILES = (
    "model.keras",
    "history.json",
    "metrics.json",
    "latent.png",
    "manifold.png",
    "reconstructions.png",
    "samples.png",
    "training_curves.png",
)
CHECKPOINT_DIR = "checkpoint"


class UsageError(Exception):
    """Bad input from the user; the message is printed as one line and the exit code is 2."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr (exit code 2)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


# --------------------------------------------------------------------------- option types
def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _float_check(ok, what: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The ``vae-tf`` argument parser (sub-command ``train``)."""
    parser = _Parser(prog=PROG, description="Variational autoencoders on MNIST (Keras 3 / TensorFlow).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    t = sub.add_parser(
        "train",
        help="train a VAE on MNIST; write model, history, metrics and figures",
        description=(
            "Train a VAE on MNIST and write model.keras, history.json, metrics.json, PNG figures and "
            "checkpoint/ (last completed epoch) into --out. Defaults train the 2-D-latent MLP VAE "
            f"({FULL_DEFAULTS['epochs']} epochs). Ctrl-C keeps the last completed epoch; --resume continues it."
        ),
    )
    t.prog = f"{PROG} train"
    d = FULL_DEFAULTS
    m = t.add_argument_group("model")
    m.add_argument("--arch", choices=("mlp", "conv"), default=None, help=f"encoder/decoder type (default {d['arch']})")
    m.add_argument("--latent-dim", type=_int_at_least(1), default=None, metavar="N",
                   help=f"size of z (default {d['latent_dim']})")
    m.add_argument("--likelihood", choices=("bernoulli", "gaussian"), default=None,
                   help=f"p(x|z) (default {d['likelihood']})")
    m.add_argument("--sigma", type=_float_check(lambda v: v > 0, "a number > 0"), default=None,
                   help=f"std of the Gaussian likelihood (default {d['sigma']})")
    m.add_argument("--beta", type=_float_check(lambda v: v >= 0, "a number >= 0"), default=None,
                   help=f"weight of the KL term; 1 = ELBO (default {d['beta']})")
    m.add_argument("--conditional", action="store_true", default=None,
                   help="digit-conditioned model (vae_tf.AuxiliaryClassifierVAE): a classifier's digit "
                        "probabilities join z in the decoder; figures show a digits x styles grid")
    tr = t.add_argument_group("training")
    tr.add_argument("--epochs", type=_int_at_least(1), default=None, metavar="N",
                    help=f"total epochs, counting resumed ones (default {d['epochs']}; --quick: {QUICK_DEFAULTS['epochs']})")
    tr.add_argument("--batch-size", type=_int_at_least(1), default=None, metavar="N",
                    help=f"(default {d['batch_size']})")
    tr.add_argument("--learning-rate", type=_float_check(lambda v: v > 0, "a number > 0"), default=None,
                    metavar="LR", help=f"Adam learning rate (default {d['learning_rate']})")
    tr.add_argument("--seed", type=_int_at_least(0), default=None, metavar="N",
                    help="seed of weights, data split, shuffling and sampling; same seed, same numbers (default 0)")
    tr.add_argument("--quick", action="store_true", default=None,
                    help=f"small fast run: {QUICK_DEFAULTS['epochs']} epochs on {QUICK_DEFAULTS['train_size']} "
                         f"training and {QUICK_DEFAULTS['test_size']} test images (also VAE_TF_QUICK=1); "
                         "explicit flags override")
    dt = t.add_argument_group("data")
    dt.add_argument("--data", metavar="PATH", default=None,
                    help="Keras-format mnist.npz (default: $VAE_TF_MNIST, data/mnist.npz, then keras.datasets.mnist)")
    dt.add_argument("--train-size", type=_int_at_least(2), default=None, metavar="N",
                    help="use N training images (random subset; default all)")
    dt.add_argument("--test-size", type=_int_at_least(1), default=None, metavar="N",
                    help="evaluate on N test images (random subset; default all 10,000)")
    dt.add_argument("--val-fraction", type=_float_check(lambda v: 0 < v < 1, "a number in (0, 1)"), default=None,
                    metavar="F", help=f"fraction of training images held out for validation (default {d['val_fraction']})")
    o = t.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", default="runs/demo", help="output directory (default runs/demo)")
    o.add_argument("--resume", action="store_true", help="continue the run checkpointed in --out/checkpoint")
    o.add_argument("--overwrite", action="store_true", help="replace a finished or checkpointed run in --out")
    o.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                   help="Keras progress: 0 silent, 1 progress bar, 2 one line per epoch (default: 1 on a terminal, else 2)")
    return parser


# --------------------------------------------------------------------------- helpers
def _say(message: str = "", file=None) -> None:
    print(message, file=file or sys.stdout, flush=True)


def _error_line(message: str) -> str:
    return f"{PROG}: error: " + " ".join(str(message).split())


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _prepare_out(out: Path, resume: bool, overwrite: bool) -> bool:
    """Check/create the output directory; returns True if it was created here."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} is an existing file, not a directory.")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"--out {str(out)!r} is not a writable directory ({e.strerror or e}).") from None
    if resume:
        return created
    existing = [n for n in (*OUTPUT_FILES, f"{CHECKPOINT_DIR}/state.json") if (out / n).exists()]
    if existing and not overwrite:
        raise UsageError(
            f"--out {str(out)!r} already holds a run ({', '.join(existing)}); pass --resume to continue it, "
            "--overwrite to start over, or choose another --out."
        )
    if overwrite:
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
        ckpt = out / CHECKPOINT_DIR
        if ckpt.is_dir():
            for p in [*ckpt.glob("epoch-*.keras"), ckpt / "state.json"]:
                p.unlink(missing_ok=True)
    return created


def _resolve_config(args, state: dict | None) -> dict:
    """Defaults (full or quick) updated with the explicit flags; on resume, the checkpoint's
    config, where only --epochs may differ."""
    from .settings import quick_mode

    explicit = {k: getattr(args, k) for k in CONFIG_KEYS if getattr(args, k) is not None}
    if state is None:
        quick = bool(args.quick) or quick_mode()
        return {**(QUICK_DEFAULTS if quick else FULL_DEFAULTS), **explicit, "quick": quick}
    saved = state.get("config")
    if not isinstance(saved, dict) or any(k not in saved for k in FIXED_ON_RESUME):
        raise UsageError("the checkpoint's state.json has no complete run config; start a new run without --resume.")
    if args.quick:
        explicit["quick"] = True
    diffs = [
        f"{_flag(k)} {explicit[k]!r} (checkpoint: {saved[k]!r})"
        for k in FIXED_ON_RESUME
        if k in explicit and explicit[k] != saved[k]
    ]
    if diffs:
        raise UsageError(
            "--resume continues the checkpointed run, which has other settings: " + "; ".join(diffs)
            + ". Drop those flags to resume it, or start a new run in another --out."
        )
    config = dict(saved)
    config["epochs"] = explicit.get("epochs", saved["epochs"])
    if state["epoch"] > config["epochs"]:
        raise UsageError(
            f"the checkpoint has {state['epoch']} completed epochs, more than --epochs {config['epochs']}."
        )
    return config


def _build_model(config: dict, num_classes: int = 10):
    from . import AuxiliaryClassifierVAE, VAE, build_classifier, build_decoder, build_encoder

    arch, latent, seed = config["arch"], config["latent_dim"], config["seed"]
    common = {"beta": config["beta"], "likelihood": config["likelihood"], "sigma": config["sigma"], "seed": seed}
    encoder = build_encoder(latent_dim=latent, arch=arch, seed=seed)
    if config["conditional"]:
        decoder = build_decoder(latent_dim=latent, arch=arch, condition_dim=num_classes)
        classifier = build_classifier(num_classes=num_classes, arch=arch)
        return AuxiliaryClassifierVAE(encoder, decoder, classifier, num_classes=num_classes, **common)
    return VAE(encoder, decoder=build_decoder(latent_dim=latent, arch=arch), **common)


def _versions() -> dict:
    import keras
    import tensorflow as tf

    from . import __version__

    return {"vae_tf": __version__, "keras": keras.__version__, "tensorflow": tf.__version__, "python": sys.version.split()[0]}


# --------------------------------------------------------------------------- train
def train(args: argparse.Namespace) -> int:
    """Run ``vae-tf train`` with parsed ``args``; returns the exit code. Raises
    :class:`UsageError` or :class:`vae_tf.MNISTError` for bad input (caught by :func:`main`)."""
    start = time.perf_counter()
    out = Path(args.out).expanduser()
    ckpt_dir = out / CHECKPOINT_DIR
    created = _prepare_out(out, args.resume, args.overwrite)
    try:
        return _train(args, out, ckpt_dir, start)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # leave no empty directory behind a run that never started
        raise


def _train(args, out: Path, ckpt_dir: Path, start: float) -> int:
    from .data import find_mnist, load_mnist
    from .training import CheckpointError, read_state

    state = None
    if args.resume:
        try:
            state = read_state(ckpt_dir)
        except CheckpointError as e:
            raise UsageError(f"--resume: {e}") from None
    config = _resolve_config(args, state)

    # Data: validated before any model is built.
    data_arg = args.data
    if data_arg is None and state is not None:
        saved = (state.get("data") or {}).get("path")
        data_arg = saved if saved and Path(saved).is_file() else None
    source = find_mnist(data_arg)
    (x_train, y_train), (x_test, y_test) = load_mnist(data_arg)
    data_info = {
        "path": str(source.resolve()) if source is not None else None,
        "source": str(source) if source is not None else "keras.datasets.mnist",
        "n_train_file": int(len(x_train)),
        "n_test_file": int(len(x_test)),
    }
    if state is not None:
        old = state.get("data") or {}
        if (old.get("n_train_file"), old.get("n_test_file")) != (len(x_train), len(x_test)):
            raise UsageError(
                f"--resume: the data ({data_info['source']}: {len(x_train)} train / {len(x_test)} test images) "
                f"differ from the checkpointed run's ({old.get('n_train_file')} / {old.get('n_test_file')})."
            )
    if len(x_train) < 2 and config["train_size"] is None:
        raise UsageError(f"{data_info['source']} has {len(x_train)} training image(s); need at least 2.")

    # Heavy imports only now that the input is known to be good.
    import matplotlib

    matplotlib.use("Agg")
    import keras

    from .data import make_dataset, scale_images, split_validation, subset
    from .training import (
        EpochCheckpoint,
        FiniteLossStop,
        Interrupted,
        SignalGuard,
        StopOnSignal,
        atomic_save_model,
        atomic_write_json,
        load_checkpoint_model,
    )

    seed, epochs = config["seed"], config["epochs"]
    initial_epoch = state["epoch"] if state else 0
    x_pool, y_pool = subset(x_train, y_train, config["train_size"], seed=seed)
    (x_fit, y_fit), (x_val, y_val) = split_validation(x_pool, y_pool, config["val_fraction"], seed=seed)
    if len(x_fit) == 0:
        raise UsageError(f"--val-fraction {config['val_fraction']} leaves no training images.")
    x_te, y_te = subset(x_test, y_test, config["test_size"], seed=seed)
    cond = config["conditional"]
    bs = config["batch_size"]
    # Seed Python, NumPy and TensorFlow before the datasets (their shuffle seeds combine with
    # the global seed) and the weights are made. Offset by the epoch we start from, so that a
    # resumed run does not replay the shuffling and sampling noise of epoch 1.
    keras.utils.set_random_seed(seed + initial_epoch)
    fit_ds = make_dataset(x_fit, y_fit if cond else None, batch_size=bs, shuffle=True, seed=seed + initial_epoch)
    val_ds = make_dataset(x_val, y_val if cond else None, batch_size=max(bs, 512), shuffle=False)
    test_ds = make_dataset(x_te, y_te if cond else None, batch_size=max(bs, 512), shuffle=False)

    verbose = args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)
    kind = ("conditional " if cond else "") + f"{config['arch']} VAE"
    if state is None:
        state = {"epoch": 0, "config": config, "data": data_info, "history": {}}
    state["config"] = config
    state["data"] = data_info

    with SignalGuard() as guard:
        try:
            if initial_epoch:
                try:
                    model = load_checkpoint_model(ckpt_dir, state)
                except CheckpointError as e:
                    raise UsageError(f"--resume: {e}") from None
                _say(f"{PROG}: resuming {kind} from {ckpt_dir} at epoch {initial_epoch} of {epochs}")
            else:
                model = _build_model(config)
                model.compile(optimizer=keras.optimizers.Adam(learning_rate=config["learning_rate"]))
            _say(
                f"{PROG}: training {kind} (latent_dim={config['latent_dim']}, beta={config['beta']:g}, "
                f"{config['likelihood']}) on {len(x_fit):,} MNIST images from {data_info['source']} "
                f"(validation {len(x_val):,}, test {len(x_te):,}) for {epochs} epochs"
                f"{' (quick mode)' if config['quick'] else ''}; outputs -> {out}"
            )
            nan_stop = FiniteLossStop()
            checkpoint = EpochCheckpoint(ckpt_dir, state, guard=guard, nan_stop=nan_stop)
            stopper = StopOnSignal(guard)
            guard.check()
            if initial_epoch < epochs:
                model.fit(
                    fit_ds,
                    validation_data=val_ds,
                    epochs=epochs,
                    initial_epoch=initial_epoch,
                    callbacks=[stopper, nan_stop, checkpoint],
                    verbose=verbose,
                    shuffle=False,  # the dataset shuffles itself (seeded)
                )
            guard.check()  # SIGINT/SIGTERM stopped the fit: report and exit
            if nan_stop.bad_epoch is not None:
                bad = ", ".join(f"{k}={v}" for k, v in nan_stop.bad_logs.items())
                kept = (
                    f"the last good checkpoint (epoch {state['epoch']}) is kept in {ckpt_dir}"
                    if state["epoch"]
                    else "no epoch completed, so there is no checkpoint"
                )
                _say(
                    _error_line(
                        f"training diverged: non-finite loss in epoch {nan_stop.bad_epoch} ({bad}); stopped; {kept}. "
                        "Try a smaller --learning-rate, or a larger --sigma with --likelihood gaussian."
                    ),
                    file=sys.stderr,
                )
                return EXIT_DIVERGED

            # Final evaluation on the held-out test set; the negative ELBO has beta = 1.
            test = model.evaluate(test_ds, return_dict=True, verbose=0, callbacks=[stopper])
            guard.check()
            history = {"epoch": list(range(1, state["epoch"] + 1)), **state["history"]}
            times = history.get("epoch_time_s", [])
            # Speed over this invocation's epochs, leaving out its first (graph tracing) when there are more.
            session_times = times[initial_epoch:] or times
            session_times = session_times[1:] if len(session_times) > 1 else session_times
            wall = time.perf_counter() - start
            metrics = {
                "test_neg_elbo_nats": float(test["reconstruction_loss"] + test["kl_loss"]),
                "test_reconstruction_loss_nats": float(test["reconstruction_loss"]),
                "test_kl_loss_nats": float(test["kl_loss"]),
                "test_loss": float(test["loss"]),
                **({"test_classification_loss_nats": float(test["classification_loss"]),
                    "test_accuracy": float(test["accuracy"])} if cond else {}),
                "final_val_loss": history["val_loss"][-1] if history.get("val_loss") else None,
                "epochs": state["epoch"],
                "epochs_this_run": state["epoch"] - initial_epoch,
                "resumed_from_epoch": initial_epoch or None,
                "wall_time_s": round(wall, 3),
                "train_time_s": round(float(sum(times)), 3),
                "train_samples_per_second": (
                    round(len(x_fit) * len(session_times) / sum(session_times), 1) if sum(session_times) > 0 else None
                ),
                "n_train": len(x_fit),
                "n_validation": len(x_val),
                "n_test": len(x_te),
                "config": config,
                "data": data_info,
                "versions": _versions(),
                "notes": (
                    "Losses in nats per image. test_neg_elbo_nats = reconstruction + KL (beta = 1), one z sample "
                    "per test image. wall_time_s: this command, from after start-up to the last file written. "
                    "train_time_s sums all epochs' wall times (training + validation pass), resumed runs included; "
                    "train_samples_per_second = training images per epoch / mean epoch wall time, over this "
                    "command's epochs after its first (which includes graph tracing)."
                    + (" Conditional model: reconstruction uses the classifier's predicted digit, and test_loss "
                       "adds the classification term." if cond else "")
                ),
            }
            from .reporting import write_figures

            with guard.critical():
                atomic_save_model(model, out / "model.keras")
                atomic_write_json(out / "history.json", history)
                figures = write_figures(
                    model, out, scale_images(x_te), y_te, state["history"], beta=config["beta"], seed=seed
                )
                metrics["figures"] = [p.name for p in figures]
                wall = time.perf_counter() - start
                metrics["wall_time_s"] = round(wall, 3)
                atomic_write_json(out / "metrics.json", metrics)
        except Interrupted as e:
            done = state["epoch"]
            if verbose == 1:
                _say("")  # end the progress bar's line
            where = (
                f"the last completed epoch ({done} of {epochs}) is checkpointed in {ckpt_dir}; "
                f"resume with: {PROG} train --out {out} --resume"
                if done
                else "no epoch had completed, so nothing was checkpointed"
            )
            _say(f"{PROG}: interrupted by {signal_name(e.signum)}; {where}", file=sys.stderr)
            return e.exit_code

    speed = metrics["train_samples_per_second"]
    _say(
        f"{PROG}: done: {kind}, {state['epoch']} epochs, test -ELBO {metrics['test_neg_elbo_nats']:.2f} nats/image"
        + (f", test accuracy {metrics['test_accuracy']:.3f}" if cond else "")
        + f", {wall:.1f} s" + (f" ({speed:,.0f} training images/s)" if speed else "")
        + f"; wrote model.keras, history.json, metrics.json and {len(figures)} figures to {out}"
    )
    return EXIT_OK


def signal_name(signum: int) -> str:
    import signal

    return signal.Signals(signum).name


# --------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m vae_tf`` and ``vae-tf``; returns the exit code.

    Bad input (options, data, ``--out``, checkpoint) prints one line ``vae-tf: error: ...`` on
    stderr and returns 2; other exceptions are bugs and propagate with a traceback."""
    from .data import MNISTError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or an argparse error already printed
        return int(e.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return train(args)
    except (UsageError, MNISTError) as e:
        _say(_error_line(e), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # before the signal guard was installed
        _say(f"{PROG}: interrupted before training started; nothing was written.", file=sys.stderr)
        return 130
