"""FLOPs of a training step, counted from the layer shapes, the CPU's fp32 peak, and the
measured floor of a dense model's training step: its matrix products alone.

Multiply-add = 2 FLOPs; Dense ``2*in*out``, Conv2D ``2*k*k*Cin*Cout*Hout*Wout``,
Conv2DTranspose ``2*k*k*Cin*Cout*Hin*Win``. Element-wise work is not counted.

``python -m benchmarks.flops --matmul-floor [--arch mlp] [--batch-size 128]`` prints, as one
JSON line, the seconds per training step of those matrix products (see :func:`matmul_floor`).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

LATENT_DIM = 2


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


def encoder_decoder(arch: str):
    """``vae_tf``'s 2-D-latent encoder and decoder of ``arch``."""
    import vae_tf

    return vae_tf.build_encoder(latent_dim=LATENT_DIM, arch=arch), vae_tf.build_decoder(latent_dim=LATENT_DIM, arch=arch)


def keras_train_flops(arch: str) -> int:
    """:func:`train_flops_per_image` of ``vae_tf``'s 2-D-latent encoder and decoder of ``arch``."""
    return train_flops_per_image(*encoder_decoder(arch))


def _cpuinfo() -> tuple[str | None, float | None, set[str]]:
    """Model name, clock (MHz) and flags of the first CPU in ``/proc/cpuinfo`` (None/empty if absent)."""
    model, mhz, flags = None, None, set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, mhz, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and model is None:
            model = value
        elif key == "cpu MHz" and mhz is None:
            mhz = float(value)
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, mhz, flags


def cpu_peak(fma_units: int = 2) -> dict:
    """fp32 peak GFLOP/s = cores x GHz x SIMD lanes x 2 (FMA) x FMA units, from /proc/cpuinfo."""
    model, mhz, flags = _cpuinfo()
    info = {"model": model or platform.processor() or "unknown", "cores": len(os.sched_getaffinity(0)), "mhz": mhz}
    lanes = 16 if "avx512f" in flags else 8 if "avx" in flags else 4
    fma = 2 if "fma" in flags or "avx512f" in flags else 1  # FLOPs per lane per instruction
    info.update(simd_lanes=lanes, fma_flops=fma, fma_units=fma_units)
    info["peak_gflops"] = info["cores"] * mhz / 1000.0 * lanes * fma * fma_units if mhz else None
    info["flags"] = sorted(f for f in flags if f in {"avx", "avx2", "fma", "avx512f"})
    return info


def dense_products(encoder, decoder, batch_size: int) -> list[tuple[int, int, int]]:
    """The matrix products ``(m, k, n)`` (an ``m x k`` by ``k x n`` product) of one training step
    of a model whose encoder and decoder hold only Dense layers (besides reshapes): per layer
    the forward product, the weight gradient and the input gradient, except the input gradient
    of the encoder's first layer. Their FLOPs (``2*m*k*n`` each) sum to ``batch_size`` times
    :func:`train_flops_per_image`. Raises ``ValueError`` for a model with other weighted layers."""
    import keras

    products = []
    for model in (encoder, decoder):
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dense):
                d_in, d_out = (int(d) for d in layer.kernel.shape)
                products.append((batch_size, d_in, d_out))  # forward: x @ W
                products.append((d_in, batch_size, d_out))  # weight gradient: x^T @ g
                products.append((batch_size, d_out, d_in))  # input gradient: g @ W^T
            elif layer.weights:
                raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) is not Dense: the floor is for dense models.")
    del products[2]  # the images need no gradient
    return products


def matmul_floor(arch: str = "mlp", batch_size: int = 128, steps: int = 40, repeats: int = 5) -> dict:
    """Seconds per training step of :func:`dense_products` of ``vae_tf``'s 2-D-latent ``arch``
    model alone, on random ``float32`` matrices: the floor of any implementation of that step
    in TensorFlow on this machine (element-wise work, the optimizer and the input pipeline are
    left out). Timed as compiled by XLA and as a plain graph (TensorFlow's oneDNN kernels),
    ``steps`` calls per timing, best of ``repeats``; ``step_s`` is the faster of the two.
    Returns ``{"step_s", "xla_step_s", "graph_step_s", "gflops", "batch_size", "flops_per_step"}``."""
    import time

    import tensorflow as tf

    products = dense_products(*encoder_decoder(arch), batch_size)
    rng = tf.random.Generator.from_seed(0)
    pairs = [(rng.normal((m, k)), rng.normal((k, n))) for m, k, n in products]

    def step(pairs):
        return [tf.matmul(a, b) for a, b in pairs]

    best = {}
    for name, jit in (("xla_step_s", True), ("graph_step_s", False)):
        fn = tf.function(step, jit_compile=jit)
        for _ in range(5):  # trace, compile, warm the caches
            fn(pairs)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                out = fn(pairs)
            float(out[-1][0, 0])  # the last call has finished
            times.append((time.perf_counter() - start) / steps)
        best[name] = min(times)
    flops = sum(2 * m * k * n for m, k, n in products)
    step_s = min(best.values())
    return {"step_s": step_s, **best, "gflops": flops / step_s / 1e9, "batch_size": batch_size, "flops_per_step": flops}


if __name__ == "__main__":
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(description="The floor of a dense VAE's training step: its matrix products alone.")
    parser.add_argument("--matmul-floor", action="store_true", required=True, help="measure it (one JSON line)")
    parser.add_argument("--arch", default="mlp", help="a dense vae_tf architecture (default mlp)")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    print(json.dumps(matmul_floor(args.arch, args.batch_size)), flush=True)
    sys.exit(0)
