"""Command line: ``python -m vae_tf train`` (also the console script ``vae-tf train``).

Trains a VAE on MNIST and writes into ``--out``: ``model.keras``, ``history.json``,
``history.csv``, ``metrics.json``, PNG figures, and ``checkpoint/`` (the last completed epoch,
for ``--resume``). Run ``python -m vae_tf train --help`` for the options. This module only parses
the options and maps errors to exit codes; the run itself is :func:`vae_tf.app.run.train`.

Exit codes: 0 success; 2 bad input (options, data, output directory in use or holding a run,
checkpoint; one line on stderr); 3 training diverged (NaN/Inf loss; the last good checkpoint is
kept); 4 a file could not be written (disk full, read-only; nothing half-written, the last good
checkpoint is kept); 5 another worker of a ``--distribute multi-worker`` cluster stopped (restart
every worker with ``--resume``); 130 / 143 interrupted by SIGINT (Ctrl-C) / SIGTERM (the last completed
epoch is checkpointed).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.architectures import ARCHITECTURES
from ..core.losses import LIKELIHOODS
from ..tools.data import BINARIZATIONS
from .distribute import STRATEGY_NAMES
from .training import LR_SCHEDULES
from .config import ConfigError, RunConfig, check_value, rule
from .run import EXIT_DIVERGED, EXIT_OK, EXIT_USAGE, EXIT_WORKER_LOST, EXIT_WRITE_FAILED, PROG, RunError, RunRequest, UsageError, say  # noqa: F401
#: The exit code of a command stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 128 + signal.SIGINT
#: Environment variable for ``--logical-cpus``.
LOGICAL_CPUS_VAR = "VAE_TF_LOGICAL_CPUS"

#: Full-run defaults and their ``--quick`` variant (for the help texts).
FULL, QUICK = RunConfig.defaults(), RunConfig.defaults(quick=True)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr (exit code 2)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _checked(name: str):
    """An argparse ``type`` for config field ``name``: parse the text as the field's kind and
    check it by the field's rule (:func:`vae_tf.app.config.check_value`)."""
    kind = rule(name)["kind"]

    def parse(text: str):
        try:
            value = kind(text)
            if kind is float and not math.isfinite(value):
                raise ValueError
            return check_value(name, value)
        except (ValueError, ConfigError):
            raise argparse.ArgumentTypeError(f"expected {rule(name)['what']}, got {text!r}") from None

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The ``vae-tf`` argument parser (sub-commands ``train``, ``evaluate``, ``sample``)."""
    from .. import __version__

    parser = _Parser(prog=PROG, description="Variational autoencoders on MNIST (Keras 3 / TensorFlow).")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    t = sub.add_parser(
        "train",
        help="train a VAE on MNIST; write model, history, metrics and figures",
        description=(
            "Train a VAE on MNIST and write model.keras, history.json, history.csv, metrics.json, PNG figures and "
            "checkpoint/ (last completed epoch) into --out. Defaults train the 2-D-latent MLP VAE "
            f"({FULL.epochs} epochs). Ctrl-C keeps the last completed epoch; --resume continues it. "
            "Exit codes: 0 done, 2 bad input, 3 diverged, 4 a file could not be written, 5 another worker "
            "stopped, 130/143 interrupted."
        ),
    )
    t.prog = f"{PROG} train"
    _model_options(t.add_argument_group("model"))
    _training_options(t.add_argument_group("training"))
    _data_options(t.add_argument_group("data"))
    _output_options(t.add_argument_group("output"))

    _add_evaluate(sub)
    _add_sample(sub)
    _add_encode(sub)
    return parser


def _model_options(g) -> None:
    g.add_argument("--arch", choices=ARCHITECTURES, default=None, help=f"encoder/decoder type (default {FULL.arch})")
    g.add_argument("--latent-dim", type=_checked("latent_dim"), default=None, metavar="N",
                   help=f"size of z (default {FULL.latent_dim})")
    g.add_argument("--likelihood", choices=LIKELIHOODS, default=None, help=f"p(x|z) (default {FULL.likelihood})")
    g.add_argument("--sigma", type=_checked("sigma"), default=None,
                   help=f"std of the Gaussian likelihood (default {FULL.sigma})")
    g.add_argument("--binarization", choices=BINARIZATIONS, default=None,
                   help="binarize the pixels: threshold (at 0.5), static (one Bernoulli draw, kept) or dynamic "
                        "(a fresh draw every epoch; held-out images are one fixed draw) (default: grey levels)")
    g.add_argument("--beta", type=_checked("beta"), default=None,
                   help=f"weight of the KL term; 1 = ELBO (default {FULL.beta})")
    g.add_argument("--kl-warmup", type=_checked("kl_warmup"), default=None, metavar="EPOCHS",
                   help="KL warm-up: the KL weight rises linearly from 0 to --beta over the first EPOCHS epochs "
                        f"(vae_tf.KLWarmup; each epoch's weight in history.json); 0 = off (default {FULL.kl_warmup})")
    g.add_argument("--conditional", action="store_true", default=None,
                   help="digit-conditioned model (vae_tf.AuxiliaryClassifierVAE): a classifier's digit "
                        "probabilities join z in the decoder; figures show a digits x styles grid")


def _training_options(g) -> None:
    g.add_argument("--epochs", type=_checked("epochs"), default=None, metavar="N",
                   help=f"total epochs, counting resumed ones (default {FULL.epochs}; --quick: {QUICK.epochs})")
    g.add_argument("--batch-size", type=_checked("batch_size"), default=None, metavar="N",
                   help=f"the GLOBAL batch, split over the replicas with --distribute (default {FULL.batch_size})")
    g.add_argument("--learning-rate", type=_checked("learning_rate"), default=None, metavar="LR",
                   help=f"Adam learning rate, the same on any number of replicas (default {FULL.learning_rate})")
    g.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None,
                   help="constant: --learning-rate throughout; cosine: keras.optimizers.schedules.CosineDecay from "
                        "--learning-rate to 0 over the run's --epochs (each epoch's rate in history.json; --epochs "
                        f"is then fixed on --resume) (default {FULL.lr_schedule})")
    g.add_argument("--early-stopping", type=_checked("early_stopping"), default=None, metavar="PATIENCE",
                   help="stop once val_loss has not improved for PATIENCE epochs, and keep the best epoch's weights "
                        "(keras.callbacks.EarlyStopping; not monitored during --kl-warmup); 0 = off "
                        f"(default {FULL.early_stopping})")
    g.add_argument("--seed", type=_checked("seed"), default=None, metavar="N",
                   help=f"seed of weights, data split, shuffling and sampling; same seed, same numbers, resumed runs included (default {FULL.seed})")
    g.add_argument("--mixed-precision", action="store_true", default=None,
                   help="Keras 'mixed_float16' policy (float16 compute, float32 weights): faster on GPUs with "
                        "tensor cores, slower on CPUs; kept on --resume")
    g.add_argument("--distribute", choices=STRATEGY_NAMES, default="none",
                   help="tf.distribute strategy: 'mirrored' = all local GPUs (or --logical-cpus N CPU devices), "
                        "'multi-worker' = the cluster in $TF_CONFIG, started on every worker (default none); "
                        "the loss is the mean over the global batch, as on one device")
    g.add_argument("--logical-cpus", type=_count(1), default=None, metavar="N",
                   help=f"with --distribute mirrored: split the CPU into N logical devices, one replica each "
                        f"(for testing; not faster; also ${LOGICAL_CPUS_VAR}=N)")
    g.add_argument("--quick", action="store_true", default=None,
                   help=f"small fast run: {QUICK.epochs} epochs on {QUICK.train_size} training and "
                        f"{QUICK.test_size} test images, without XLA (also VAE_TF_QUICK=1); explicit flags override")


def _data_options(g) -> None:
    g.add_argument("--data", metavar="FILE.npz", default=None,
                   help="Keras-format .npz: x_train, x_test (uint8 images (n, h, w) or (n, h, w, 1|3)), y_train, y_test "
                        "optional (default: MNIST from $VAE_TF_MNIST, data/mnist.npz, then keras.datasets.mnist)")
    _source_options(g)
    g.add_argument("--train-size", type=_checked("train_size"), default=None, metavar="N",
                   help="use N training images (random subset; default all)")
    g.add_argument("--test-size", type=_checked("test_size"), default=None, metavar="N",
                   help="evaluate on N test images (random subset; default all 10,000)")
    g.add_argument("--val-fraction", type=_checked("val_fraction"), default=None, metavar="F",
                   help=f"fraction of training images held out for validation (default {FULL.val_fraction})")


def _source_options(g) -> None:
    """The data sources besides ``--data`` (train and evaluate; see vae_tf/app/sources.py)."""
    from ..tools.data import CHANNELS, KERAS_DATASETS

    g.add_argument("--dataset", choices=KERAS_DATASETS, default=None,
                   help="a Keras dataset by name (keras.datasets.NAME.load_data(): a download, then Keras's cache; "
                        "mnist looks for the local copy first)")
    g.add_argument("--images", metavar="DIR", default=None,
                   help="a folder of image files (png, jpg, bmp, gif; labels from its sub-folders if any), "
                        "split into training and test images (--test-fraction; the same split every run)")
    g.add_argument("--image-size", action=_ImageSize, nargs="+", default=None, metavar="H W",
                   help="with --images: resize to H W (or HxW) pixels (default: the first image's size)")
    g.add_argument("--channels", type=int, choices=CHANNELS, default=None,
                   help="with --images: 1 grey or 3 RGB colour (default: 1 if the first image is grey, else 3)")
    g.add_argument("--test-fraction", type=_fraction, default=None, metavar="F",
                   help="with --images: the share of the images kept for testing (default 0.2)")


class _ImageSize(argparse.Action):
    """``--image-size H W`` or ``--image-size HxW``: stored as ``(H, W)``, each an integer >= 1."""

    def __call__(self, parser, namespace, values, option_string=None):
        parts = values[0].lower().split("x") if len(values) == 1 else values
        try:
            size = tuple(int(v) for v in parts)
        except ValueError:
            size = ()
        if len(size) != 2 or min(size) < 1:
            parser.error(f"argument --image-size: expected H W or HxW, two integers >= 1, got {' '.join(values)!r}")
        setattr(namespace, self.dest, size)


def _fraction(text: str) -> float:
    """An argparse ``type``: a number in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def _data_source(args: argparse.Namespace):
    """The :class:`vae_tf.app.sources.DataOptions` of parsed ``train``/``evaluate`` options."""
    from .sources import DataOptions

    return DataOptions(data=args.data, dataset=args.dataset, images=args.images, image_size=args.image_size,
                       channels=args.channels, test_fraction=args.test_fraction).check()


