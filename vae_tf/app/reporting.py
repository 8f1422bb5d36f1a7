"""What a training run reports: test metrics, ``metrics.json``, ``history.json``, ``model.keras``
and the PNG figures of a trained VAE (built from :mod:`vae_tf.tools.plotting`).

Set a non-interactive Matplotlib backend (e.g. ``matplotlib.use("Agg")``) before calling these
in a process without a display; the command line does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..tools import plotting
from ..tools.files import atomic_save_model, atomic_write_json, save_figure
from ..tools.latent import fit_pca


def write_figures(
    model,
    out_dir: str | os.PathLike,
    x_test: np.ndarray,
    y_test: np.ndarray,
    history: Mapping[str, Sequence[float]],
    beta: float = 1.0,
    seed: int = 0,
    n_scatter: int = 5000,
) -> list[Path]:
    """Write the figures of a trained ``model`` into ``out_dir`` and return their paths.

    ``x_test``: images in ``[0, 1]`` ``(n, h, w, c)``; ``y_test``: digit labels ``(n,)``, or None.
    Files: ``latent.png`` (test latent means coloured by digit; a PCA projection when
    ``latent_dim > 2``), ``manifold.png`` (2-D latent, unconditional model only),
    ``reconstructions.png``, ``samples.png`` (prior samples; for a digit-conditioned model
    a digits x styles grid, each column one ``z``) and ``training_curves.png``.
    """
    out_dir = Path(out_dir)
    conditional = model.conditions_on_digits
    written = []

    x_scatter, y_scatter = x_test[:n_scatter], None if y_test is None else y_test[:n_scatter]  # None: unlabelled data
    z_mean, _ = model.encode(x_scatter)
    if z_mean.shape[1] == 2:
        fig = plotting.plot_latent_scatter(z_mean, y_scatter, title=f"Latent means of {len(z_mean)} test images")
    else:
        pca = fit_pca(z_mean, k=2)
        fig = plotting.plot_latent_scatter(
            pca.transform(z_mean),
            y_scatter,
            title=f"PCA of {z_mean.shape[1]}-D latent means ({len(z_mean)} test images, "
            f"{100 * pca.explained_variance_ratio.sum():.0f}% of variance)",
        )
        fig.axes[0].set_xlabel("principal component 1")
        fig.axes[0].set_ylabel("principal component 2")
    written.append(save_figure(fig, out_dir / "latent.png"))

    if z_mean.shape[1] == 2 and not conditional:
        written.append(save_figure(plotting.plot_manifold(model.decode, n=20), out_dir / "manifold.png"))

    n = min(10, len(x_test))
    fig = plotting.plot_reconstructions(x_test[:n], model.reconstruct(x_test[:n]), n=n, title="Test images and reconstructions")
    written.append(save_figure(fig, out_dir / "reconstructions.png"))

    if conditional:
        grid = model.digit_style_grid(n_styles=10, seed=seed)  # (10 digits, 10 styles, 28, 28, 1)
        fig = plotting.plot_digit_style_grid(grid, title="Prior samples: each row one style z, each column one digit")
    else:
        fig = plotting.plot_image_grid(model.sample(64, seed=seed), 8, 8, title="Samples from the prior z ~ N(0, I)")
    written.append(save_figure(fig, out_dir / "samples.png"))

    curves = {k: v for k, v in history.items() if k != "epoch_time_s"}
    extra = {k: w for k, w in model.loss_weights.items() if k not in ("reconstruction_loss", "kl_loss")} or None
    fig = plotting.plot_training_curves(curves, beta=beta, extra_terms=extra)
    written.append(save_figure(fig, out_dir / "training_curves.png"))
    return written


_NOTES = (
    "Losses in nats per image. test_neg_elbo_nats = reconstruction + KL (beta = 1), one z sample "
    "per test image. wall_time_s: this command, from after start-up to the last file written. "
    "train_time_s sums all epochs' wall times (training + validation pass), resumed runs included; "
    "train_samples_per_second = training images per epoch / mean epoch wall time, over this "
    "command's epochs after its first (which includes graph tracing)."
)
_NOTES_CONDITIONAL = (
    " Conditional model: reconstruction uses the classifier's predicted digit, and test_loss "
    "adds the classification term."
)


def evaluate_test_set(model, test_ds, callbacks=()) -> dict[str, float]:
    """Evaluate ``model`` on ``test_ds``: the held-out negative ELBO (beta = 1) and its terms in
    nats per image, the training ``loss``, and for a digit-conditioned model the classifier's."""
    test = model.evaluate(test_ds, return_dict=True, verbose=0, callbacks=list(callbacks))
    metrics = {
        "test_neg_elbo_nats": float(test["reconstruction_loss"] + test["kl_loss"]),
        "test_reconstruction_loss_nats": float(test["reconstruction_loss"]),
        "test_kl_loss_nats": float(test["kl_loss"]),
        "test_loss": float(test["loss"]),
    }
    if model.conditions_on_digits:
        metrics["test_classification_loss_nats"] = float(test["classification_loss"])
        metrics["test_accuracy"] = float(test["accuracy"])
    return metrics


