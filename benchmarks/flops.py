"""FLOPs of a training step, counted from the layer shapes, and the CPU's fp32 peak.

Multiply-add = 2 FLOPs; Dense ``2*in*out``, Conv2D ``2*k*k*Cin*Cout*Hout*Wout``,
Conv2DTranspose ``2*k*k*Cin*Cout*Hin*Win``. Element-wise work is not counted.
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


def keras_train_flops(arch: str) -> int:
    """:func:`train_flops_per_image` of ``vae_tf``'s 2-D-latent encoder and decoder of ``arch``."""
    import vae_tf

    encoder = vae_tf.build_encoder(latent_dim=LATENT_DIM, arch=arch)
    decoder = vae_tf.build_decoder(latent_dim=LATENT_DIM, arch=arch)
    return train_flops_per_image(encoder, decoder)


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
