"""The benchmarks: the training-throughput one (issue 5: its FLOP count and a tiny end-to-end
run) and the whole-process one (issue 16: goals from data, the breakdown, a tiny run)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import vae_tf

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "train_throughput.py"
sys.path.insert(0, str(ROOT))
from benchmarks import flops  # noqa: E402


def test_training_flops_per_image_of_the_dense_vae():
    encoder = vae_tf.build_encoder(latent_dim=2, arch="mlp")
    decoder = vae_tf.build_decoder(latent_dim=2, arch="mlp")
    # forward multiply-adds: 784x512, 512x2 (z_mean) and 512x2 (z_log_var); 2x512, 512x784
    forward = 2 * (784 * 512 + 512 * 2 + 512 * 2) + 2 * (2 * 512 + 512 * 784)
    # x3 for the weight and input gradients, minus the input gradient of the first layer
    assert flops.train_flops_per_image(encoder, decoder) == 3 * forward - 2 * 784 * 512


def test_benchmark_runs_end_to_end_and_reports_each_configuration(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--arch", "mlp", "--epochs", "2", "--repeats", "2", "--n-train", "256", "--no-pytorch", "--json", str(out)]
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| mlp | baseline |" in proc.stdout and "| mlp | vae_tf |" in proc.stdout
    assert "mlp: vae_tf / baseline = " in proc.stdout and "held-out -ELBO, vae_tf - baseline" in proc.stdout
    results = json.loads(out.read_text())
    runs = results["runs"]
    assert [(r["name"], r["config"]["seed"]) for r in runs] == [("baseline", 0), ("vae_tf", 0), ("baseline", 1), ("vae_tf", 1)]
    for run in runs:
        assert run["n_train"] == 256 and run["images_per_s"] > 0 and run["max_rss_mib"] > 0
        assert math.isfinite(run["test_neg_elbo"]) and 100 < run["test_neg_elbo"] < 800  # nats per image
    fast = [r for r in runs if r["name"] == "vae_tf"]
    assert all(r["jit_compile"] and r["steps_per_execution"] == 32 for r in fast)  # the package's defaults
    assert fast[0]["test_neg_elbo"] != fast[1]["test_neg_elbo"]  # different seeds per repeat
