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
  command line's speed settings (:func:`vae_tf.app.training.compile_options`: XLA for the dense
  model on a CPU, 32 steps per execution) + ``fit(vae_tf.make_dataset(x_uint8, batch_size=128))``.
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

Modules: ``children`` (one run per process), ``baseline`` (the plain model), ``torch_reference``,
``flops`` (FLOPs and peak), ``report`` (table and goal lines); the goals are in ``goals.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a clone without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from benchmarks.children import LATENT_DIM, run_in_child  # noqa: E402
from benchmarks.flops import cpu_peak  # noqa: E402
from benchmarks.goals import load_goals  # noqa: E402
from benchmarks.report import goal_lines, summarize, table_lines  # noqa: E402

BATCH_SIZE = 128
#: Extra configurations of ``--ablation``: vae_tf with one speed-up switched off (or XLA forced).
ABLATION = (
    ("vae_tf, jit_compile=True", {"impl": "vae_tf", "compile": {"jit_compile": True}}),
    ("vae_tf, jit_compile=False", {"impl": "vae_tf", "compile": {"jit_compile": False}}),
    ("vae_tf, steps_per_execution=1", {"impl": "vae_tf", "compile": {"steps_per_execution": 1}}),
    ("vae_tf, plain compile", {"impl": "vae_tf", "compile": {"jit_compile": False, "steps_per_execution": 1}}),
    ("vae_tf, tf.data autotuner on", {"impl": "vae_tf", "autotune": True}),
)


def configurations(ablation: bool, pytorch: bool = False) -> list[tuple[str, dict]]:
    """``(name, config)`` of each configuration, in the order every repeat runs them."""
    configs = [("baseline", {"impl": "baseline"}), ("vae_tf", {"impl": "vae_tf"})]
    if pytorch:
        configs.append(("pytorch", {"impl": "pytorch"}))
    return configs + (list(ABLATION) if ablation else [])


def build_parser() -> argparse.ArgumentParser:
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
    return parser


def _print_header(args, cpu: dict) -> None:
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


def run_arch(arch: str, args, configs: list[tuple[str, dict]], runs: list[dict]) -> dict[str, list[dict]]:
    """Every repeat of every configuration of ``arch``, interleaved; appends each run to ``runs``."""
    results: dict[str, list[dict]] = {}
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
            runs.append({"name": name, "repeat": r, "config": cfg, **out})
            print(
                f"  [{arch} repeat {r + 1}/{args.repeats}, seed {cfg['seed']}] {name:<30s} {out['images_per_s']:>9,.0f} images/s  "
                f"(warm-up epoch {out['first_epoch_s']:.1f} s, max RSS {out['max_rss_mib']:.0f} MiB, "
                f"test -ELBO {out['test_neg_elbo']:.2f})",
                flush=True,
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch is warm-up)")
    cpu = cpu_peak(args.fma_units)
    _print_header(args, cpu)
    pytorch = not args.no_pytorch and importlib.util.find_spec("torch") is not None
    if not pytorch and not args.no_pytorch:
        print("PyTorch is not installed: the PyTorch reference is left out (pip install torch==2.13.0 to include it)")
    all_results: dict = {"cpu": cpu, "args": {k: str(v) for k, v in vars(args).items()}, "runs": []}
    configs = configurations(args.ablation, pytorch)
    table = []
    for arch in args.arch:
        table += summarize(arch, run_arch(arch, args, configs, all_results["runs"]), cpu["peak_gflops"])
    all_results["table"] = table
    print()
    print("\n".join(table_lines(table)))
    print()
    print("\n".join(goal_lines(table, args.arch, load_goals("train_throughput"))))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(all_results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
