"""Matplotlib figures shared by the notebooks and the command line.

Every function draws on a new figure (or the ``ax`` given) and returns the ``Figure``; none
calls ``plt.show()``. Images are arrays of pixel means in ``[0, 1]``, shape ``(n, h, w)`` or
``(n, h, w, 1)`` (grey), or ``(n, h, w, 3)`` (RGB colour, shown in colour).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from scipy.special import ndtri  # the standard normal's quantile function (norm.ppf), without scipy.stats' import


def _squeeze(images) -> np.ndarray:
    images = np.asarray(images)
    return images[..., 0] if images.ndim == 4 and images.shape[-1] == 1 else images


def tile_images(images, nrows: int, ncols: int, pad: int = 0) -> np.ndarray:
    """Tile ``nrows * ncols`` images ``(n, h, w[, 1])`` into one ``(nrows*h, ncols*w)`` array
    (colour images ``(n, h, w, 3)``: ``(nrows*h, ncols*w, 3)``), row-major, ``pad`` white pixels
    between. Raises ``ValueError`` if ``n != nrows * ncols``."""
    images = _squeeze(images)
    n, h, w = images.shape[:3]
    if n != nrows * ncols:
        raise ValueError(f"need exactly nrows * ncols = {nrows * ncols} images, got {n}.")
    out = np.ones((nrows * (h + pad) - pad, ncols * (w + pad) - pad, *images.shape[3:]), dtype="float32")
    for k in range(n):
        r, c = divmod(k, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = images[k]
    return out


def plot_image_grid(images, nrows: int, ncols: int, title: str | None = None, ax=None, scale: float = 0.8):
    """Show images in an ``nrows x ncols`` grid (grey, black background; colour images in colour)."""
    fig, ax = _figure(ax, (ncols * scale, nrows * scale))
    _show(ax, tile_images(images, nrows, ncols, pad=1))
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def plot_reconstructions(originals, reconstructions, n: int = 10, title: str | None = None):
    """Originals (top row) above their reconstructions (bottom row), ``n`` of each."""
    images = np.concatenate([_squeeze(originals)[:n], _squeeze(reconstructions)[:n]])
    fig = plot_image_grid(images, 2, n, title=title)
    fig.axes[0].set_axis_on()
    fig.axes[0].set_xticks([])
    h = images.shape[1] + 1
    fig.axes[0].set_yticks([h / 2 - 1, h * 1.5 - 1], ["original", "reconstruction"])
    return fig


def plot_latent_scatter(z, labels=None, ax=None, title: str = "Latent means of the test set", s: float = 2.0):
    """Scatter 2-D latent codes ``z`` ``(n, 2)``, coloured by digit ``labels`` with a colorbar.
    Codes with more than two dimensions: pass a 2-D projection (e.g. PCA) instead."""
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"plot_latent_scatter needs codes of shape (n, 2), got {z.shape}; project them first.")
    fig, ax = _figure(ax, (6.5, 5.5))
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=s, alpha=0.6)
    else:
        cmap = plt.get_cmap("tab10", 10)
        pts = ax.scatter(z[:, 0], z[:, 1], c=np.asarray(labels), cmap=cmap, vmin=-0.5, vmax=9.5, s=s, alpha=0.7)
        fig.colorbar(pts, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    return fig


#: The default manifold range: the 0.1 %-99.9 % quantiles of each prior axis (|z| <= 3.09). The
#: codes of a trained 2-D VAE spread beyond the prior's unit scale (aggregate-posterior variances
#: near 2 are common), and a grid over only the 5 %-95 % quantiles (|z| <= 1.64) can miss whole
#: digit classes that live further out.
MANIFOLD_QUANTILES = (0.001, 0.999)


def manifold_axis(n: int = 20, quantile_range: tuple[float, float] = MANIFOLD_QUANTILES, limits: tuple[float, float] | None = None) -> np.ndarray:
    """The ``n`` latent values ``(n,)`` (increasing) at the tile centres along one manifold axis.

    By default uniform in prior probability: the standard normal's quantile function
    (``scipy.special.ndtri``, the same as ``scipy.stats.norm.ppf``) of ``n`` evenly spaced quantiles in
    ``quantile_range`` (each tile then carries about the same mass of ``N(0, 1)``). With
    ``limits=(lo, hi)`` instead: ``n`` evenly spaced values from ``lo`` to ``hi`` (a linear grid,
    e.g. over the extent of the codes). Raises ``ValueError`` for ``n < 2``, quantiles outside
    ``(0, 1)`` or limits with ``lo >= hi``."""
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}.")
    if limits is not None:
        lo, hi = (float(v) for v in limits)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"limits must be finite with lo < hi, got {limits!r}.")
        return np.linspace(lo, hi, int(n))
    q_lo, q_hi = (float(v) for v in quantile_range)
    if not 0.0 < q_lo < q_hi < 1.0:
        raise ValueError(f"quantile_range must satisfy 0 < lo < hi < 1, got {quantile_range!r}.")
    return ndtri(np.linspace(q_lo, q_hi, int(n)))


def manifold_grid_codes(n: int = 20, quantile_range: tuple[float, float] = MANIFOLD_QUANTILES, limits: tuple[float, float] | None = None) -> np.ndarray:
    """Latent codes ``(n*n, 2)`` at the tile centres of the manifold grid: each axis takes the
    values of :func:`manifold_axis` (uniform in prior probability over ``quantile_range``, or
    linear over ``limits``). Row ``i`` (top to bottom) has decreasing ``z_2``, column ``j``
    increasing ``z_1``, so the tiles sit as the codes do in a scatter plot."""
    axis = manifold_axis(n, quantile_range, limits)
    return np.array([[a, b] for b in axis[::-1] for a in axis], dtype="float32")


def plot_manifold(decode, n: int = 20, quantile_range: tuple[float, float] = MANIFOLD_QUANTILES, ax=None,
                  limits: tuple[float, float] | None = None, tick_every: int | None = None, title: str | None = None):
    """Decode the ``n x n`` grid of 2-D codes of :func:`manifold_grid_codes` with ``decode`` (a
    function from ``(m, 2)`` codes to images, e.g. ``vae.decode``) and tile the digits.

    The ticks sit at tile centres and are labelled with the ``z`` value decoded there (every
    ``tick_every``-th tile, default about 8 ticks per axis, and always the first and the last
    tile), so they stay true on a grid that is not evenly spaced in ``z``. Returns the ``Figure``."""
    axis = manifold_axis(n, quantile_range, limits)
    codes = manifold_grid_codes(n, quantile_range, limits)
    images = _squeeze(decode(codes))
    fig, ax = _figure(ax, (8, 8))
    h, w = images.shape[1:3]
    _show(ax, tile_images(images, n, n))
    step = max(1, int(tick_every) if tick_every else int(np.ceil(n / 8)))
    cols = list(range(0, n, step))
    if cols[-1] != n - 1:  # both ends are labelled: the last tile replaces a tick too close to it
        if len(cols) > 1 and n - 1 - cols[-1] < step / 2:
            cols[-1] = n - 1
        else:
            cols.append(n - 1)
    ax.set_xticks([j * w + (w - 1) / 2 for j in cols], [_tick_label(axis[j]) for j in cols])
    ax.set_yticks([i * h + (h - 1) / 2 for i in cols], [_tick_label(axis[::-1][i]) for i in cols])
    ax.tick_params(labelsize=8)
    ax.set_xlabel("$z_1$ (at the tile centre)")
    ax.set_ylabel("$z_2$ (at the tile centre)")
    if title is None:
        if limits is None:
            title = (f"Decoded {n}x{n} grid: $z$ at the {100 * quantile_range[0]:g} %-{100 * quantile_range[1]:g} % "
                     "quantiles of $\\mathcal{N}(0, 1)$")
        else:
            title = f"Decoded {n}x{n} grid: $z$ evenly spaced in [{_tick_label(axis[0])}, {_tick_label(axis[-1])}]"
    ax.set_title(title)
    return fig


def _tick_label(value: float) -> str:
    """``value`` to two decimals without trailing zeros: ``-3.5``, ``1``, ``-2.39``."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def plot_training_curves(
    history: Mapping[str, Sequence[float]],
    beta: float = 1.0,
    title: str | None = None,
    extra_terms: Mapping[str, float] | None = None,
):
    """Total, reconstruction and KL loss per epoch, train (solid) and validation (dashed),
    from a Keras ``History.history`` dict. Dotted lines show ``reconstruction + beta * KL`` (train,
    and validation when logged) over the totals, so the reader sees the terms add up.
    ``extra_terms`` maps further logged terms to their weight in the total, e.g.
    ``{"classification_loss": 1.0}`` for :class:`vae_tf.AuxiliaryClassifierVAE`. A logged
    ``kl_weight`` (:class:`vae_tf.KLWarmup`) replaces ``beta`` epoch by epoch and is drawn on the KL
    panel's right axis. The epoch axis has whole-number ticks only."""
    extra_terms = dict(extra_terms or {})
    weight = np.asarray(history["kl_weight"], dtype=float) if "kl_weight" in history else beta
    weight_name = "w" if "kl_weight" in history else r"$\beta$"
    terms = [k for k in ("loss", "reconstruction_loss", "kl_loss") if k in history]
    fig, axes = plt.subplots(1, len(terms), figsize=(4.2 * len(terms), 3.4))
    axes = np.atleast_1d(axes)
    for ax, term in zip(axes, terms):
        epochs = np.arange(1, len(history[term]) + 1)
        ax.plot(epochs, history[term], "-o", ms=3, label="train")
        if f"val_{term}" in history:
            ax.plot(epochs, history[f"val_{term}"], "--s", ms=3, label="validation")
        if term == "loss" and "kl_loss" in history and "reconstruction_loss" in history:
            for prefix, name in (("", "train"), ("val_", "val.")):
                if f"{prefix}kl_loss" in history and f"{prefix}reconstruction_loss" in history:
                    total = np.asarray(history[f"{prefix}reconstruction_loss"]) + weight * np.asarray(history[f"{prefix}kl_loss"])
                    for term_name, weight in extra_terms.items():
                        total = total + weight * np.asarray(history[f"{prefix}{term_name}"])
                    extra = "".join(f" + {w:g} {t.replace('_loss', '')}" for t, w in extra_terms.items())
                    ax.plot(epochs, total, ":", color="k" if not prefix else "0.45", lw=2,
                            label=f"recon + {weight_name} KL{extra} ({name})")
        if term == "kl_loss" and "kl_weight" in history:
            twin = ax.twinx()
            twin.step(epochs, history["kl_weight"], where="mid", color="tab:green", alpha=0.7, label="KL weight w")
            twin.set_ylabel("KL weight w (warm-up)")
            twin.set_ylim(bottom=0)
            twin.legend(fontsize=8, loc="center right")
        ax.set_title(term.replace("_", " ") + " (nats)")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs: no 1.2 on a 2-epoch run
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_digit_style_grid(grid, title: str | None = None, ax=None, scale: float = 0.7):
    """Draw a :meth:`digit_style_grid` array ``(num_classes, n_styles, h, w[, 1 or 3])`` with one
    **row per style** and one **column per digit** (so a row shows one style in every digit),
    axes labelled. Returns the matplotlib ``Figure``. Raises ``ValueError`` for another shape."""
    grid = np.asarray(grid)
    if grid.ndim == 5 and grid.shape[-1] == 1:
        grid = grid[..., 0]
    if grid.ndim != 4 and not (grid.ndim == 5 and grid.shape[-1] == 3):
        raise ValueError(f"expected a grid of shape (num_classes, n_styles, h, w[, 1 or 3]), got {np.shape(grid)}.")
    n_digits, n_styles, h, w = grid.shape[:4]
    if ax is None:
        fig, ax = plt.subplots(figsize=(n_digits * scale + 0.8, n_styles * scale + 0.6))
    else:
        fig = ax.figure
    images = grid.swapaxes(0, 1).reshape(-1, *grid.shape[2:])  # row-major: style s, digit d
    _show(ax, tile_images(images, n_styles, n_digits, pad=1))
    ax.set_xticks([d * (w + 1) + w / 2 - 0.5 for d in range(n_digits)], [str(d) for d in range(n_digits)])
    ax.set_yticks([s * (h + 1) + h / 2 - 0.5 for s in range(n_styles)], [str(s + 1) for s in range(n_styles)])
    ax.tick_params(length=0)
    ax.set_xlabel("digit (one-hot part of the decoder input)")
    ax.set_ylabel("style (shared z)")
    if title:
        ax.set_title(title)
    return fig


def _show(ax, tiled: np.ndarray) -> None:
    """``imshow`` a tiled array: grey levels on the grey colour map, RGB ``(H, W, 3)`` as colour."""
    if tiled.ndim == 3:
        ax.imshow(np.clip(tiled, 0.0, 1.0))
    else:
        ax.imshow(tiled, cmap="gray", vmin=0, vmax=1)


def _figure(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax
