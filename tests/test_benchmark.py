"""The benchmarks: the training-throughput one (issue 5: its FLOP count and a tiny end-to-end
run) and the whole-process one (issue 16: goals from data, the breakdown, a tiny run)."""

import json
import math
import os
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


def test_the_floors_matrix_products_are_the_counted_flops_of_a_training_step():
    encoder = vae_tf.build_encoder(latent_dim=2, arch="mlp")
    decoder = vae_tf.build_decoder(latent_dim=2, arch="mlp")
    products = flops.dense_products(encoder, decoder, batch_size=128)
    # first layer 784 -> 512: forward (128, 784, 512) and weight gradient (784, 128, 512), no input
    # gradient (128, 512, 784) for the images; last layer 512 -> 784: forward (128, 512, 784),
    # weight gradient (512, 128, 784), input gradient (128, 784, 512)
    assert products.count((128, 784, 512)) == 2 and products.count((128, 512, 784)) == 1
    assert products.count((784, 128, 512)) == 1 and products.count((512, 128, 784)) == 1
    assert sum(2 * m * k * n for m, k, n in products) == 128 * flops.train_flops_per_image(encoder, decoder)
    conv = vae_tf.build_encoder(latent_dim=2, arch="conv")
    try:
        flops.dense_products(conv, decoder, batch_size=128)
        raise AssertionError("a conv encoder was accepted")
    except ValueError as e:
        assert "not Dense" in str(e)


def test_the_matmul_floor_times_the_products_with_and_without_xla():
    floor = flops.matmul_floor("mlp", batch_size=16, steps=2, repeats=1)
    assert floor["xla_step_s"] > 0 and floor["graph_step_s"] > 0
    assert floor["step_s"] == min(floor["xla_step_s"], floor["graph_step_s"])
    assert math.isclose(floor["gflops"], floor["flops_per_step"] / floor["step_s"] / 1e9)
    encoder, decoder = vae_tf.build_encoder(latent_dim=2, arch="mlp"), vae_tf.build_decoder(latent_dim=2, arch="mlp")
    assert floor["flops_per_step"] == 16 * flops.train_flops_per_image(encoder, decoder)


def test_the_whole_process_report_bounds_each_run_by_the_import_and_the_matmul_floor():
    from benchmarks.whole_process import bound_lines

    rows = [{"epochs": 6, "plain_s": 24.0, "vae_tf_s": 20.0}]
    plain = [{"impl": "plain", "epochs": 6, "stages": {"start-up and imports": t}} for t in (5.0, 4.0, 9.0)]
    runs = [*plain, {"impl": "vae-tf", "epochs": 6, "n_train": 1000, "stages": {"start-up and imports": 0.2}}]
    floors = [{"step_s": 0.0128, "batch_size": 128, "gflops": 80.0}, {"step_s": 0.0256, "batch_size": 128, "gflops": 40.0}]
    (line,) = bound_lines(rows, runs, floors)
    # the plain runs' median import 5 s + 6 epochs x 1,000 images x 0.1 ms (the faster probe) = 5.6 s
    assert "import 5.0 s + 6 x 0.10 s" in line and "= 5.6 s" in line and "80 GFLOP/s" in line
    assert f"{20.0 / 5.6:.2f}x the floor" in line and f"plain / floor = {24.0 / 5.6:.2f}x" in line
    assert bound_lines(rows, runs, []) == [] and bound_lines(rows, runs[3:], floors) == []  # no probe / no plain run


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


def test_goals_come_from_the_data_file(tmp_path):
    from benchmarks.goals import load_goals, verdict

    path = tmp_path / "goals.json"
    path.write_text(json.dumps({"whole_process": {"_note": "x", "speedup_by_epochs": {"6": 1.25}}}))
    assert load_goals("whole_process", path) == {"speedup_by_epochs": {"6": 1.25}}  # notes dropped
    assert [verdict(1.3, 1.25), verdict(1.2, 1.25), verdict(1.2, None)] == ["met", "NOT met", "no goal"]
    try:
        load_goals("train_throughput", path)
    except KeyError as e:
        assert "whole_process" in str(e)
    else:
        raise AssertionError("a benchmark without goals must raise KeyError")
    shipped = load_goals("whole_process")["speedup_by_epochs"]
    assert shipped == {"30": 1.4, "6": 1.0}  # issue 23's floors


