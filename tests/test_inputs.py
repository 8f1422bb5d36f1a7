"""The one input rule (vae_tf.core.inputs, vae_tf.core.arrays): pixel scales, image shapes, class labels and counts."""

import numpy as np
import pytest

from vae_tf.core.arrays import as_class_indices, as_images, pixel_kind
from vae_tf.core.inputs import InputError, as_unit_pixels, check_count, check_image_shape


# --------------------------------------------------------------------------- the pixel rule
def test_uint8_grey_levels_are_divided_by_255(rng):
    x = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    x[0, 0, 0], x[0, 0, 1] = 0, 255
    out = as_unit_pixels(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out * 255, x, atol=1e-4)
    assert out.min() == 0.0 and out.max() == 1.0
    assert pixel_kind(out) == "grey"


def test_integer_zero_one_images_are_binary_and_kept(rng):
    x = rng.integers(0, 2, size=(4, 28, 28)).astype(np.uint8)
    out = as_unit_pixels(x)
    np.testing.assert_array_equal(out, x.astype("float32"))  # not divided by 255
    assert pixel_kind(out) == "binary"
    np.testing.assert_array_equal(as_unit_pixels(x.astype(bool)), out)
    np.testing.assert_array_equal(as_unit_pixels(x.astype(np.int64)), out)


def test_floats_in_unit_interval_are_kept_as_they_are(rng):
    x = rng.random((2, 28, 28, 1))
    out = as_unit_pixels(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x.astype("float32"))
    # rounding just outside [0, 1] is clipped, not rejected
    edge = np.array([[-1e-7, 0.5, 1 + 1e-7]], dtype=np.float64)
    np.testing.assert_array_equal(as_unit_pixels(edge), [[0.0, 0.5, 1.0]])


def test_float_grey_levels_0_255_are_rejected_with_the_fix():
    x = np.linspace(0, 255, 28 * 28).reshape(1, 28, 28).astype("float32")
    with pytest.raises(InputError, match=r"\[0, 1\], got values in \[0, 255\].*divide by 255.*scale_images"):
        as_unit_pixels(x)
    with pytest.raises(InputError, match=r"got values in \[-0.5, 0.5\]\.$"):  # not grey levels: no hint
        as_unit_pixels(np.array([[-0.5, 0.5]]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_rejected(bad):
    x = np.full((2, 28, 28), 0.5, dtype="float32")
    x[1, 3, 4] = bad
    with pytest.raises(InputError, match="NaN or infinite"):
        as_unit_pixels(x, name="images")


@pytest.mark.parametrize("values, match", [([[-1, 3]], r"\[-1, 3\]"), ([[0, 256]], r"\[0, 256\]")])
def test_integers_outside_0_255_are_rejected(values, match):
    with pytest.raises(InputError, match=match + ".*0-255"):
        as_unit_pixels(np.array(values, dtype=np.int16))


def test_non_numeric_and_ragged_input_is_rejected():
    with pytest.raises(InputError, match="dtype <U"):
        as_unit_pixels(np.array([["a", "b"]]))
    with pytest.raises(InputError, match="could not be read"):
        as_unit_pixels([[0.1, 0.2], [0.3]])


def test_errors_are_value_errors_with_the_given_name():
    assert issubclass(InputError, ValueError)
    with pytest.raises(InputError, match="^x_test contains NaN"):
        as_unit_pixels(np.array([np.nan]), name="x_test")


# --------------------------------------------------------------------------- shapes
def test_missing_channel_axis_says_how_to_add_it():
    with pytest.raises(InputError, match=r"shape \(batch, 28, 28, 1\), got \(5, 28, 28\)\. Add the channel axis: x\[\.\.\., None\]"):
        as_images(np.zeros((5, 28, 28)), (28, 28, 1))
    out = as_images(np.zeros((5, 28, 28, 1), np.uint8), (28, 28, 1))
    assert out.shape == (5, 28, 28, 1) and out.dtype == np.float32


def test_single_image_and_wrong_size_shapes():
    with pytest.raises(InputError, match=r"got \(28, 28, 1\)\. Pass a batch of images, e.g\. x\[None\]"):
        check_image_shape((28, 28, 1), (28, 28, 1))
    with pytest.raises(InputError, match=r"got \(batch, 14, 28, 1\)\.$"):
        check_image_shape((None, 14, 28, 1), (28, 28, 1))
    check_image_shape((None, 28, 28, 1), (28, 28, 1))  # a symbolic batch is fine


def test_empty_and_scalar_batches():
    with pytest.raises(InputError, match="empty"):
        as_images(np.zeros((0, 28, 28, 1)), (28, 28, 1))
    assert as_images(np.zeros((0, 28, 28, 1)), (28, 28, 1), allow_empty=True).shape == (0, 28, 28, 1)
    with pytest.raises(InputError, match="scalar"):
        as_images(0.5)


# --------------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "labels, match",
    [
        (np.arange(10, 20), r"must be in \[0, 10\) \(one class per digit\), got \[10, 11, 12, 13, 14, \.\.\.\]\.$"),
        (np.array([0, -1, 3]), r"got \[-1\]\.$"),
        (np.arange(1, 11), r"got \[10\] \(labels 1\.\.10 as in SVHN\? subtract 1, and map 10 to 0\)"),
        ("3", r"must be integers in \[0, 10\), got '3'"),
        (None, r"must be integers in \[0, 10\), got None"),
        (True, r"got True"),
        (1e20, r"got \[1e\+20\]"),  # not a huge negative number from an int cast
        (np.array([2.5]), r"whole numbers.*got \[2\.5\]"),
        (np.array([np.nan]), r"whole numbers"),
        (np.array([], dtype=int), "empty"),
    ],
)
def test_bad_labels_are_rejected_with_what_was_wrong(labels, match):
    with pytest.raises(InputError, match=match) as info:
        as_class_indices(labels, 10, name="digits")
    assert str(info.value).startswith("digits ")


def test_good_labels_become_int64_and_one_digit_is_repeated():
    out = as_class_indices(np.array([0, 9, 3], dtype=np.uint8), 10)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [0, 9, 3])
    np.testing.assert_array_equal(as_class_indices(3.0, 10, n=4), [3, 3, 3, 3])
    np.testing.assert_array_equal(as_class_indices(np.int32(7), 10, n=2), [7, 7])
    with pytest.raises(InputError, match="one integer or 4 integers, got 3"):
        as_class_indices([1, 2, 3], 10, n=4)


# --------------------------------------------------------------------------- counts
@pytest.mark.parametrize("good, expected", [(1, 1), (np.int64(5), 5), (3.0, 3)])
def test_counts_accept_whole_numbers(good, expected):
    out = check_count(good)
    assert out == expected and type(out) is int


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", None, True, float("inf"), float("nan")])
def test_counts_reject_everything_else(bad):
    with pytest.raises(InputError, match=r"^n must be an integer >= 1, got "):
        check_count(bad)
    assert check_count(0, minimum=0) == 0
