"""The manifold figure: its grid covers the range it says, and its ticks name the z decoded at the
centre of the tile they sit under (not a linear scale laid over a quantile-spaced grid)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import norm  # noqa: E402

from vae_tf.tools import plotting  # noqa: E402


def test_default_manifold_range_reaches_beyond_the_central_90_percent():
    axis = plotting.manifold_axis(20)
    lo, hi = plotting.MANIFOLD_QUANTILES
    np.testing.assert_allclose(norm.cdf(axis), np.linspace(lo, hi, 20), atol=1e-9)
    assert axis[-1] > 3.0 and np.allclose(axis, -axis[::-1])  # symmetric, |z| up to 3.09


def test_grid_codes_put_tiles_where_a_scatter_plot_would():
    axis = plotting.manifold_axis(5, limits=(-4, 4))
    np.testing.assert_allclose(axis, [-4, -2, 0, 2, 4])
    codes = plotting.manifold_grid_codes(5, limits=(-4, 4)).reshape(5, 5, 2)
    np.testing.assert_allclose(codes[0, :, 0], axis)  # columns: z_1 increasing
    np.testing.assert_allclose(codes[:, 0, 1], axis[::-1])  # rows: z_2 decreasing, top row highest
    assert codes.dtype == np.float32


@pytest.mark.parametrize("kwargs", [{}, {"limits": (-3.5, 2.5)}, {"quantile_range": (0.05, 0.95)}])
def test_manifold_ticks_sit_at_tile_centres_and_name_their_z(kwargs):
    n, h = 12, 6
    seen = []

    def decode(codes):  # record what is decoded; tile (i, j) gets a constant image
        seen.append(np.asarray(codes))
        return np.zeros((len(codes), h, h, 1), dtype="float32")

    fig = plotting.plot_manifold(decode, n=n, **kwargs)
    ax = fig.axes[0]
    codes = seen[0].reshape(n, n, 2)
    for pos, label in zip(ax.get_xticks(), ax.get_xticklabels()):
        j = (pos - (h - 1) / 2) / h
        assert j == pytest.approx(round(j)), "x tick off a tile centre"
        assert float(label.get_text()) == pytest.approx(codes[0, int(round(j)), 0], abs=0.005)
    for pos, label in zip(ax.get_yticks(), ax.get_yticklabels()):
        i = (pos - (h - 1) / 2) / h
        assert i == pytest.approx(round(i)), "y tick off a tile centre"
        assert float(label.get_text()) == pytest.approx(codes[int(round(i)), 0, 1], abs=0.005)
    labels = [float(t.get_text()) for t in ax.get_xticklabels()]
    assert labels[0] == pytest.approx(codes[0, 0, 0], abs=0.005) and labels[-1] == pytest.approx(codes[0, -1, 0], abs=0.005)
    plt.close(fig)


@pytest.mark.parametrize("n, tick_every", [(20, 3), (22, 3), (12, 5), (3, 5)])
def test_manifold_labels_both_ends(n, tick_every):
    """Issue 25: a 20-tile grid ticked every 3 tiles left its last tile (z = L) unlabelled."""
    fig = plotting.plot_manifold(lambda c: np.zeros((len(c), 4, 4, 1), "float32"), n=n, limits=(-3.5, 3.5),
                                 tick_every=tick_every)
    labels = [float(t.get_text()) for t in fig.axes[0].get_xticklabels()]
    assert labels[0] == -3.5 and labels[-1] == 3.5
    gaps = [(b - a) * (n - 1) / 7 for a, b in zip(labels, labels[1:])]  # in tiles
    assert all(g >= min(tick_every, n - 1) / 2 - 1e-9 for g in gaps), labels  # no crowded pair
    plt.close(fig)


def test_manifold_ticks_on_a_grid_of_third_units_read_as_half_units():
    """A 22-tile grid over [-3.5, 3.5] is spaced 1/3: every third tile is a half unit, labelled plainly."""
    fig = plotting.plot_manifold(lambda c: np.zeros((len(c), 4, 4, 1), "float32"), n=22, limits=(-3.5, 3.5),
                                 tick_every=3)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [
        "-3.5", "-2.5", "-1.5", "-0.5", "0.5", "1.5", "2.5", "3.5"]
    plt.close(fig)


def test_manifold_axis_rejects_bad_ranges():
    with pytest.raises(ValueError):
        plotting.manifold_axis(1)
    with pytest.raises(ValueError):
        plotting.manifold_axis(10, quantile_range=(0.0, 0.9))
    with pytest.raises(ValueError):
        plotting.manifold_axis(10, limits=(2.0, -2.0))


@pytest.mark.parametrize("epochs", [1, 2, 3, 12])
def test_training_curves_tick_whole_epochs(epochs):
    """Issue 24: a 2-epoch (quick) run had epoch ticks at 1.0, 1.2, ... 2.0. Every visible tick of
    every panel is a whole epoch within the run, and each panel has some."""
    rng = np.random.default_rng(0)
    history = {k: list(rng.uniform(1, 200, epochs)) for k in
               ("loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss", "val_kl_loss")}
    fig = plotting.plot_training_curves(history)
    fig.canvas.draw()
    try:
        for ax in fig.axes:
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert ticks and all(float(t).is_integer() and 1 <= t <= epochs for t in ticks), (ax.get_title(), ticks)
            labels = [label.get_text() for label in ax.get_xticklabels() if label.get_text()]
            assert all("." not in text for text in labels), labels
    finally:
        plt.close(fig)


def test_training_curves_use_each_epochs_kl_weight_and_draw_it():
    """With KL warm-up (issue 32) the dotted sum uses each epoch's logged kl_weight, shown on the KL panel."""
    history = {"loss": [10.0, 12.0, 15.0], "reconstruction_loss": [10.0, 10.0, 10.0], "kl_loss": [4.0, 4.0, 5.0],
               "kl_weight": [0.0, 0.5, 1.0]}
    fig = plotting.plot_training_curves(history, beta=1.0)
    assert len(fig.axes) == 4  # three panels and the KL panel's weight axis
    dotted = [line for line in fig.axes[0].lines if line.get_linestyle() == ":"]
    np.testing.assert_allclose(dotted[0].get_ydata(), [10.0, 12.0, 15.0])
    np.testing.assert_allclose(fig.axes[3].lines[0].get_ydata(), [0.0, 0.5, 1.0])
