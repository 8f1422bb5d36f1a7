"""``vae-tf encode`` and ``vae-tf reconstruct`` (issue 32, point 3): codes equal the model's encoder on
the same images (npy and csv), reconstructions as npy and as a colour grid, from an .npz, an .npy
or a folder; every bad input one line, exit 2."""

from __future__ import annotations

import csv

import keras
import matplotlib.image
import numpy as np
import pytest

from vae_tf.app import cli

FAST = ["--quick", "--epochs", "1", "--batch-size", "64", "--verbose", "0"]


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory):
    """A one-epoch conv VAE on synthetic 32x32x3 images, and its data file."""
    d = tmp_path_factory.mktemp("encode")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (240, 32, 32, 3)).astype("uint8")
    x[:, 8:20, 8:20, 0] = 250  # a red square: something to learn, and colour to see
    np.savez(d / "cifar.npz", x_train=x[:200], x_test=x[200:], extra=x[:7])
    out = d / "run"
    assert cli.main(["train", "--data", str(d / "cifar.npz"), "--arch", "conv", "--latent-dim", "3",
                     "--out", str(out), *FAST]) == 0
    return out, d / "cifar.npz", x[200:]


def _main(capsys, *args):
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_encode_writes_the_encoders_means_and_log_variances(cifar_run, tmp_path, capsys):
    run, data, x_test = cifar_run
    model = keras.models.load_model(run / "model.keras", compile=False)
    z_mean, z_log_var = (keras.ops.convert_to_numpy(a) for a in model.encoder(x_test.astype("float32") / 255.0))
    code, stdout, err = _main(capsys, "encode", str(run), "--images", str(data), "--out", str(tmp_path / "codes.npy"))
    assert code == 0, err
    assert "latent means and log-variances of 40 images (latent_dim 3)" in stdout
    codes = np.load(tmp_path / "codes.npy")
    assert codes.shape == (40, 2, 3) and codes.dtype == np.float32
    np.testing.assert_allclose(codes[:, 0], z_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(codes[:, 1], z_log_var, rtol=1e-5, atol=1e-6)
    code, _, err = _main(capsys, "encode", str(run / "model.keras"), "--images", str(data), "--out", str(tmp_path / "c.csv"))
    assert code == 0, err
    with open(tmp_path / "c.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [f"z_mean_{i}" for i in range(3)] + [f"z_log_var_{i}" for i in range(3)]
    table = np.array(rows[1:], dtype="float32")
    np.testing.assert_array_equal(table, codes.reshape(40, 6))  # 9 significant digits read back exactly
    # --key picks another array of the .npz
    code, _, err = _main(capsys, "encode", str(run), "--images", str(data), "--key", "extra", "--out", str(tmp_path / "e.npy"))
    assert code == 0, err
    assert np.load(tmp_path / "e.npy").shape == (7, 2, 3)


def test_reconstruct_writes_pixel_means_and_a_colour_grid(cifar_run, tmp_path, capsys):
    run, _, x_test = cifar_run
    np.save(tmp_path / "mine.npy", x_test[:12].astype("float32") / 255.0)  # floats in [0, 1] are taken as they are
    code, stdout, err = _main(capsys, "reconstruct", str(run), "--images", str(tmp_path / "mine.npy"),
                              "--out", str(tmp_path / "r.npy"))
    assert code == 0, err
    recon = np.load(tmp_path / "r.npy")
    model = keras.models.load_model(run / "model.keras", compile=False)
    assert recon.shape == (12, 32, 32, 3) and recon.dtype == np.float32 and recon.min() >= 0 and recon.max() <= 1
    np.testing.assert_allclose(recon, model.reconstruct(x_test[:12]), rtol=1e-5, atol=1e-6)
    code, stdout, err = _main(capsys, "reconstruct", str(run), "--images", str(tmp_path / "mine.npy"),
                              "--out", str(tmp_path / "r.png"))
    assert code == 0, err
    grid = matplotlib.image.imread(tmp_path / "r.png")
    assert grid.ndim == 3 and np.abs(grid[..., 0] - grid[..., 2]).max() > 0.3  # the red squares, in colour


def test_a_folder_of_images_is_read_at_the_models_size(cifar_run, tmp_path, capsys):
    run, _, x_test = cifar_run
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        keras.utils.save_img(folder / f"{i}.png", np.kron(x_test[i], np.ones((2, 2, 1), "uint8")), scale=False)  # 64x64
    code, stdout, err = _main(capsys, "encode", str(run), "--images", str(folder), "--out", str(tmp_path / "f.npy"))
    assert code == 0, err
    codes = np.load(tmp_path / "f.npy")
    assert codes.shape == (5, 2, 3) and np.all(np.isfinite(codes))


def test_bad_input_gives_one_line_and_exit_2(cifar_run, tmp_path, capsys):
    run, data, _ = cifar_run
    np.save(tmp_path / "grey.npy", np.zeros((4, 28, 28), "uint8"))
    np.save(tmp_path / "big.npy", np.full((4, 32, 32, 3), 2.0, "float32"))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("text")
    (tmp_path / "a.txt").write_text("text")
    cases = [
        (["encode", str(run), "--images", str(tmp_path / "grey.npy"), "--out", "c.npy"],
         "the model takes (n, 32, 32, 3) (32x32x3); pass images of that shape"),
        (["encode", str(run), "--images", str(data), "--key", "x_val", "--out", "c.npy"], "pass --key NAME"),
        (["encode", str(run), "--images", str(tmp_path / "grey.npy"), "--key", "x", "--out", "c.npy"], "drop --key"),
        (["encode", str(run), "--images", str(tmp_path / "big.npy"), "--out", "c.npy"], "must hold pixel values in [0, 1]"),
        (["encode", str(run), "--images", str(tmp_path / "notes"), "--out", "c.npy"], "holds no image files"),
        (["encode", str(run), "--images", str(tmp_path / "a.txt"), "--out", "c.npy"], "not an .npz, an .npy or a folder"),
        (["encode", str(run), "--images", str(tmp_path / "missing.npz"), "--out", "c.npy"], "does not exist"),
        (["encode", str(run), "--images", str(data), "--out", str(tmp_path / "c.png")], "one of .npy, .csv"),
        (["reconstruct", str(run), "--images", str(data), "--out", str(tmp_path / "r.csv")], "one of .npy, .png"),
        (["reconstruct", str(run), "--images", str(data), "--out", str(tmp_path / "no" / "r.npy")], "does not exist"),
        (["reconstruct", str(tmp_path), "--images", str(data), "--out", str(tmp_path / "r.npy")], "holds no model.keras"),
        (["encode", str(run), "--out", "c.npy"], "--images"),
    ]
    for args, expected in cases:
        code, _, err = _main(capsys, *[str(tmp_path / a) if a in ("c.npy",) else a for a in args])
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (args, err)
        assert err.startswith(("vae-tf: error:", f"vae-tf {args[0]}: error:")) and expected in err, (args, err)
    assert not (tmp_path / "c.npy").exists()
