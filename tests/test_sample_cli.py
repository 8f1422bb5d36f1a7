"""``vae-tf sample``: a PNG grid (and --npy) from quick runs, and bad input (exit 2)."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
from trained_runs import conditional_dir, our_lines, run_dir, run_vae_tf  # noqa: F401 (fixtures)


def sample(path, *args):
    return run_vae_tf("sample", str(path), *args)


def test_writes_png_and_npy_reproducibly(run_dir, tmp_path):
    for name in ("a", "b"):
        result = sample(run_dir, "--n", "7", "--seed", "5", "--out", str(tmp_path / f"{name}.png"),
                        "--npy", str(tmp_path / f"{name}.npy"))
        assert result.returncode == 0, result.stderr[-2000:]
        assert "wrote 7 samples" in result.stdout
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (7, 28, 28, 1) and a.dtype == np.float32
    assert np.all((a >= 0) & (a <= 1)) and a.std() > 0
    np.testing.assert_array_equal(a, b)  # same seed, same images
    assert matplotlib.image.imread(tmp_path / "a.png").ndim == 3
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_conditional_model_takes_a_digit(conditional_dir, tmp_path):
    result = sample(conditional_dir, "--n", "4", "--digit", "7", "--seed", "1", "--out", str(tmp_path / "7.png"),
                    "--npy", str(tmp_path / "7.npy"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "digit 7" in result.stdout and (tmp_path / "7.png").is_file()
    # a quick run's samples are rough: the command says so and what to do (issue 24)
    assert "this is a --quick run (" in result.stdout and "without --quick" in result.stdout
    other = sample(conditional_dir, "--n", "4", "--digit", "1", "--seed", "1", "--out", str(tmp_path / "1.png"),
                   "--npy", str(tmp_path / "1.npy"))
    assert other.returncode == 0
    # same seed (same z), another digit: other images
    assert not np.allclose(np.load(tmp_path / "7.npy"), np.load(tmp_path / "1.npy"))


@pytest.mark.parametrize(
    "which, args, words",
    [
        ("conditional_dir", ["--digit", "10"], "--digit must be in 0..9"),
        ("conditional_dir", ["--digit", "-1"], "--digit must be in 0..9"),
        ("run_dir", ["--digit", "3"], "not digit-conditioned"),
        ("run_dir", ["--n", "0"], "--n"),
    ],
)
def test_bad_input_exits_2(request, which, args, words, tmp_path):
    argv = ["--n", "4", *args] if "--n" not in args else args
    result = sample(request.getfixturevalue(which), *argv, "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    lines = our_lines(result.stderr)
    assert len(lines) == 1 and words in lines[0], result.stderr[-1000:]
    assert not (tmp_path / "x.png").exists()


def test_missing_and_non_model_paths_exit_2(tmp_path):
    not_model = tmp_path / "model.keras"
    not_model.write_bytes(b"\x00" * 100)
    for path, words in ((tmp_path / "nowhere", "does not exist"), (not_model, "is not a Keras model file")):
        result = sample(path, "--n", "2", "--out", str(tmp_path / "x.png"))
        assert result.returncode == 2
        lines = our_lines(result.stderr)
        assert len(lines) == 1 and words in lines[0], result.stderr[-1000:]


def test_no_quick_run_note_for_full_runs_and_bare_model_files():
    from vae_tf.app.sampling_cmd import quick_run_note

    assert quick_run_note({}) is None and quick_run_note({"config": {"quick": False, "epochs": 30}}) is None
    assert "--quick run (2 epochs on 2000" in quick_run_note({"config": {"quick": True, "epochs": 2, "train_size": 2000}})