def _output_options(g) -> None:
    g.add_argument("--out", metavar="DIR", default="runs/demo",
                   help="output directory, locked while a run uses it (default runs/demo)")
    g.add_argument("--resume", action="store_true", help="continue the run checkpointed in --out/checkpoint")
    g.add_argument("--overwrite", action="store_true", help="replace a finished or checkpointed run in --out")
    g.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also write TensorBoard logs (keras.callbacks.TensorBoard) into DIR; needs the tensorboard "
                        "package (view them with: tensorboard --logdir DIR)")
    g.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                   help="Keras progress: 0 silent, 1 progress bar, 2 one line per epoch (default: 1 on a terminal, else 2)")


def request_from_args(args: argparse.Namespace) -> RunRequest:
    """The :class:`vae_tf.app.run.RunRequest` of parsed ``train`` options (unset options left out)."""
    from ..tools.settings import quick_mode

    options = {k: getattr(args, k) for k in RunConfig.names() if k != "quick" and getattr(args, k, None) is not None}
    return RunRequest(
        out=Path(args.out).expanduser(),
        options=options,
        quick=bool(args.quick) or (not args.resume and quick_mode()),
        resume=args.resume,
        overwrite=args.overwrite,
        data=args.data,
        verbose=args.verbose,
        distribute=args.distribute,
        logical_cpus=_logical_cpus(args),
        tensorboard=None if args.tensorboard is None else Path(args.tensorboard).expanduser(),
        source=_data_source(args),
    )


