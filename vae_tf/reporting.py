"""Figures of a trained VAE written to a run directory (PNG), built from :mod:`vae_tf.plotting`.

Set a non-interactive Matplotlib backend (e.g. ``matplotlib.use("Agg")``) before calling these
in a process without a display; the command line does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import plotting
from .files import save_figure  # noqa: F401  (re-exported)
from .latent import fit_pca


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

    ``x_test``: images in ``[0, 1]`` ``(n, 28, 28, 1)``; ``y_test``: digit labels ``(n,)``.
    Files: ``latent.png`` (test latent means coloured by digit; a PCA projection when
    ``latent_dim > 2``), ``manifold.png`` (2-D latent, unconditional model only),
    ``reconstructions.png``, ``samples.png`` (prior samples; for a digit-conditioned model
    a digits x styles grid, each column one ``z``) and ``training_curves.png``.
    """
    out_dir = Path(out_dir)
    conditional = model.conditions_on_digits
    written = []

    x_scatter, y_scatter = x_test[:n_scatter], y_test[:n_scatter]
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
