"""Training throughput of ``vae_tf``'s default training path against a plain Keras 3 baseline.

One command, from the project root of a fresh clone (MNIST found as by ``vae_tf.load_mnist``)::

    python benchmarks/train_throughput.py                 # both archs, defaults below
    python benchmarks/train_throughput.py --arch mlp --epochs 4 --repeats 5
    python benchmarks/train_throughput.py --ablation      # also each speed-up switched off

Configurations (same encoder/decoder, same Bernoulli loss, same data, batch size 128):

* ``baseline``: the keras.io VAE example written the straightforward way: a small
  ``keras.Model`` subclass with a ``GradientTape`` ``train_step``,
  ``compile(optimizer=keras.optimizers.Adam())`` with default settings and
  ``fit(x_numpy, batch_size=128)``.
* ``vae_tf``: ``vae_tf.VAE`` + ``vae.compile(optimizer=keras.optimizers.Adam())`` with the
  package's defaults + ``fit(vae_tf.make_dataset(x_uint8, batch_size=128))``.
* with ``--ablation``, also ``vae_tf`` with XLA forced on or off, with
  ``steps_per_execution=1``, and with both Keras defaults (what each default contributes).

Every run is a fresh child process (so peak memory, ``ru_maxrss``, is per configuration),
and runs are interleaved (baseline, vae_tf, baseline, vae_tf, ...) so that load from other
programs on a shared machine hits all configurations alike; the table reports medians over
repeats; repeat ``r`` uses seed ``--seed + r`` (weights, noise and data order), so the
held-out ELBO is compared across seeds (mean ± sd). Throughput is training images per second
(wall clock) over the epochs after the first (the first epoch includes tracing and XLA
compilation). "images per CPU-s" divides by
the process's CPU time instead (all threads): less sensitive to other programs, but it also
charges idle spinning of thread pools and says nothing about parallel speed-up. After training, each run reports the held-out
negative ELBO (single-sample, nats per image, seeded) on the 10,000 test images, computed
by the same code for every configuration, so a speed-up that changed the numerics would show.

FLOPs are counted analytically from the layer shapes (multiply-add = 2 FLOPs; Dense
``2*in*out``, Conv2D ``2*k*k*Cin*Cout*Hout*Wout``, Conv2DTranspose ``2*k*k*Cin*Cout*Hin*Win``);
a training step costs 3x the forward pass (forward, gradient w.r.t. activations, gradient
w.r.t. weights) minus the input gradient of the first layer, which is not needed. The physical limit is the fp32 peak
``cores x clock x SIMD lanes x 2 (FMA) x FMA units per core`` read from ``/proc/cpuinfo``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a clone without `pip install -e .`
    sys.path.insert(0, str(ROOT))
BATCH_SIZE = 128
LATENT_DIM = 2


# --------------------------------------------------------------------------- child process
def _baseline_model_class():
    """The keras.io VAE example, written plainly (custom train_step, default compile)."""
    import keras
    import tensorflow as tf
    from keras import ops

    class PlainVAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

        def train_step(self, data):
            with tf.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                logits = self.decoder(z)
                reconstruction_loss = ops.mean(
                    ops.sum(keras.losses.binary_crossentropy(data, logits, from_logits=True), axis=(1, 2))
                )
                kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
                kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
                total_loss = reconstruction_loss + kl_loss
            grads = tape.gradient(total_loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {m.name: m.result() for m in self.metrics}

    return PlainVAE


def _held_out_neg_elbo(encoder, decoder, x, seed: int = 1234) -> float:
    """Single-sample negative ELBO, nats per image, mean over ``x`` (float32 in [0, 1])."""
    import keras
    import numpy as np

    import vae_tf

    keras.utils.set_random_seed(seed)
    total = 0.0
    for i in range(0, len(x), 1000):
        xb = x[i : i + 1000]
        z_mean, z_log_var, z = encoder(xb, training=False)
        logits = decoder(z, training=False)
        neg = -vae_tf.elbo(xb, logits, z_mean, z_log_var)
        total += float(np.sum(keras.ops.convert_to_numpy(neg)))
    return total / len(x)


def run_child(cfg: dict) -> dict:
    """Train one configuration; return throughput, peak memory and held-out -ELBO."""
    import keras
    import numpy as np

    import vae_tf

    (x_train, _), (x_test, _) = vae_tf.load_mnist()
    if cfg.get("n_train"):
        x_train = x_train[: cfg["n_train"]]
    x_test_f = vae_tf.scale_images(x_test)
    keras.utils.set_random_seed(cfg["seed"])
    encoder = vae_tf.build_encoder(latent_dim=LATENT_DIM, arch=cfg["arch"], seed=cfg["seed"])
    decoder = vae_tf.build_decoder(latent_dim=LATENT_DIM, arch=cfg["arch"])

    epoch_times: list[float] = []
    cpu_times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            epoch_times.append(time.perf_counter() - self.t0)
            cpu_times.append(time.process_time() - self.c0)

    if cfg["impl"] == "baseline":
        model = _baseline_model_class()(encoder, decoder)
        model.compile(optimizer=keras.optimizers.Adam())
        x_fit = vae_tf.scale_images(x_train)  # float32 NumPy array, as in the keras.io example
        model.fit(x_fit, epochs=cfg["epochs"], batch_size=cfg["batch_size"], verbose=0, callbacks=[Timer()])
        jit, spe = model.jit_compile, model.steps_per_execution
    else:
        model = vae_tf.VAE(encoder, decoder, seed=cfg["seed"])
        model.compile(optimizer=keras.optimizers.Adam(), **cfg.get("compile", {}))
        ds = vae_tf.make_dataset(x_train, batch_size=cfg["batch_size"], seed=cfg["seed"])
        if cfg.get("autotune"):  # the input pipeline as it was: tf.data's autotuner on
            import tensorflow as tf

            options = tf.data.Options()
            options.autotune.enabled = True
            ds = ds.with_options(options)
        model.fit(ds, epochs=cfg["epochs"], verbose=0, callbacks=[Timer()])
        jit, spe = model.jit_compile, model.steps_per_execution
    test_neg_elbo = _held_out_neg_elbo(encoder, decoder, x_test_f)  # before the peak-memory reading
    return {
        **_timings(len(x_train), epoch_times, cpu_times),
        "jit_compile": bool(jit),
        "steps_per_execution": int(spe),
        "test_neg_elbo": test_neg_elbo,
        "train_flops_per_image": train_flops_per_image(encoder, decoder),
        "params": int(sum(int(np.prod(w.shape)) for w in encoder.trainable_weights + decoder.trainable_weights)),
    }


def _timings(n_train: int, epoch_times: list[float], cpu_times: list[float]) -> dict:
    """Throughput over the epochs after the first (wall clock and process CPU time) and the
    process's peak memory: the fields every configuration's child reports."""
    timed = epoch_times[1:] or epoch_times
    return {
        "images_per_s": n_train / statistics.median(timed),
        "images_per_cpu_s": n_train / statistics.median(cpu_times[1:] or cpu_times),
        "first_epoch_s": epoch_times[0],
        "epoch_s": timed,
        "n_train": n_train,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def _torch_vae(arch: str):
    """The same encoder and decoder as ``vae_tf.build_encoder``/``build_decoder`` (2-D latent),
    written plainly in PyTorch; returns ``(encoder, z_mean_head, z_log_var_head, decoder)``."""
    from torch import nn

    if arch == "mlp":
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU())
        width = 512
        decoder = nn.Sequential(nn.Linear(LATENT_DIM, 512), nn.ReLU(), nn.Linear(512, 784), nn.Unflatten(1, (1, 28, 28)))
    else:
        encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(7 * 7 * 64, 16), nn.ReLU(),
        )  # fmt: skip
        width = 16
        decoder = nn.Sequential(
            nn.Linear(LATENT_DIM, 16), nn.ReLU(), nn.Linear(16, 7 * 7 * 64), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 3, padding=1),
        )  # fmt: skip
    return encoder, nn.Linear(width, LATENT_DIM), nn.Linear(width, LATENT_DIM), decoder


def run_torch_child(cfg: dict) -> dict:
    """The PyTorch reference: the same model and loss, the usual PyTorch training loop
    (a shuffled index per epoch, ``torch.optim.Adam()`` with its defaults, batch 128)."""
    import torch
    import torch.nn.functional as F

    import vae_tf

    (x_train, _), (x_test, _) = vae_tf.load_mnist()
    if cfg.get("n_train"):
        x_train = x_train[: cfg["n_train"]]
    torch.manual_seed(cfg["seed"])
    x = torch.from_numpy(vae_tf.scale_images(x_train)).permute(0, 3, 1, 2).contiguous()  # NCHW
    x_te = torch.from_numpy(vae_tf.scale_images(x_test)).permute(0, 3, 1, 2).contiguous()
    encoder, mean_head, log_var_head, decoder = _torch_vae(cfg["arch"])
    modules = torch.nn.ModuleList([encoder, mean_head, log_var_head, decoder])
    optimizer = torch.optim.Adam(modules.parameters())

    def neg_elbo(xb):
        h = encoder(xb)
        z_mean, z_log_var = mean_head(h), log_var_head(h)
        z = z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)
        logits = decoder(z)
        reconstruction = F.binary_cross_entropy_with_logits(logits, xb, reduction="none").sum(dim=(1, 2, 3))
        kl = -0.5 * (1 + z_log_var - z_mean.square() - z_log_var.exp()).sum(dim=1)
        return reconstruction + kl

    epoch_times, cpu_times = [], []
    n, bs = len(x), cfg["batch_size"]
    modules.train()
    for _ in range(cfg["epochs"]):
        t0, c0 = time.perf_counter(), time.process_time()
        order = torch.randperm(n)
        for i in range(0, n, bs):
            loss = neg_elbo(x[order[i : i + bs]]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        epoch_times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    modules.eval()
    torch.manual_seed(1234)
    with torch.no_grad():
        test = float(sum(neg_elbo(x_te[i : i + 1000]).sum() for i in range(0, len(x_te), 1000))) / len(x_te)
    return {
        **_timings(n, epoch_times, cpu_times),
        "jit_compile": False,
        "steps_per_execution": 1,
        "test_neg_elbo": test,
        "train_flops_per_image": _keras_train_flops(cfg["arch"]),
        "threads": torch.get_num_threads(),
        "framework": f"torch {torch.__version__}",
        "params": int(sum(p.numel() for p in modules.parameters())),
    }


def _keras_train_flops(arch: str) -> int:
    import vae_tf

    encoder = vae_tf.build_encoder(latent_dim=LATENT_DIM, arch=arch)
    decoder = vae_tf.build_decoder(latent_dim=LATENT_DIM, arch=arch)
    return train_flops_per_image(encoder, decoder)


# --------------------------------------------------------------------------- FLOPs and peak
def layer_flops(model) -> list[int]:
    """Forward-pass FLOPs per example of each Dense/conv layer of a functional model, in order."""
    import keras
    import numpy as np

    flops = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            flops.append(2 * int(layer.kernel.shape[0]) * int(layer.kernel.shape[1]))
        elif isinstance(layer, keras.layers.Conv2DTranspose):  # each input pixel scatters a k x k x Cout patch
            k = int(np.prod(layer.kernel_size))
            _, h_in, w_in, c_in = layer.input.shape
            flops.append(2 * k * int(c_in) * layer.filters * int(h_in) * int(w_in))
        elif isinstance(layer, keras.layers.Conv2D):
            k = int(np.prod(layer.kernel_size))
            c_in = int(layer.input.shape[-1])
            _, h_out, w_out, _ = layer.output.shape
            flops.append(2 * k * c_in * layer.filters * int(h_out) * int(w_out))
    return flops


def train_flops_per_image(encoder, decoder) -> int:
    """FLOPs of one training step per image: for every layer the forward product, the
    weight gradient and the input gradient (each costs the forward FLOPs), except the input
    gradient of the encoder's first layer (the images need none). Element-wise work
    (activations, loss, optimizer) is not counted."""
    enc, dec = layer_flops(encoder), layer_flops(decoder)
    return 3 * (sum(enc) + sum(dec)) - enc[0]


def cpu_peak(fma_units: int = 2) -> dict:
    """fp32 peak GFLOP/s = cores x GHz x SIMD lanes x 2 (FMA) x FMA units, from /proc/cpuinfo."""
    info = {"model": platform.processor() or "unknown", "cores": len(os.sched_getaffinity(0)), "mhz": None}
    flags: set[str] = set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name":
                info["model"] = value
            elif key == "cpu MHz" and info["mhz"] is None:
                info["mhz"] = float(value)
            elif key == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    lanes = 16 if "avx512f" in flags else 8 if "avx" in flags else 4
    fma = 2 if "fma" in flags or "avx512f" in flags else 1  # FLOPs per lane per instruction
    info.update(simd_lanes=lanes, fma_flops=fma, fma_units=fma_units)
    info["peak_gflops"] = (
        info["cores"] * info["mhz"] / 1000.0 * lanes * fma * fma_units if info["mhz"] else None
    )
    info["flags"] = sorted(f for f in flags if f in {"avx", "avx2", "fma", "avx512f"})
    return info


# --------------------------------------------------------------------------- parent process
def configurations(ablation: bool, pytorch: bool = False) -> list[tuple[str, dict]]:
    configs = [("baseline", {"impl": "baseline"}), ("vae_tf", {"impl": "vae_tf"})]
    if pytorch:
        configs.append(("pytorch", {"impl": "pytorch"}))
    if ablation:
        configs += [
            ("vae_tf, jit_compile=True", {"impl": "vae_tf", "compile": {"jit_compile": True}}),
            ("vae_tf, jit_compile=False", {"impl": "vae_tf", "compile": {"jit_compile": False}}),
            ("vae_tf, steps_per_execution=1", {"impl": "vae_tf", "compile": {"steps_per_execution": 1}}),
            ("vae_tf, plain compile", {"impl": "vae_tf", "compile": {"jit_compile": False, "steps_per_execution": 1}}),
            ("vae_tf, tf.data autotuner on", {"impl": "vae_tf", "autotune": True}),
        ]
    return configs


def run_in_child(cfg: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(cfg)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child run {cfg} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=["mlp", "conv"], choices=["mlp", "conv"])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is warm-up (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per configuration (default 3)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--n-train", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ablation", action="store_true", help="also time vae_tf with each speed-up off")
    parser.add_argument(
        "--no-pytorch", action="store_true", help="leave out the PyTorch reference (run when torch is installed)"
    )
    parser.add_argument("--fma-units", type=int, default=2, help="FMA units per core for the peak (default 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write all results to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        cfg = json.loads(args.child)
        print(json.dumps((run_torch_child if cfg["impl"] == "pytorch" else run_child)(cfg)))
        return 0
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch is warm-up)")

    cpu = cpu_peak(args.fma_units)
    print(
        f"CPU: {cpu['model']} | {cpu['cores']} cores @ {cpu['mhz']} MHz | flags {' '.join(cpu['flags'])} | "
        f"fp32 peak = {cpu['cores']} x {cpu['mhz'] / 1000 if cpu['mhz'] else '?'} GHz x {cpu['simd_lanes']} lanes "
        f"x {cpu['fma_flops']} (FMA) x {cpu['fma_units']} units = "
        f"{cpu['peak_gflops']:.0f} GFLOP/s" if cpu["peak_gflops"] else "peak unknown"
    )
    print(
        f"batch {args.batch_size}, latent {LATENT_DIM}, {args.epochs} epochs per run (first = warm-up), "
        f"{args.repeats} interleaved repeats, Python {platform.python_version()}",
        flush=True,
    )
    pytorch = not args.no_pytorch and importlib.util.find_spec("torch") is not None
    if not pytorch and not args.no_pytorch:
        print("PyTorch is not installed: the PyTorch reference is left out (pip install torch==2.13.0 to include it)")
    all_results: dict = {"cpu": cpu, "args": {k: str(v) for k, v in vars(args).items()}, "runs": []}
    table = []
    for arch in args.arch:
        results: dict[str, list[dict]] = {}
        configs = configurations(args.ablation, pytorch)
        for r in range(args.repeats):
            for name, extra in configs:
                cfg = {
                    "arch": arch,
                    "epochs": args.epochs,
                    "batch_size": args.batch_size,
                    "seed": args.seed + r,  # each repeat its own seed: ELBOs compared across seeds
                    "n_train": args.n_train,
                    **extra,
                }
                out = run_in_child(cfg)
                results.setdefault(name, []).append(out)
                all_results["runs"].append({"name": name, "repeat": r, "config": cfg, **out})
                print(
                    f"  [{arch} repeat {r + 1}/{args.repeats}, seed {cfg['seed']}] {name:<30s} {out['images_per_s']:>9,.0f} images/s  "
                    f"(warm-up epoch {out['first_epoch_s']:.1f} s, max RSS {out['max_rss_mib']:.0f} MiB, "
                    f"test -ELBO {out['test_neg_elbo']:.2f})",
                    flush=True,
                )
        base = statistics.median(o["images_per_s"] for o in results["baseline"])
        for name, outs in results.items():
            ips = statistics.median(o["images_per_s"] for o in outs)
            flops = outs[0]["train_flops_per_image"]
            gflops = ips * flops / 1e9
            table.append(
                {
                    "arch": arch,
                    "name": name,
                    "images_per_s": ips,
                    "ratio": ips / base,
                    "min_ratio": min(o["images_per_s"] for o in outs) / base,
                    "max_rss_mib": max(o["max_rss_mib"] for o in outs),
                    "images_per_cpu_s": statistics.median(o["images_per_cpu_s"] for o in outs),
                    "cpu_ratio": statistics.median(o["images_per_cpu_s"] for o in outs)
                    / statistics.median(o["images_per_cpu_s"] for o in results["baseline"]),
                    "mflop_per_image": flops / 1e6,
                    "gflops": gflops,
                    "peak_fraction": gflops / cpu["peak_gflops"] if cpu["peak_gflops"] else float("nan"),
                    "test_neg_elbo": statistics.fmean(o["test_neg_elbo"] for o in outs),
                    "test_neg_elbo_sd": statistics.stdev(o["test_neg_elbo"] for o in outs) if len(outs) > 1 else 0.0,
                    "test_neg_elbos": [o["test_neg_elbo"] for o in outs],
                    "jit": outs[0]["jit_compile"],
                    "spe": outs[0]["steps_per_execution"],
                }
            )
    all_results["table"] = table

    print()
    print(
        "| arch | configuration | XLA | steps/exec | images/s (median) | ratio to baseline | "
        "MFLOP/image (train) | GFLOP/s | % of peak | images per CPU-s | CPU ratio | peak RSS (MiB) | "
        "test -ELBO (nats, mean ± sd over seeds) |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in table:
        print(
            f"| {row['arch']} | {row['name']} | {'yes' if row['jit'] else 'no'} | {row['spe']} | "
            f"{row['images_per_s']:,.0f} | {row['ratio']:.2f} | {row['mflop_per_image']:.2f} | "
            f"{row['gflops']:.1f} | {100 * row['peak_fraction']:.1f} | {row['images_per_cpu_s']:,.0f} | "
            f"{row['cpu_ratio']:.2f} | {row['max_rss_mib']:.0f} | "
            f"{row['test_neg_elbo']:.2f} ± {row['test_neg_elbo_sd']:.2f} |"
        )
    print()
    for arch in args.arch:
        ratio = next(r["ratio"] for r in table if r["arch"] == arch and r["name"] == "vae_tf")
        goal = {"mlp": 1.5, "conv": 1.3}[arch]
        line = f"{arch}: vae_tf / baseline = {ratio:.2f} (goal >= {goal})"
        if arch == "mlp":
            line += f"; PyTorch-equivalent target 29,000/18,500 = {29000 / 18500:.2f}"
        print(line)
        torch_row = next((r for r in table if r["arch"] == arch and r["name"] == "pytorch"), None)
        if torch_row:
            print(
                f"{arch}: vae_tf / PyTorch (same run) = {ratio / torch_row['ratio']:.2f} "
                f"(PyTorch / baseline = {torch_row['ratio']:.2f})"
            )
        base_row, fast_row = (next(r for r in table if r["arch"] == arch and r["name"] == n) for n in ("baseline", "vae_tf"))
        n = len(base_row["test_neg_elbos"])
        if n > 1:
            diff = fast_row["test_neg_elbo"] - base_row["test_neg_elbo"]
            se = ((base_row["test_neg_elbo_sd"] ** 2 + fast_row["test_neg_elbo_sd"] ** 2) / n) ** 0.5
            print(
                f"{arch}: held-out -ELBO, vae_tf - baseline = {diff:+.2f} nats (2 standard errors: {2 * se:.2f}; "
                f"{n} seeds each): {'within' if abs(diff) <= 2 * se else 'OUTSIDE'} seed-to-seed noise"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(all_results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