def _logical_cpus(args: argparse.Namespace) -> int | None:
    """``--logical-cpus``, else ``$VAE_TF_LOGICAL_CPUS`` with ``--distribute mirrored``."""
    if args.logical_cpus is not None or args.distribute != "mirrored" or not os.environ.get(LOGICAL_CPUS_VAR):
        return args.logical_cpus
    try:
        return _count(1)(os.environ[LOGICAL_CPUS_VAR])
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"${LOGICAL_CPUS_VAR}: {e}") from None


# --------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m vae_tf`` and ``vae-tf``; returns the exit code.

    A failed run prints one line on stderr (``vae-tf: error: ...`` or ``vae-tf: interrupted ...``)
    and returns its code (module docstring); other exceptions are bugs and propagate."""
    with _library_messages_shown():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    try:
        from .run import train

        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, or an argparse error already printed
            return int(e.code or 0)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if args.command in COMMANDS:
            COMMANDS[args.command](args)
            return EXIT_OK
        train(request_from_args(args))
        return EXIT_OK
    except RunError as e:
        say(e.line(), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:  # before the run's signal guard was installed (start-up)
        say(f"{PROG}: interrupted during start-up; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED


class _Say(logging.Handler):
    """A logging handler that prints each message as a line of the command's output."""

    def emit(self, record: logging.LogRecord) -> None:
        say(self.format(record))


