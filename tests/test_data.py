"""MNIST loading (search order and every kind of bad file) and the input pipeline."""

import keras
import numpy as np
import pytest

import vae_tf
from vae_tf.tools import data as data_module
def write_npz(path, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, size=30, dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, size=12, dtype=np.uint8),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $VAE_TF_MNIST, no data/mnist.npz in the working directory or the checkout, no download."""
    monkeypatch.delenv(data_module.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data_module, "PROJECT_ROOT", tmp_path / "checkout")

    def offline():
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    return tmp_path


def test_real_offline_copy_loads_with_its_own_size(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.dtype == np.uint8 and x_train.shape[1:] == (28, 28)
    assert len(x_train) == len(y_train) and len(x_test) == len(y_test)
    assert set(np.unique(y_test)) == set(range(10))
    assert 0 <= x_train.min() and x_train.max() == 255


def test_path_argument_then_env_var_then_data_dir(isolated, monkeypatch):
    a = write_npz(isolated / "a.npz")
    b = write_npz(isolated / "b.npz", y_test=np.full(12, 7, np.uint8))
    monkeypatch.setenv(data_module.ENV_VAR, str(isolated / "b.npz"))
    (_, _), (_, y) = vae_tf.load_mnist(isolated / "a.npz")
    np.testing.assert_array_equal(y, a["y_test"])
    (_, _), (_, y) = vae_tf.load_mnist()
    np.testing.assert_array_equal(y, b["y_test"])
    monkeypatch.delenv(data_module.ENV_VAR)
    (isolated / "data").mkdir()
    c = write_npz(isolated / "data" / "mnist.npz", y_test=np.full(12, 3, np.uint8))
    (_, _), (_, y) = vae_tf.load_mnist()
    np.testing.assert_array_equal(y, c["y_test"])
    # a directory argument means the mnist.npz inside it
    (_, _), (_, y) = vae_tf.load_mnist(isolated / "data")
    np.testing.assert_array_equal(y, c["y_test"])


def test_falls_back_to_keras_loader(isolated, monkeypatch):
    arrays = write_npz(isolated / "k.npz")
    monkeypatch.setattr(
        keras.datasets.mnist,
        "load_data",
        lambda: ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])),
    )
    (x, _), _ = vae_tf.load_mnist()
    np.testing.assert_array_equal(x, arrays["x_train"])


def test_offline_without_local_copy_says_where_to_put_the_file(isolated):
    with pytest.raises(vae_tf.MNISTError, match="no local copy") as info:
        vae_tf.load_mnist()
    message = str(info.value)
    assert "data/mnist.npz" in message and "VAE_TF_MNIST" in message and "name resolution" in message


def test_an_installed_package_searches_no_data_folder_beside_site_packages(isolated, monkeypatch):
    """Issue 24: after a non-editable install MNISTError listed .../site-packages/data/mnist.npz
    as searched. The folder above the package counts as a checkout only when its pyproject.toml
    names vae-tf: then its data/mnist.npz is searched and named, otherwise neither."""
    site_packages = isolated / "lib" / "site-packages"
    (site_packages / "data").mkdir(parents=True)
    stray = write_npz(site_packages / "data" / "mnist.npz")  # even a file there is not the project's
    (site_packages / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    monkeypatch.setattr(data_module, "PROJECT_ROOT", site_packages)
    assert data_module.find_mnist() is None
    with pytest.raises(vae_tf.MNISTError, match="no local copy") as info:
        vae_tf.load_mnist()
    assert "site-packages" not in str(info.value)
    assert str(isolated / "data" / "mnist.npz") in str(info.value)  # the working directory's is searched
    assert data_module.checkout_root() is None

    (site_packages / "pyproject.toml").write_text('[project]\nname = "vae-tf"\nversion = "0.1.0"\n')
    assert data_module.checkout_root() == site_packages
    (_, _), (_, y) = vae_tf.load_mnist()
    np.testing.assert_array_equal(y, stray["y_test"])
    assert data_module.describe_mnist_source() == "data/mnist.npz"


def test_missing_file(isolated, monkeypatch):
    with pytest.raises(vae_tf.MNISTError, match="not found"):
        vae_tf.load_mnist(isolated / "nope.npz")
    monkeypatch.setenv(data_module.ENV_VAR, str(isolated / "also_nope.npz"))
    with pytest.raises(vae_tf.MNISTError, match=r"not found.*VAE_TF_MNIST"):
        vae_tf.load_mnist()


def test_corrupt_and_truncated_files(isolated):
    (isolated / "garbage.npz").write_bytes(b"this is not a zip archive at all" * 10)
    with pytest.raises(vae_tf.MNISTError, match="corrupt, truncated or not an .npz"):
        vae_tf.load_mnist(isolated / "garbage.npz")
    write_npz(isolated / "full.npz")
    raw = (isolated / "full.npz").read_bytes()
    (isolated / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(vae_tf.MNISTError, match="corrupt, truncated"):
        vae_tf.load_mnist(isolated / "cut.npz")


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"y_test": None}, r"lacks the arrays \['y_test'\]"),
        ({"x_train": np.zeros((30, 28, 27), np.uint8)}, r"shape \(30, 28, 27\), expected \(n, 28, 28\)"),
        ({"x_train": np.zeros((30, 28, 28), np.float32)}, "dtype float32"),
        ({"x_test": np.full((12, 28, 28), 300, np.int16)}, "out of range"),
        ({"x_test": np.full((12, 28, 28), -1, np.int16)}, "out of range"),
        ({"y_train": np.full(30, 10, np.int64)}, "labels outside 0-9"),
        ({"y_train": np.zeros(29, np.uint8)}, "30 images but y_train has 29 labels"),
        ({"y_test": np.zeros((12, 1), np.uint8)}, r"y_test has shape \(12, 1\)"),
        ({"y_test": np.zeros(12, np.float32)}, "integer labels"),
    ],
)
def test_wrong_format(isolated, overrides, match):
    write_npz(isolated / "bad.npz", **overrides)
    with pytest.raises(vae_tf.MNISTError, match=match):
        vae_tf.load_mnist(isolated / "bad.npz")


def test_scale_binarize_split_subset(rng):
    x = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=50)
    s = vae_tf.scale_images(x)
    assert s.shape == (50, 28, 28, 1) and s.dtype == np.float32
    np.testing.assert_allclose(s[..., 0] * 255, x, atol=1e-4)
    b = vae_tf.binarize(s)
    assert set(np.unique(b)) <= {0.0, 1.0}
    np.testing.assert_array_equal(b, (s > 0.5).astype("float32"))
    d1, d2 = vae_tf.binarize_static(s, seed=1), vae_tf.binarize_static(s, seed=1)
    np.testing.assert_array_equal(d1, d2)
    assert abs(d1.mean() - s.mean()) < 0.01
    (xf, yf), (xv, yv) = vae_tf.split_validation(x, y, val_fraction=0.2, seed=0)
    assert len(xv) == 10 and len(xf) == 40 and len(yf) == 40
    together = np.concatenate([xf, xv]).reshape(50, -1)
    assert len(np.unique(together, axis=0)) == len(np.unique(x.reshape(50, -1), axis=0))
    xs, ys = vae_tf.subset(x, y, 7, seed=0)
    assert xs.shape == (7, 28, 28) and ys.shape == (7,)
    with pytest.raises(ValueError, match="val_fraction"):
        vae_tf.split_validation(x, y, val_fraction=1.5)


def test_make_dataset_batches_labels_and_binarization(small_batch):
    x, y = small_batch
    ds = vae_tf.make_dataset((x[:100, ..., 0] * 255).astype(np.uint8), y[:100], batch_size=32, seed=0)
    batches = list(ds)
    assert [len(b[0]) for b in batches] == [32, 32, 32, 4]
    images, labels = batches[0]
    assert images.shape == (32, 28, 28, 1) and images.dtype == "float32" and labels.dtype == "int32"
    assert 0.0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 1.0

    dyn = vae_tf.make_dataset(x[:64], batch_size=64, shuffle=False, seed=5, binarization="dynamic")
    epoch1, epoch2 = next(iter(dyn)).numpy(), next(iter(dyn)).numpy()
    assert set(np.unique(epoch1)) <= {0.0, 1.0}
    assert not np.array_equal(epoch1, epoch2)  # a fresh draw each epoch
    again = vae_tf.make_dataset(x[:64], batch_size=64, shuffle=False, seed=5, binarization="dynamic")
    np.testing.assert_array_equal(next(iter(again)).numpy(), epoch1)  # same seed, same draws
    assert abs(epoch1.mean() - x[:64].mean()) < 0.02
    with pytest.raises(ValueError, match="binarization"):
        vae_tf.make_dataset(x, binarization="always")


@pytest.mark.parametrize("binarization", [None, "dynamic"])
def test_make_dataset_prefetches_a_fixed_buffer_without_the_autotuner(small_batch, binarization):
    # The autotuner's background thread stalled each new epoch's iterator by up to a second
    # (benchmarks/README.md); make_dataset turns it off and prefetches a fixed buffer instead.
    x, _ = small_batch
    ds = vae_tf.make_dataset(x[:64], batch_size=16, seed=0, binarization=binarization)
    assert ds.options().autotune.enabled is False
    epochs = [np.concatenate([b.numpy() for b in ds]) for _ in range(2)]
    assert all(len(e) == 64 for e in epochs)  # every example, every epoch
    assert not np.array_equal(epochs[0], epochs[1])  # still reshuffled (or redrawn) each epoch


# --------------------------------------------------------------------------- the pixel rule (vae_tf.inputs)
def test_scale_images_follows_the_pixel_rule(rng):
    binary = rng.integers(0, 2, size=(6, 28, 28)).astype(np.uint8)  # an already binarized uint8 file
    np.testing.assert_array_equal(vae_tf.scale_images(binary), binary[..., None].astype("float32"))
    grey = rng.random((6, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(vae_tf.scale_images(grey), grey)
    with pytest.raises(vae_tf.InputError, match="0-255 grey levels: divide by 255"):
        vae_tf.scale_images(grey * 255)
    with pytest.raises(vae_tf.InputError, match="NaN"):
        vae_tf.scale_images(np.full((2, 28, 28), np.nan))


def test_make_dataset_keeps_binary_uint8_and_rejects_float_grey_levels(rng):
    binary = rng.integers(0, 2, size=(40, 28, 28)).astype(np.uint8)
    out = np.concatenate([b.numpy() for b in vae_tf.make_dataset(binary, batch_size=16, shuffle=False)])
    np.testing.assert_array_equal(out, binary[..., None].astype("float32"))  # not divided by 255
    with pytest.raises(vae_tf.InputError, match="divide by 255"):
        vae_tf.make_dataset(binary.astype("float32") * 255)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"x": np.zeros((0, 28, 28), np.uint8)}, "x is empty: expected at least one image"),
        ({"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
        ({"batch_size": 2.5}, r"batch_size must be an integer >= 1, got 2\.5"),
        ({"batch_size": "32"}, r"batch_size must be an integer >= 1, got '32'"),
        ({"y": np.arange(10, 30)}, r"y must be in \[0, 10\)"),
        ({"y": np.full(20, -1)}, r"y must be in \[0, 10\).*got \[-1\]"),
        ({"y": np.arange(20) % 10 + 1}, "SVHN"),
        ({"y": np.zeros(19, int)}, "x has 20 images but y has 19 labels"),
        ({"y": np.full(20, 3), "num_classes": 3}, r"y must be in \[0, 3\)"),
        ({"binarization": "always"}, "binarization must be None .grey levels., 'threshold', 'static' or 'dynamic'"),
    ],
)
def test_make_dataset_rejects_bad_input_with_a_clear_message(kwargs, match):
    kwargs = {"x": np.zeros((20, 28, 28), np.uint8), **kwargs}
    with pytest.raises(vae_tf.InputError, match=match):
        vae_tf.make_dataset(**kwargs)


def test_make_dataset_labels_are_int32_in_range(rng):
    x = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    y = np.arange(20) % 3
    (images, labels), = list(vae_tf.make_dataset(x, y, batch_size=20, shuffle=False, num_classes=3))
    assert labels.dtype == "int32"
    np.testing.assert_array_equal(labels.numpy(), y)
    np.testing.assert_allclose(images.numpy()[..., 0] * 255, x, atol=1e-4)


# --------------------------------------------------------------------------- reproducible epochs
def _epochs(ds, count):
    """``count`` successive iterations of ``ds`` as lists of NumPy batches."""
    return [[tuple(t.numpy() for t in b) if isinstance(b, tuple) else (b.numpy(),) for b in ds] for _ in range(count)]


@pytest.mark.parametrize("binarization", [None, "dynamic"])
def test_epoch_k_of_a_resumed_dataset_is_epoch_start_plus_k_of_a_fresh_one(small_batch, binarization):
    x, y = small_batch
    kwargs = dict(batch_size=24, seed=11, binarization=binarization)
    fresh = _epochs(vae_tf.make_dataset(x[:100], y[:100], **kwargs), 5)
    resumed = _epochs(vae_tf.make_dataset(x[:100], y[:100], start_epoch=3, **kwargs), 2)
    for k in range(2):
        for got, want in zip(resumed[k], fresh[3 + k], strict=True):
            for a, b in zip(got, want, strict=True):
                np.testing.assert_array_equal(a, b)
    assert not np.array_equal(fresh[3][0][0], fresh[4][0][0])  # consecutive epochs differ
    other_seed = _epochs(vae_tf.make_dataset(x[:100], y[:100], **{**kwargs, "seed": 12}), 1)
    assert not np.array_equal(other_seed[0][0][1], fresh[0][0][1])


def test_every_epoch_holds_every_example_once(rng):
    n = 103
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    ds = vae_tf.make_dataset(x, np.arange(n), batch_size=10, seed=0, num_classes=n, binarization="dynamic")
    assert int(ds.cardinality()) == 11
    orders = []
    for epoch in _epochs(ds, 3):
        assert [len(b[1]) for b in epoch] == [10] * 10 + [3]
        labels = np.concatenate([b[1] for b in epoch])
        np.testing.assert_array_equal(np.sort(labels), np.arange(n))  # a permutation: each example once
        orders.append(labels)
    assert not np.array_equal(orders[0], orders[1])  # reshuffled each epoch
    in_order = _epochs(vae_tf.make_dataset(x, np.arange(n), batch_size=10, shuffle=False, num_classes=n), 2)
    for epoch in in_order:
        np.testing.assert_array_equal(np.concatenate([b[1] for b in epoch]), np.arange(n))
        np.testing.assert_allclose(np.concatenate([b[0] for b in epoch])[..., 0] * 255, x, atol=1e-4)


def test_keras_fit_advances_the_epoch_once_per_epoch(small_batch):
    x, _ = small_batch
    keras.utils.set_random_seed(0)
    vae = vae_tf.VAE(vae_tf.build_encoder(latent_dim=2, hidden_units=(8,)), vae_tf.build_decoder(latent_dim=2, hidden_units=(8,)))
    vae.compile(optimizer="adam")
    ds = vae_tf.make_dataset(x[:64], batch_size=32, seed=3)
    vae.fit(ds, epochs=2, verbose=0)
    after_two = next(iter(ds)).numpy()
    np.testing.assert_array_equal(after_two, next(iter(vae_tf.make_dataset(x[:64], batch_size=32, seed=3, start_epoch=2))).numpy())


def test_without_a_seed_keras_set_random_seed_makes_it_reproducible(small_batch):
    x, _ = small_batch
    firsts = []
    for _ in range(2):
        keras.utils.set_random_seed(5)
        firsts.append(next(iter(vae_tf.make_dataset(x[:64], batch_size=64, binarization="dynamic"))).numpy())
    np.testing.assert_array_equal(*firsts)
    with pytest.raises(vae_tf.InputError, match="start_epoch must be an integer >= 0, got -1"):
        vae_tf.make_dataset(x[:8], start_epoch=-1)


def test_describe_mnist_source_prints_no_machine_path(tmp_path, monkeypatch):
    from vae_tf.tools.data import PROJECT_ROOT, describe_mnist_source

    outside = tmp_path / "elsewhere" / "mnist.npz"
    outside.parent.mkdir()
    outside.write_bytes(b"")
    assert describe_mnist_source(outside) == "mnist.npz"
    inside = PROJECT_ROOT / "data" / "mnist.npz"
    if inside.exists():
        monkeypatch.delenv("VAE_TF_MNIST", raising=False)
        assert describe_mnist_source(inside) == "data/mnist.npz"
    monkeypatch.setattr("vae_tf.tools.data.find_mnist", lambda path=None: None)
    assert describe_mnist_source() == "keras.datasets.mnist (download)"


def test_the_three_binarization_schemes_and_their_names(rng):
    """threshold: deterministic at 0.5; static: one seeded draw, the same every epoch;
    dynamic: a fresh draw every epoch (issue 13: one name per scheme)."""
    x = rng.integers(0, 256, size=(64, 28, 28), dtype=np.uint8)
    grey = vae_tf.scale_images(x)
    assert vae_tf.BINARIZATIONS == ("threshold", "static", "dynamic")

    def two_epochs(scheme):
        ds = vae_tf.make_dataset(x, batch_size=64, shuffle=False, seed=5, binarization=scheme)
        return [next(iter(ds)).numpy() for _ in range(2)]

    t1, t2 = two_epochs("threshold")
    np.testing.assert_array_equal(t1, vae_tf.binarize(grey))
    np.testing.assert_array_equal(t1, t2)
    s1, s2 = two_epochs("static")
    np.testing.assert_array_equal(s1, s2)  # drawn once
    assert set(np.unique(s1)) == {0.0, 1.0} and not np.array_equal(s1, t1)
    assert abs(s1.mean() - grey.mean()) < 0.01
    d1, d2 = two_epochs("dynamic")
    assert set(np.unique(d1)) == {0.0, 1.0} and not np.array_equal(d1, d2)  # drawn anew each epoch


# --------------------------------------------------------------------------- the course training set (issue 25)
def test_course_training_set_is_the_first_24345_images_whatever_the_file_holds(mnist, tmp_path):
    """Colab's 60,000-image file and the offline 24,345-image copy give the same course set."""
    (x, y), (x_test, y_test) = mnist
    course = vae_tf.load_course_mnist()
    assert vae_tf.data.is_course_training_set(*course[0]) and len(course[0][0]) == vae_tf.data.COURSE_TRAIN_SIZE
    extra = np.random.default_rng(0).integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    full = tmp_path / "full.npz"
    np.savez(full, x_train=np.concatenate([x[: vae_tf.data.COURSE_TRAIN_SIZE], extra]),
             y_train=np.concatenate([y[: vae_tf.data.COURSE_TRAIN_SIZE], y[:50]]), x_test=x_test, y_test=y_test)
    (xc, yc), (xt, yt) = vae_tf.load_course_mnist(full)
    np.testing.assert_array_equal(xc, course[0][0])
    np.testing.assert_array_equal(yc, course[0][1])
    np.testing.assert_array_equal(xt, x_test)
    (xa, ya), _ = vae_tf.load_course_mnist(full, all_training_images=True)
    assert len(xa) == vae_tf.data.COURSE_TRAIN_SIZE + 50 and not vae_tf.data.is_course_training_set(xa, ya)


