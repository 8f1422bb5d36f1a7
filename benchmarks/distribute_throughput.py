"""Training throughput of a ``vae_tf.VAE`` under ``tf.distribute.MirroredStrategy``: 1 and 2 replicas.

One command, from the project root (MNIST found as by ``vae_tf.load_mnist``)::

    python benchmarks/distribute_throughput.py            # 1 and 2 replicas, 3 epochs each
    python benchmarks/distribute_throughput.py --tiny     # a smoke run (seconds, not minutes)
    python benchmarks/distribute_throughput.py --arch conv --repeats 3

Replicas are the machine's GPUs when it has at least two, else logical CPU devices
(``vae_tf.app.distribute.use_logical_cpus``: the CPU's cores are shared, so on a CPU two replicas
cannot be faster than one). Rows: ``default`` (one device, no strategy: the package's defaults,
``steps_per_execution=32`` and XLA for dense models), ``mirrored x1`` and ``mirrored x2``
(``steps_per_execution=1``, no XLA: what ``compile`` chooses under a strategy). Every run is a
fresh child process (the device split must precede TensorFlow's start). Throughput: training
images per second of wall clock over the epochs after the first (the first includes tracing),
at the same GLOBAL batch size, so the maths of every row is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent


def child(replicas: int, args: argparse.Namespace) -> dict:
    """One measurement in this process: ``replicas`` 0 = no strategy."""
    sys.path.insert(0, str(ROOT))
    import tensorflow as tf

    from vae_tf import distribute

    gpus = len(tf.config.list_physical_devices("GPU"))
    if replicas == 0:
        strategy, devices = tf.distribute.get_strategy(), "default"
    elif gpus >= 2:
        strategy, devices = tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(replicas)]), "GPU"
    else:
        strategy, devices = distribute.strategy_from_name("mirrored", logical_cpus=replicas), "logical CPU"
    import keras

    import vae_tf

    (x, _), _ = vae_tf.load_mnist()
    x = x[: args.train_size]
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = vae_tf.VAE(vae_tf.build_encoder(arch=args.arch), vae_tf.build_decoder(arch=args.arch), seed=0)
        model.compile(optimizer=keras.optimizers.Adam())
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(vae_tf.make_dataset(x, batch_size=args.batch_size, seed=0), epochs=args.epochs,
              callbacks=[Timer()], verbose=0)
    later = times[1:] or times
    return {
        "replicas": strategy.num_replicas_in_sync, "devices": devices,
        "steps_per_execution": int(model.steps_per_execution), "jit_compile": bool(model.jit_compile),
        "images_per_s": len(x) * len(later) / sum(later),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("mlp", "conv"), default="mlp")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=24_000)
    parser.add_argument("--batch-size", type=int, default=128, help="global batch (default 128)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="2 epochs on 1,024 images: a smoke run")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tiny:
        args.epochs, args.train_size = 2, 1024
    if args.child is not None:
        print("RESULT " + json.dumps(child(args.child, args)), flush=True)
        return
    passthrough = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--tiny"]
    if args.tiny:
        passthrough += ["--epochs", "2", "--train-size", "1024"]
    rows: dict[str, list[dict]] = {}
    for _ in range(args.repeats):  # interleaved, so other load hits every row alike
        for replicas, name in ((0, "default"), (1, "mirrored x1"), (2, "mirrored x2")):
            out = subprocess.run([sys.executable, __file__, *passthrough, "--child", str(replicas)],
                                 capture_output=True, text=True, check=True).stdout
            rows.setdefault(name, []).append(json.loads(out.split("RESULT ", 1)[1]))
    print(f"{args.arch} VAE, global batch {args.batch_size}, {args.train_size} images, {args.epochs} epochs, "
          f"median of {args.repeats}, {os.cpu_count()} CPUs")
    print("| run | replicas | devices | steps/execution | XLA | images/s |\n| --- | --- | --- | --- | --- | --- |")
    for name, results in rows.items():
        r = results[0]
        speed = statistics.median(x["images_per_s"] for x in results)
        print(f"| {name} | {r['replicas']} | {r['devices']} | {r['steps_per_execution']} | "
              f"{'on' if r['jit_compile'] else 'off'} | {speed:,.0f} |")


if __name__ == "__main__":
    main()