@contextlib.contextmanager
def _library_messages_shown():
    """For the block, print what the package logs at INFO or above (e.g. that the judge trains) on
    stdout: the library reports through :mod:`logging`, only the command line prints."""
    logger, handler = logging.getLogger("vae_tf"), _Say(logging.INFO)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, logging.INFO) if level else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# --------------------------------------------------------------------------- evaluate and sample
def _count(minimum: int):
    """An argparse ``type``: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _add_evaluate(sub) -> None:
    from .trained import PREPROCESSINGS

    e = sub.add_parser(
        "evaluate",
        help="score a trained model: -ELBO, IWAE NLL, active units, per digit, sample quality by the judge",
        description=(
            "Score a trained model on held-out MNIST test images and write evaluation.json beside it. "
            f"Exit codes: {EXIT_OK} done, {EXIT_USAGE} bad input, {EXIT_WRITE_FAILED} evaluation.json could not be "
            f"written (disk full, read-only; nothing half-written), {EXIT_INTERRUPTED} interrupted (Ctrl-C)."
        ),
    )
    e.prog = f"{PROG} evaluate"
    e.add_argument("model", metavar="RUN_DIR_OR_MODEL", help="a run directory of 'vae-tf train', or a .keras file")
    e.add_argument("--iwae-samples", type=_count(1), default=1000, metavar="K",
                   help="importance samples per image for the IWAE NLL (default 1000)")
    e.add_argument("--test-size", type=_count(4), default=None, metavar="N",
                   help="score N random test images (default all)")
    e.add_argument("--iwae-images", type=_count(1), default=1000, metavar="N",
                   help="estimate the IWAE NLL on the first N of the scored images (default 1000; it costs K decoder "
                        "passes per image)")
    e.add_argument("--seed", type=_count(0), default=0, metavar="N",
                   help="seed of the test subset, the importance samples and the prior samples (default 0)")
    e.add_argument("--data", metavar="FILE.npz", default=None,
                   help="the .npz to score on (default: the training run's data, else as 'train' finds MNIST)")
    _source_options(e)
    e.add_argument("--preprocessing", choices=PREPROCESSINGS, default=None,
                   help="pixels to score: grey levels, threshold (binarized at 0.5) or static (one seeded Bernoulli draw, also used for dynamically binarized runs); "
                        "default: what the run trained on (grey for a bare model file)")
    e.add_argument("--allow-preprocessing-mismatch", action="store_true",
                   help="score with a --preprocessing other than the one the model was trained on")
    e.add_argument("--no-judge", action="store_true",
                   help="skip sample quality by the judge (the course's judge ships with the package; for other "
                        "data it trains once, a few minutes on a CPU, then is cached)")


def _add_sample(sub) -> None:
    s = sub.add_parser(
        "sample",
        help="draw images from a trained model's prior into an image grid (and --npy)",
        description=(
            f"Draw N images from a trained model and save them as an image grid ({_formats()}, by the suffix of --out). "
            f"Exit codes: {EXIT_OK} done, {EXIT_USAGE} bad input, {EXIT_WRITE_FAILED} a file could not be written "
            f"(disk full, read-only; nothing half-written), {EXIT_INTERRUPTED} interrupted (Ctrl-C)."
        ),
    )
    s.prog = f"{PROG} sample"
    s.add_argument("model", metavar="RUN_DIR_OR_MODEL", help="a run directory of 'vae-tf train', or a .keras file")
    s.add_argument("--n", type=_count(1), required=True, metavar="N", help="number of samples")
    s.add_argument("--digit", type=int, default=None, metavar="D",
                   help="digit 0-9 (digit-conditioned models only; default: digits drawn uniformly)")
    s.add_argument("--seed", type=_count(0), default=None, metavar="S", help="seed; same seed, same images")
    s.add_argument("--out", required=True, metavar="FILE", help=f"the image grid to write: {_formats()} (by the suffix)")
    s.add_argument("--npy", default=None, metavar="FILE.npy", help="also save the images (n, h, w, c) float32")


def _add_encode(sub) -> None:
    from .encode_cmd import CODE_FORMATS, RECON_FORMATS

    exits = (f"Exit codes: {EXIT_OK} done, {EXIT_USAGE} bad input, {EXIT_WRITE_FAILED} a file could not be written "
             f"(nothing half-written), {EXIT_INTERRUPTED} interrupted (Ctrl-C).")
    for name, what, formats in (
        ("encode", "write the latent means and log-variances of images (.npy or .csv)", CODE_FORMATS),
        ("reconstruct", "reconstruct images: originals over reconstructions (an image grid) or pixel means (.npy)",
         RECON_FORMATS),
    ):
        c = sub.add_parser(name, help=what, description=f"{what[0].upper()}{what[1:]}. {exits}")
        c.prog = f"{PROG} {name}"
        c.add_argument("model", metavar="RUN_DIR_OR_MODEL", help="a run directory of 'vae-tf train', or a .keras file")
        c.add_argument("--images", required=True, metavar="PATH",
                       help="an .npz (its x_test, or --key), an .npy of images, or a folder of image files (resized to "
                            "the model's size); uint8 0-255 or floats in [0, 1]")
        c.add_argument("--key", default=None, metavar="NAME", help="the array of an .npz to read (default x_test)")
        c.add_argument("--out", required=True, metavar="FILE", help=f"the file to write: {', '.join(formats)} (by the suffix)")


def _formats() -> str:
    from .sampling_cmd import IMAGE_FORMATS

    return ", ".join(IMAGE_FORMATS)


def _interruptible(handler):
    """``handler`` with Ctrl-C after start-up reported as one line, exit 130 (the outputs are
    written atomically, so none is half-written)."""

    def run(args: argparse.Namespace) -> None:
        try:
            handler(args)
        except KeyboardInterrupt:
            from .run import RunInterrupted

            raise RunInterrupted(f"interrupted by SIGINT; no {args.command} output is half-written.", signal.SIGINT) from None

    return run


def _evaluate(args: argparse.Namespace) -> None:
    from .scoring import EvaluateRequest, evaluate_command

    evaluate_command(EvaluateRequest(
        path=Path(args.model), iwae_samples=args.iwae_samples, iwae_images=args.iwae_images, test_size=args.test_size, seed=args.seed,
        data=args.data, source=_data_source(args), preprocessing=args.preprocessing,
        allow_preprocessing_mismatch=args.allow_preprocessing_mismatch, judge=not args.no_judge,
    ))


def _sample(args: argparse.Namespace) -> None:
    from .sampling_cmd import SampleRequest, sample_command

    sample_command(SampleRequest(path=Path(args.model), n=args.n, out=Path(args.out), digit=args.digit,
                                 seed=args.seed, npy=None if args.npy is None else Path(args.npy)))


def _encode(args: argparse.Namespace) -> None:
    from .encode_cmd import EncodeRequest, encode_command

    encode_command(EncodeRequest(command=args.command, path=Path(args.model), images=Path(args.images),
                                 out=Path(args.out), key=args.key))


#: Sub-commands other than ``train``: name -> handler of the parsed arguments.
COMMANDS = {"evaluate": _interruptible(_evaluate), "sample": _interruptible(_sample),
            "encode": _interruptible(_encode), "reconstruct": _interruptible(_encode)}
