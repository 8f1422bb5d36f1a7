"""Where the first epoch's time goes: first and second call of ``vae_tf``'s compiled steps,
per input shape, in one process (first call = tracing + graph building + XLA compile + run).

    python benchmarks/first_calls.py                 # the package's defaults (XLA on for mlp)
    python benchmarks/first_calls.py --jit off       # the same without XLA
    TF_XLA_FLAGS=--tf_xla_persistent_cache_directory=/tmp/xla python benchmarks/first_calls.py
                                                     # run twice: the 2nd process loads the programs

Each line: a ``fit`` or ``evaluate`` call on a new dataset, its wall seconds. A partial last
batch is a new input shape, which XLA compiles anew.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: (label, call, number of images, batch size); training images for fit, test images for evaluate.
CALLS = (
    ("fit, 32 batches of 128", "fit", 128 * 32, 128),
    ("fit, 32 batches of 128 (again)", "fit", 128 * 32, 128),
    ("fit, 32 x 128 + a batch of 23", "fit", 128 * 32 + 23, 128),
    ("fit, 32 x 128 + a batch of 23 (again)", "fit", 128 * 32 + 23, 128),
    ("evaluate, 4 batches of 512", "evaluate", 2048, 512),
    ("evaluate, 4 batches of 512 (again)", "evaluate", 2048, 512),
    ("evaluate, 4 x 512 + a batch of 272", "evaluate", 2048 + 272, 512),
    ("evaluate, 4 x 512 + a batch of 272 (again)", "evaluate", 2048 + 272, 512),
)


def first_calls(jit) -> dict[str, float]:
    """Wall seconds of each of ``CALLS`` on a fresh 2-D-latent mlp ``vae_tf.VAE`` compiled with
    ``jit_compile=jit``, plus ``import`` (Keras, TensorFlow and vae_tf)."""
    t = time.perf_counter()
    import keras

    import vae_tf

    times = {"import": time.perf_counter() - t}
    (x_train, _), (x_test, _) = vae_tf.load_mnist()
    model = vae_tf.VAE(vae_tf.build_encoder(latent_dim=2), vae_tf.build_decoder(latent_dim=2), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(), jit_compile=jit)
    for label, call, n, batch in CALLS:
        ds = vae_tf.make_dataset((x_train if call == "fit" else x_test)[:n], batch_size=batch, shuffle=call == "fit", seed=0)
        t = time.perf_counter()
        model.fit(ds, epochs=1, verbose=0) if call == "fit" else model.evaluate(ds, verbose=0)
        times[label] = time.perf_counter() - t
    times["jit_compile"] = bool(model.jit_compile)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jit", choices=("auto", "on", "off"), default="auto", help="jit_compile (default auto)")
    args = parser.parse_args(argv)
    times = first_calls({"auto": "auto", "on": True, "off": False}[args.jit])
    for label, value in times.items():
        print(f"{label:<45s} {value:8.2f}" if isinstance(value, float) else f"{label:<45s} {value}")
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