def test_breakdown_stages_add_up_to_the_whole_process(tmp_path):
    from benchmarks.timeline import STAGES, vae_tf_breakdown

    # A fake run directory with the files and stamped lines a `vae-tf train --verbose 2` leaves.
    t0 = 1_000_000.0
    lines = [[t0 + 4.0, "vae-tf: training mlp VAE ..."], [t0 + 4.1, "Epoch 1/2"], [t0 + 10.5, "9/9 - 6s - loss: 200"],
             [t0 + 10.6, "Epoch 2/2"], [t0 + 11.7, "9/9 - 1s - loss: 180"], [t0 + 19.0, "vae-tf: done: ..."]]  # fmt: skip
    files = {"model.keras": 13.0, "history.json": 13.2, "latent.png": 14.0, "manifold.png": 15.5,
             "training_curves.png": 16.0, "metrics.json": 18.9}  # fmt: skip
    for name, t in files.items():
        (tmp_path / name).write_text("{}")
    (tmp_path / "history.json").write_text(json.dumps({"epoch_time_s": [6.0, 1.0]}))
    (tmp_path / "metrics.json").write_text(json.dumps({"wall_time_s": 15.9, "test_neg_elbo_nats": 170.0}))
    for name, t in files.items():
        os.utime(tmp_path / name, (t0 + t, t0 + t))
    parts = vae_tf_breakdown({"spawn": t0, "exit": t0 + 20.0, "lines": lines}, tmp_path)
    stages = parts["stages"]
    assert list(stages) == list(STAGES)
    assert math.isclose(sum(stages.values()), 20.0)
    assert math.isclose(stages["start-up and imports"], 3.0)  # metrics.json at 18.9 minus its wall time 15.9
    assert math.isclose(stages["epoch 1"], 6.0) and math.isclose(stages["later epochs"], 1.0)
    assert math.isclose(stages["other fit work"], 11.7 - 4.0 - 7.0)
    assert math.isclose(stages["evaluation"], 13.2 - 11.7) and math.isclose(stages["figures"], 16.0 - 13.2)
    assert math.isclose(parts["figures"]["manifold.png"], 1.5)
    assert parts["metrics"]["test_neg_elbo_nats"] == 170.0


def test_whole_process_benchmark_runs_end_to_end(tmp_path):
    out, goals = tmp_path / "whole.json", tmp_path / "goals.json"
    goals.write_text(json.dumps({"whole_process": {"speedup_by_epochs": {"2": 0.01}}}))
    script = ROOT / "benchmarks" / "whole_process.py"
    args = ["--tiny", "--goals", str(goals), "--json", str(out)]
    env = {**os.environ, "VAE_TF_QUICK": "1"}  # the benchmark must not let quick mode change the runs
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    runs = results["runs"]
    # interleaved, plain first
    assert [(r["impl"], r["epochs"]) for r in runs] == [("plain", 2), ("vae-tf", 2)]
    for run in runs:
        assert math.isclose(sum(run["stages"].values()), run["wall_s"], rel_tol=1e-6)
        assert run["stages"]["epoch 1"] > run["stages"]["later epochs"] > 0  # epoch 1 pays for tracing
        assert 100 < run["test_neg_elbo"] < 800  # nats per image
    for vae in runs[1:]:
        assert vae["config"]["quick"] is False and vae["config"]["epochs"] == 2
        assert vae["stages"]["figures"] > 0 and set(vae["figures"]) >= {"latent.png", "samples.png"}
    row = results["summary"][0]
    assert row["goal"] == 0.01 and row["verdict"] == "met" and "speedup_warm" not in row
    assert row["speedup"] == row["plain_s"] / row["vae_tf_s"]
    assert "whole process, 2 epochs: plain / vae-tf = " in proc.stdout and "(goal >= 0.01x): met" in proc.stdout
    assert all(len(times) == 1 and times[0] > 0 for times in results["probes"].values())
    assert results["floors"] == [] and all(r["n_train"] == 540 for r in runs[1:])  # --tiny: no floor probe
    assert "| evaluation |" in proc.stdout and "| total |" in proc.stdout
    # --report re-prints the same report from the saved results, running nothing
    again = subprocess.run([sys.executable, str(script), "--report", str(out), "--goals", str(goals)],
                           capture_output=True, text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip() and again.stdout.strip() in proc.stdout