def test_a_file_shorter_than_the_course_set_is_refused_with_the_way_out(mnist, tmp_path):
    (x, y), (x_test, y_test) = mnist
    short = tmp_path / "short.npz"
    np.savez(short, x_train=x[:100], y_train=y[:100], x_test=x_test[:10], y_test=y_test[:10])
    with pytest.raises(vae_tf.MNISTError, match=r"first 24,345 .* has 100\b.*all_training_images=True"):
        vae_tf.load_course_mnist(short)
    (xa, _), _ = vae_tf.load_course_mnist(short, all_training_images=True)
    assert len(xa) == 100


def test_one_data_checksum_for_the_judge_the_course_set_and_the_command_line(mnist, tmp_path):
    """Issue 31: one checksum with one byte layout (shape, dtype, bytes of each array in order).
    The course set's constant and the judge's records use it over (x, y); vae-tf train and
    evaluate record it over the file's four arrays."""
    from vae_tf.app.run import load_data

    (x, y), (x_test, y_test) = mnist
    assert data_module.data_checksum(x[: data_module.COURSE_TRAIN_SIZE], y[: data_module.COURSE_TRAIN_SIZE]) == (
        data_module.COURSE_TRAIN_SHA256)
    path = tmp_path / "small.npz"
    np.savez(path, x_train=x[:50], y_train=y[:50], x_test=x_test[:20], y_test=y_test[:20])
    _, info = load_data(str(path), None)
    assert info["sha256"] == data_module.data_checksum(x[:50], y[:50], x_test[:20], y_test[:20])
    # The layout tells the arrays apart: same bytes in another shape or dtype, or another order.
    a = np.arange(12, dtype="uint8")
    assert len({data_module.data_checksum(a), data_module.data_checksum(a.reshape(3, 4)),
                data_module.data_checksum(a.view("int8")), data_module.data_checksum(a, a[:0]),
                data_module.data_checksum(a[:0], a)}) == 5
    with pytest.raises(TypeError, match="at least one array"):
        data_module.data_checksum()
