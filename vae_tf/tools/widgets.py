"""An interactive latent-space explorer (ipywidgets) and the static figure that stands in for it
where widgets do not run (GitHub, the course website).

Sliders choose a latent code ``z``; each change decodes that one code through the model
(``model.decode(z[None])``, plus ``digits=`` for a digit-conditioned model) and shows the image.
With a 2-D latent space the two sliders are the coordinates of ``z``. With more dimensions the
sliders move ``z`` along the principal directions of ``codes`` (when given; in units of the codes'
standard deviation along each direction, from their mean) or along the first latent axes.
"""

from __future__ import annotations

import io

import numpy as np


def _directions(latent_dim: int, codes, n_sliders: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(origin (d,), directions (k, d), scales (k,))``: z = origin + sum_i s_i scale_i dir_i."""
    if codes is None or latent_dim == 2:
        k = min(n_sliders, latent_dim)
        return np.zeros(latent_dim), np.eye(latent_dim)[:k], np.ones(k)
    from .latent import fit_pca

    codes = np.asarray(codes, dtype="float64").reshape(len(codes), -1)
    if codes.shape[1] != latent_dim:
        raise ValueError(f"codes have {codes.shape[1]} dimensions, the model's latent space has {latent_dim}.")
    pca = fit_pca(codes, k=min(n_sliders, latent_dim, len(codes)))
    return pca.mean, pca.components, np.sqrt(pca.explained_variance)


def _png(image: np.ndarray, scale: int) -> bytes:
    """PNG bytes of a grey image ``(h, w[, 1])`` in [0, 1], enlarged ``scale`` times (nearest),
    ink dark on white as in the package's figures (PNG grey level = 255 * (1 - pixel))."""
    from PIL import Image

    pixels = ((1.0 - np.clip(np.asarray(image).squeeze(), 0.0, 1.0)) * 255).round().astype("uint8")
    img = Image.fromarray(pixels, mode="L")
    buffer = io.BytesIO()
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


class LatentExplorer:
    """The explorer behind :func:`latent_explorer`. ``widget`` is the ipywidgets box to display;
    ``sliders`` (``FloatSlider``), ``digit`` (a ``Dropdown`` or None), ``image`` (``Image``) are
    its parts; ``z`` ``(latent_dim,)`` and ``decoded`` ``(h, w, 1)`` are the current code and
    image; ``latencies`` holds the seconds each update took (decode + PNG)."""

    def __init__(self, model, *, codes=None, labels=None, n_sliders: int = 2, limit: float = 3.0, scale: int = 6):
        import ipywidgets as w

        if int(n_sliders) < 1:
            raise ValueError(f"n_sliders must be at least 1, got {n_sliders!r}.")
        self.model, self.scale = model, int(scale)
        self.latent_dim = int(model.latent_dim)
        self.origin, self.directions, self.scales = _directions(self.latent_dim, codes, int(n_sliders))
        lo, hi = self._slider_range(codes, limit)
        names = ["z_1", "z_2"] if codes is None or self.latent_dim == 2 else [f"PC {i + 1}" for i in range(len(self.directions))]
        if codes is None and self.latent_dim != 2:
            names = [f"z[{i}]" for i in range(len(self.directions))]
        self.sliders = [w.FloatSlider(value=0.0, min=lo, max=hi, step=(hi - lo) / 100, description=n, continuous_update=True)
                        for n in names]
        self.digit = None
        if getattr(model, "conditions_on_digits", False):
            self.digit = w.Dropdown(options=list(range(int(model.num_classes))), value=0, description="digit")
        self.image = w.Image(format="png")
        self.readout = w.HTML()
        self.latencies: list[float] = []
        self.codes = None if codes is None else np.asarray(codes, dtype="float32").reshape(len(codes), -1)
        self.labels = None if labels is None else np.asarray(labels).reshape(-1)
        for control in [*self.sliders, *([self.digit] if self.digit else [])]:
            control.observe(self._on_change, names="value")
        controls = [*([self.digit] if self.digit else []), *self.sliders, self.readout]
        self.widget = w.HBox([w.VBox(controls), self.image])
        self.update()

    def _slider_range(self, codes, limit: float) -> tuple[float, float]:
        """Slider bounds: +-``limit`` (standard deviations, or prior units without ``codes``); for a
        2-D latent with ``codes``, the codes' extent rounded out to cover every code."""
        if codes is not None and self.latent_dim == 2:
            extent = float(np.ceil(np.abs(np.asarray(codes)).max() * 2) / 2)
            return -extent, extent
        return -float(limit), float(limit)

    @property
    def values(self) -> np.ndarray:
        """The slider values ``(n_sliders,)``."""
        return np.array([s.value for s in self.sliders], dtype="float64")

    def code(self, values) -> np.ndarray:
        """The latent code ``(latent_dim,)`` (float32) for slider ``values``."""
        values = np.asarray(values, dtype="float64")
        return (self.origin + (values * self.scales) @ self.directions).astype("float32")

    def decode(self, z: np.ndarray, digit: int | None = None) -> np.ndarray:
        """One image ``(h, w, 1)``: ``z`` ``(latent_dim,)`` decoded as a batch of one."""
        if self.digit is None:
            return self.model.decode(z[None])[0]
        return self.model.decode(z[None], digits=np.array([int(digit)]))[0]

    def update(self) -> None:
        """Decode the current settings and show the image (the slider callback)."""
        import time

        start = time.perf_counter()
        self.z = self.code(self.values)
        self.decoded = self.decode(self.z, None if self.digit is None else self.digit.value)
        self.image.value = _png(self.decoded, self.scale)
        self.latencies.append(time.perf_counter() - start)
        coords = ", ".join(f"{v:+.2f}" for v in self.z[:4]) + (", ..." if self.latent_dim > 4 else "")
        self.readout.value = f"<code>z = ({coords})</code>{self._nearest()}<br>update: {1000 * self.latencies[-1]:.0f} ms"

    def _nearest(self) -> str:
        """The label of the code nearest to ``z`` (when codes and labels were given), as HTML."""
        if self.codes is None or self.labels is None:
            return ""
        i = int(np.argmin(((self.codes - self.z) ** 2).sum(axis=1)))
        return f"<br>nearest code: label {self.labels[i]}"

    def _on_change(self, change) -> None:
        self.update()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def latent_explorer(model, *, codes=None, labels=None, n_sliders: int = 2, limit: float = 3.0, scale: int = 6) -> LatentExplorer:
    """An ipywidgets explorer of ``model``'s latent space; display it (last line of a cell).

    ``model``: a ``vae_tf`` VAE (``decode``, ``latent_dim``); a digit-conditioned one
    (``conditions_on_digits``) gets a digit selector and its sliders set the style ``z``.
    ``codes`` ``(n, latent_dim)`` (e.g. posterior means of test images): for a 2-D latent they
    set the slider range; for more dimensions the sliders follow their ``n_sliders`` principal
    directions. ``labels`` ``(n,)`` of the codes: the readout names the label of the code nearest
    to ``z``. ``limit``: slider
    range in standard deviations (or prior units). ``scale``: image magnification.
    Raises ``ValueError`` for codes of the wrong dimension or ``n_sliders < 1``."""
    return LatentExplorer(model, codes=codes, labels=labels, n_sliders=n_sliders, limit=limit, scale=scale)


def static_figure(model, *, codes=None, labels=None, n_sliders: int = 2, limit: float = 3.0, steps: int = 7, digit: int = 0):
    """What the explorer shows, as one matplotlib figure for stored outputs: row ``i`` moves
    slider ``i`` over ``steps`` values across its range (the others at 0) and shows the decoded
    images (for ``digit`` on a digit-conditioned model); with a 2-D latent and ``codes``, a
    scatter of the codes (coloured by ``labels``) marks where those rows' codes lie.
    Returns the ``Figure``."""
    import matplotlib.pyplot as plt

    ex = LatentExplorer(model, codes=codes, labels=labels, n_sliders=n_sliders, limit=limit)
    if ex.digit is not None:
        ex.digit.value = int(digit)
    lo, hi = ex.sliders[0].min, ex.sliders[0].max
    grid = np.linspace(lo, hi, int(steps))
    rows = [[np.eye(len(ex.sliders))[i] * v for v in grid] for i in range(len(ex.sliders))]
    scatter = codes is not None and ex.latent_dim == 2
    width, height = 1.1 * steps + (4 if scatter else 0), 1.2 * len(rows) + 0.6  # inches
    fig = plt.figure(figsize=(width, height))
    spec = fig.add_gridspec(len(rows), steps + (4 if scatter else 0))
    for i, row in enumerate(rows):
        for j, values in enumerate(row):
            ax = fig.add_subplot(spec[i, j])
            ax.imshow(ex.decode(ex.code(values), None if ex.digit is None else ex.digit.value).squeeze(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_xlabel(f"{grid[j]:+.1f}", fontsize=8)
        fig.axes[-steps].set_ylabel(ex.sliders[i].description, fontsize=9)
    if scatter:
        _scatter_panel(fig.add_subplot(spec[:, steps + 1:]), ex, codes, labels, rows)
    title = "latent explorer (static): each row moves one slider" + (f", digit {ex.digit.value}" if ex.digit else "")
    fig.suptitle(title, fontsize=10)
    # Margins in inches, so that the title and the labels fit snugly at any number of rows.
    fig.subplots_adjust(left=0.55 / width, right=1 - 0.15 / width, bottom=(0.6 if scatter else 0.35) / height, top=1 - 0.45 / height,
                        wspace=0.1, hspace=0.35)
    return fig


def _scatter_panel(ax, ex: LatentExplorer, codes, labels, rows) -> None:
    codes = np.asarray(codes)
    ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=2, alpha=0.5)
    for row, marker in zip(rows, ("o", "s", "^", "D")):
        pts = np.array([ex.code(v) for v in row])
        ax.plot(pts[:, 0], pts[:, 1], marker=marker, color="black", ms=4, lw=1)
    ax.set_xlabel("$z_1$"), ax.set_ylabel("$z_2$")
    ax.set_title("codes; black: the rows' z", fontsize=9)