def _speed(times: Sequence[float], first_epoch: int, n_train: int) -> float | None:
    """Training images per second over this command's epochs after its first (graph tracing)."""
    session = list(times[first_epoch:]) or list(times)
    session = session[1:] if len(session) > 1 else session
    return round(n_train * len(session) / sum(session), 1) if sum(session) > 0 else None


def run_metrics(test: Mapping[str, float], history: Mapping, *, first_epoch: int, sizes: Mapping[str, int],
                config: Mapping, data: Mapping, conditional: bool, stopping: Mapping | None = None) -> dict:
    """The ``metrics.json`` of a run: ``test`` (from :func:`evaluate_test_set`), epochs, timing and
    speed from ``history`` (``epoch_time_s``), ``sizes`` (``n_train``, ``n_validation``,
    ``n_test``), the run ``config``, the ``data`` source, library versions, and
    ``early_stopping`` (:func:`early_stopping_metrics` of the checkpoint's ``stopping`` progress;
    None when the run has no early stopping)."""
    epochs = len(history.get("epoch", []))
    times = history.get("epoch_time_s", [])
    return {
        **test,
        "final_val_loss": history["val_loss"][-1] if history.get("val_loss") else None,
        "early_stopping": early_stopping_metrics(config, stopping) if config.get("early_stopping") else None,
        "epochs": epochs,
        "epochs_this_run": epochs - first_epoch,
        "resumed_from_epoch": first_epoch or None,
        "wall_time_s": None,
        "train_time_s": round(float(sum(times)), 3),
        "train_samples_per_second": _speed(times, first_epoch, sizes["n_train"]),
        **sizes,
        "config": dict(config),
        "data": dict(data),
        "versions": versions(),
        "notes": _NOTES + (_NOTES_CONDITIONAL if conditional else ""),
    }


def early_stopping_metrics(config: Mapping, stopping: Mapping | None) -> dict:
    """What early stopping did, from the run ``config`` and its checkpointed progress
    (:meth:`vae_tf.app.training.ResumableEarlyStopping.progress`; None before any epoch):
    ``patience``, ``monitor`` (``val_loss``), ``start_from_epoch`` (the KL warm-up's epochs, not
    monitored), ``best_epoch`` and ``best_val_loss`` (nats per image; the weights the model ends
    with; None if no epoch was monitored) and ``stopped_epoch`` (None if it did not stop)."""
    stopping = stopping or {}
    return {"patience": config["early_stopping"], "monitor": "val_loss", "start_from_epoch": config.get("kl_warmup", 0),
            "best_epoch": stopping.get("best_epoch"), "best_val_loss": stopping.get("best"),
            "stopped_epoch": stopping.get("stopped_epoch")}


def early_stopping_line(metrics: Mapping) -> str:
    """One line saying what early stopping did in the run of ``metrics`` (from :func:`run_metrics`)."""
    info, epochs = metrics["early_stopping"], metrics["epochs"]
    if info["best_epoch"] is None:
        return (f"early stopping (patience {info['patience']}) monitored no epoch: it starts after the "
                f"{info['start_from_epoch']} KL warm-up epochs, and the run has {epochs}.")
    best = f"epoch {info['best_epoch']} (val_loss {info['best_val_loss']:.2f} nats/image)"
    if info["stopped_epoch"] is None:
        return (f"early stopping (patience {info['patience']}) did not stop the run; its best epoch, {best}, "
                "gave the weights of model.keras and the test -ELBO.")
    return (f"early stopping: val_loss did not improve for {info['patience']} epoch(s) after {best}; stopped after "
            f"epoch {info['stopped_epoch']} of {metrics['config']['epochs']}; model.keras and the test -ELBO have "
            f"epoch {info['best_epoch']}'s weights.")


def versions() -> dict[str, str]:
    """Versions of vae_tf, Keras, TensorFlow and Python."""
    import keras
    import tensorflow as tf

    from .. import __version__

    return {"vae_tf": __version__, "keras": keras.__version__, "tensorflow": tf.__version__, "python": sys.version.split()[0]}


def write_outputs(model, out_dir, history: Mapping, metrics: dict, x_test, y_test, *, beta: float, seed: int,
                  wall_time) -> list[Path]:
    """Write ``model.keras``, ``history.json``, the figures (:func:`write_figures`) and last
    ``metrics.json`` (with ``figures`` and ``wall_time_s = wall_time()`` added) into ``out_dir``,
    each atomically. Returns the figure paths. Raises ``OSError`` if a file cannot be written
    (the files written before it stay complete)."""
    out_dir = Path(out_dir)
    atomic_save_model(model, out_dir / "model.keras")
    atomic_write_json(out_dir / "history.json", dict(history))
    curves = {k: v for k, v in history.items() if k != "epoch"}
    figures = write_figures(model, out_dir, x_test, y_test, curves, beta=beta, seed=seed)
    metrics["figures"] = [p.name for p in figures]
    metrics["wall_time_s"] = round(wall_time(), 3)
    atomic_write_json(out_dir / "metrics.json", metrics)
    return figures
