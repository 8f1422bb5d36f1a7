"""Any image data from the command line (issue 32, point 1): ``--data`` npz files of Fashion-MNIST's
and CIFAR-10's shapes, ``--dataset`` through ``keras.datasets`` (monkeypatched: no download), an
``--images`` folder of PNGs; evaluate and sample on such runs; every bad input one line, exit 2."""

from __future__ import annotations

import json

import keras
import matplotlib.image
import numpy as np
import pytest

from vae_tf.app import cli

FAST = ["--quick", "--epochs", "1", "--batch-size", "64", "--verbose", "0"]


def _arrays(shape, n_train=300, n_test=100, labels=True, seed=0):
    """Synthetic uint8 images of ``shape`` with a little structure (a bright square per class)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, 10, n).astype("uint8")
        x = rng.integers(0, 60, (n, *shape)).astype("uint8")
        for i, label in enumerate(y):
            x[i, 2 * label % shape[0] : 2 * label % shape[0] + 6, 4:10] = 220
        out[f"x_{split}"] = x
        if labels:
            out[f"y_{split}"] = y[:, None] if len(shape) == 3 else y  # CIFAR-10's labels are (n, 1)
    return out


def _npz(path, shape, **kwargs):
    np.savez(path, **_arrays(shape, **kwargs))
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    return {
        "fashion": _npz(d / "fashion.npz", (28, 28)),
        "cifar": _npz(d / "cifar.npz", (32, 32, 3)),
        "unlabelled": _npz(d / "unlabelled.npz", (28, 28), labels=False),
        "odd": _npz(d / "odd.npz", (30, 30)),
        "rgba": _npz(d / "rgba.npz", (32, 32, 4)),
        "dir": d,
    }


def _main(capsys, *args):
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _metrics(out):
    return json.loads((out / "metrics.json").read_text())


def _png_folder(root, shape=(30, 30, 3), classes=("cats", "dogs"), per_class=12):
    rng = np.random.default_rng(3)
    for c, name in enumerate(classes):
        folder = root / name if name else root
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 80, shape).astype("uint8")
            img[4:12, 4:12] = 200 if c else 90
            keras.utils.save_img(folder / f"{i:02d}.png", img, scale=False)
    return root


def test_fashion_mnist_shape_trains_evaluates_and_samples(files, tmp_path, capsys):
    out = tmp_path / "fashion"
    code, stdout, err = _main(capsys, "train", "--data", files["fashion"], "--out", str(out), *FAST)
    assert code == 0, err
    assert "28x28x1 images from" in stdout
    data = _metrics(out)["data"]
    assert data["image_shape"] == [28, 28, 1] and data["labels"] is True and data["kind"] == "file"
    assert data["n_train_file"] == 300 and data["n_test_file"] == 100
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["data"]["sha256"] == data["sha256"]
    code, stdout, err = _main(capsys, "evaluate", str(out), "--iwae-samples", "4", "--no-judge")
    assert code == 0, err
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["data"]["same_as_training_run"] is True and evaluation["data"]["n_test_used"] == 100
    assert len(evaluation["test_per_digit"]) == 10 and "judge_skipped" not in evaluation
    code, stdout, err = _main(capsys, "sample", str(out), "--n", "6", "--out", str(tmp_path / "s.png"),
                              "--npy", str(tmp_path / "s.npy"))
    assert code == 0, err
    assert np.load(tmp_path / "s.npy").shape == (6, 28, 28, 1)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_cifar10_shape_trains_in_colour_and_evaluate_skips_the_judge(arch, files, tmp_path, capsys):
    out = tmp_path / arch
    code, stdout, err = _main(capsys, "train", "--data", files["cifar"], "--arch", arch, "--out", str(out), *FAST)
    assert code == 0, err
    assert "32x32x3 images" in stdout
    assert _metrics(out)["data"]["image_shape"] == [32, 32, 3]
    model = keras.models.load_model(out / "model.keras", compile=False)
    assert tuple(model.image_shape) == (32, 32, 3)
    recon = matplotlib.image.imread(out / "reconstructions.png")
    assert recon.ndim == 3 and np.abs(recon[..., 0] - recon[..., 1]).max() > 0.1  # the originals in colour
    code, stdout, err = _main(capsys, "evaluate", str(out), "--iwae-samples", "4")
    assert code == 0, err
    assert "judge scores skipped: the judge reads 28x28 grey digits; these images are 32x32x3" in stdout
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert "sample_quality" not in evaluation and evaluation["data"]["image_shape"] == [32, 32, 3]
    assert np.isfinite(evaluation["test"]["iwae_nll_nats"])
    code, stdout, err = _main(capsys, "sample", str(out), "--n", "4", "--seed", "1", "--out", str(tmp_path / "s.png"),
                              "--npy", str(tmp_path / "s.npy"))
    assert code == 0, err
    assert np.load(tmp_path / "s.npy").shape == (4, 32, 32, 3)
    assert matplotlib.image.imread(tmp_path / "s.png").ndim == 3


def test_unlabelled_npz_trains_but_not_conditionally(files, tmp_path, capsys):
    out = tmp_path / "unlabelled"
    code, _, err = _main(capsys, "train", "--data", files["unlabelled"], "--latent-dim", "3", "--out", str(out), *FAST)
    assert code == 0, err
    assert _metrics(out)["data"]["labels"] is False
    code, stdout, err = _main(capsys, "evaluate", str(out), "--iwae-samples", "2")
    assert code == 0, err
    assert "judge scores skipped: the judge is trained on the data's digit labels 0-9; these images have none" in stdout
    code, _, err = _main(capsys, "train", "--data", files["unlabelled"], "--conditional", "--out", str(tmp_path / "c"), *FAST)
    assert code == 2 and err.count("\n") == 1 and "drop --conditional" in err, err


def test_dataset_by_name_goes_through_keras_datasets(monkeypatch, tmp_path, capsys):
    arrays = _arrays((28, 28), seed=5)
    calls = []

    def load_data():
        calls.append(1)
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", load_data)
    out = tmp_path / "fm"
    code, stdout, err = _main(capsys, "train", "--dataset", "fashion_mnist", "--out", str(out), *FAST)
    assert code == 0, err
    assert "from keras.datasets.fashion_mnist" in stdout and calls == [1]
    data = _metrics(out)["data"]
    assert data["kind"] == "keras" and data["dataset"] == "fashion_mnist" and data["n_train_file"] == 300
    # a resumed run reads the same dataset by name, and checks it by checksum
    code, _, err = _main(capsys, "train", "--out", str(out), "--resume", "--epochs", "2", "--verbose", "0")
    assert code == 0, err
    assert calls == [1, 1] and _metrics(out)["epochs"] == 2
    code, stdout, err = _main(capsys, "evaluate", str(out), "--iwae-samples", "2")
    assert code == 0, err
    assert "judge scores skipped: the judge is trained on an MNIST-layout .npz" in stdout

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    code, _, err = _main(capsys, "train", "--dataset", "fashion_mnist", "--out", str(tmp_path / "x"), *FAST)
    assert code == 2 and err.count("\n") == 1 and "--data FILE.npz" in err, err


def test_image_folder_with_class_subfolders(tmp_path, capsys):
    folder = _png_folder(tmp_path / "pets")
    out = tmp_path / "pets_run"
    code, stdout, err = _main(capsys, "train", "--images", str(folder), "--image-size", "16x16", "--arch", "conv",
                              "--conditional", "--out", str(out), *FAST)
    assert code == 0, err
    data = _metrics(out)["data"]
    assert data["kind"] == "images" and data["image_shape"] == [16, 16, 3] and data["channels"] == 3
    assert data["class_names"] == ["cats", "dogs"] and data["num_classes"] == 2
    # 24 images: a fifth (5) for testing, the rest for training, the same split every time
    assert (data["n_train_file"], data["n_test_file"]) == (19, 5) and data["split_seed"] == 0
    # --resume reads the folder again the same way (size, channels, split) from the record
    code, _, err = _main(capsys, "train", "--out", str(out), "--resume", "--epochs", "2", "--verbose", "0")
    assert code == 0, err
    assert _metrics(out)["data"]["sha256"] == data["sha256"]
    # grey, at the files' own size, without sub-folders: no labels
    flat = _png_folder(tmp_path / "flat", shape=(12, 20, 1), classes=("",))
    code, _, err = _main(capsys, "train", "--images", str(flat), "--test-fraction", "0.25", "--out", str(tmp_path / "f"), *FAST)
    assert code == 0, err
    data = _metrics(tmp_path / "f")["data"]
    assert data["image_shape"] == [12, 20, 1] and data["labels"] is False and data["n_test_file"] == 3


def test_bad_data_gives_one_line_and_exit_2(files, tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no images here")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"not a png at all")
    pngs = _png_folder(tmp_path / "pngs", shape=(30, 30, 3), classes=("",), per_class=6)
    out = str(tmp_path / "out")
    cases = [
        (["--data", files["odd"], "--arch", "conv"], "divisible by 4, but these images are 30x30x1: use --arch mlp."),
        (["--images", str(pngs), "--arch", "conv"], "use --arch mlp, or --image-size 32 32"),
        (["--data", files["rgba"]], "with 1 (grey) or 3 (RGB) channels"),
        (["--images", str(tmp_path / "notes")], "holds no image files"),
        (["--images", str(tmp_path / "broken")], "an image could not be read"),
        (["--images", files["fashion"]], "is not a folder"),
        (["--data", files["fashion"], "--image-size", "16", "16"], "apply to a folder of images"),
        (["--channels", "3"], "add --images DIR"),
        (["--data", files["fashion"], "--dataset", "cifar10"], "give only one"),
        (["--images", str(pngs), "--image-size", "3x"], "expected H W or HxW"),
        (["--images", str(pngs), "--test-fraction", "1"], "argument --test-fraction"),
        (["--images", str(pngs), "--test-fraction", "0.9"], "need at least 2"),
        (["--dataset", "imagenet"], "invalid choice"),
    ]
    for args, expected in cases:
        code, _, err = _main(capsys, "train", *args, "--out", out, *FAST)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (args, err)
        assert err.startswith(("vae-tf: error:", "vae-tf train: error:")) and expected in err, (args, err)
    assert not (tmp_path / "out").exists()


def test_evaluate_refuses_images_of_another_shape(files, tmp_path, capsys):
    out = tmp_path / "run"
    assert _main(capsys, "train", "--data", files["fashion"], "--out", str(out), *FAST)[0] == 0
    code, _, err = _main(capsys, "evaluate", str(out), "--data", files["cifar"], "--no-judge")
    assert code == 2 and err.count("\n") == 1, err
    assert "the model takes 28x28x1 images but" in err and "32x32x3" in err
    # another file of the right shape is scored, and said to be another file
    code, stdout, err = _main(capsys, "evaluate", str(out), "--data", files["unlabelled"], "--iwae-samples", "2", "--no-judge")
    assert code == 0, err
    assert "NOT the training run's file" in stdout
