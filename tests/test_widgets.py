"""The latent explorer, driven from Python: moving a slider (or the digit selector) re-decodes,
the shown image changes, and it is exactly the model's decode of the code the sliders name."""

import io
import time

import keras
import numpy as np
import pytest
from PIL import Image

import vae_tf
from vae_tf.tools.widgets import latent_explorer, static_figure


def _vae(latent_dim: int) -> vae_tf.VAE:
    keras.utils.set_random_seed(0)
    return vae_tf.VAE(vae_tf.build_encoder(latent_dim=latent_dim), vae_tf.build_decoder(latent_dim=latent_dim), seed=0)


def _cvae(latent_dim: int = 3) -> vae_tf.ConditionalVAE:
    keras.utils.set_random_seed(0)
    return vae_tf.ConditionalVAE(vae_tf.build_encoder(latent_dim=latent_dim, condition_dim=10),
                                 vae_tf.build_decoder(latent_dim=latent_dim, condition_dim=10), seed=0)


def _shown(explorer) -> np.ndarray:
    """The image the widget shows (ink dark on white), back to pixel means at the model's resolution."""
    img = 1.0 - np.asarray(Image.open(io.BytesIO(explorer.image.value)), dtype="float64") / 255
    return img[:: explorer.scale, :: explorer.scale]


def test_2d_sliders_are_z_and_the_image_is_decode_of_z():
    model = _vae(2)
    codes = np.random.default_rng(0).normal(size=(200, 2)) * 1.7
    ex = latent_explorer(model, codes=codes)
    assert [s.description for s in ex.sliders] == ["z_1", "z_2"] and ex.digit is None
    assert ex.sliders[0].min <= codes.min() and ex.sliders[0].max >= codes.max()  # every code reachable
    before = ex.image.value
    ex.sliders[0].value, ex.sliders[1].value = 2.0, -1.5  # what a user's drag does: the observers fire
    np.testing.assert_allclose(ex.z, [2.0, -1.5], atol=1e-6)
    expected = model.decode(np.array([[2.0, -1.5]], dtype="float32"))[0]
    np.testing.assert_allclose(ex.decoded, expected, atol=1e-6)
    assert ex.image.value != before
    np.testing.assert_allclose(_shown(ex), expected.squeeze(), atol=1 / 255 + 1e-9)


def test_readout_names_the_label_of_the_nearest_code():
    codes = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    ex = latent_explorer(_vae(2), codes=codes, labels=np.array([3, 8, 5]))
    ex.sliders[0].value = 1.8
    assert "nearest code: label 8" in ex.readout.value
    ex.sliders[0].value, ex.sliders[1].value = 0.0, 1.9
    assert "nearest code: label 5" in ex.readout.value


def test_higher_dimensions_follow_principal_directions_of_the_codes():
    model = _vae(5)
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(500, 5)) * np.array([3.0, 0.1, 0.1, 1.0, 0.1]) + 0.5
    ex = latent_explorer(model, codes=codes, n_sliders=2)
    assert [s.description for s in ex.sliders] == ["PC 1", "PC 2"]
    ex.sliders[0].value = 1.0  # one standard deviation along the first principal direction
    step = ex.z - codes.mean(axis=0)
    assert abs(step[0]) == pytest.approx(codes[:, 0].std(), rel=0.05) and np.abs(step[1:]).max() < 0.1 * abs(step[0])
    np.testing.assert_allclose(ex.decoded, model.decode(ex.z[None])[0], atol=1e-6)


def test_without_codes_the_sliders_are_the_first_latent_axes():
    ex = latent_explorer(_vae(4), n_sliders=3)
    ex.sliders[2].value = -2.0
    np.testing.assert_allclose(ex.z, [0, 0, -2.0, 0], atol=1e-6)


def test_digit_conditioned_model_gets_a_digit_selector_and_style_sliders():
    model = _cvae(3)
    ex = latent_explorer(model)
    assert ex.digit is not None and list(ex.digit.options) == list(range(10))
    ex.sliders[1].value = 1.0
    first = ex.image.value
    ex.digit.value = 7
    assert ex.image.value != first
    np.testing.assert_allclose(ex.decoded, model.decode(ex.z[None], digits=np.array([7]))[0], atol=1e-6)
    assert not np.allclose(ex.decoded, model.decode(ex.z[None], digits=np.array([1]))[0], atol=1e-3)


def test_update_is_fast_enough_to_feel_live_on_a_cpu():
    ex = latent_explorer(_vae(2))
    for v in np.linspace(-2, 2, 12):
        ex.sliders[0].value = float(v)
    median = float(np.median(ex.latencies[3:]))
    print(f"median update latency on this CPU: {1000 * median:.1f} ms")
    assert median < 0.25, f"an update took {median:.3f} s (median): too slow to feel live"


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="codes have 3 dimensions"):
        latent_explorer(_vae(5), codes=np.zeros((10, 3)))
    with pytest.raises(ValueError, match="n_sliders"):
        latent_explorer(_vae(2), n_sliders=0)


def test_static_figure_shows_the_slider_sweeps_and_the_codes():
    model = _vae(2)
    codes = np.random.default_rng(0).normal(size=(100, 2))
    fig = static_figure(model, codes=codes, labels=np.arange(100) % 10, steps=5)
    assert len(fig.axes) == 2 * 5 + 1  # two rows of five decoded images, and the scatter
    shown = fig.axes[2].images[0].get_array()  # row 0, third column: slider 0 at the middle value 0
    np.testing.assert_allclose(shown, model.decode(np.zeros((1, 2), "float32"))[0].squeeze(), atol=1e-6)
    fig_c = static_figure(_cvae(3), digit=4, steps=3)
    assert "digit 4" in fig_c._suptitle.get_text() and len(fig_c.axes) == 2 * 3


@pytest.mark.parametrize("n_sliders", [2, 4])
def test_static_figure_keeps_its_title_close_to_the_images_at_any_number_of_rows(n_sliders):
    fig = static_figure(_cvae(4), n_sliders=n_sliders, steps=3)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title_bottom = fig._suptitle.get_window_extent(renderer).y0 / fig.dpi  # inches from the bottom
    images_top = max(ax.get_window_extent(renderer).y1 for ax in fig.axes) / fig.dpi
    labels_bottom = min(ax.get_tightbbox(renderer).y0 for ax in fig.axes) / fig.dpi
    assert 0 < title_bottom - images_top < 0.35  # no empty band under the title (0.56 in at 4 rows before)
    assert labels_bottom >= 0  # the value labels under the last row stay inside the figure
