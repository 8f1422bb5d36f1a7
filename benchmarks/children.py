"""One training run per process: ``python -m benchmarks.children '<config JSON>'`` (from the
project root) trains one configuration and prints its results as one JSON line.

Configurations: ``impl`` = ``"baseline"`` (:class:`benchmarks.baseline.PlainVAE` fitted on a
float32 NumPy array, as in the keras.io example), ``"vae_tf"`` (``vae_tf.VAE`` with the
package's compile defaults, fitted on ``vae_tf.make_dataset``) or ``"pytorch"``
(:mod:`benchmarks.torch_reference`); ``arch``, ``epochs``, ``batch_size``, ``seed``, optional
``n_train``/``n_test`` (first N images), ``compile`` (extra ``compile`` arguments) and
``autotune`` (tf.data's autotuner back on).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATENT_DIM = 2
EVAL_SEED = 1234


def run_in_child(cfg: dict) -> dict:
    """Run ``cfg`` in a fresh Python process (cwd: the project root); return its result dict.
    Raises ``RuntimeError`` with the end of the child's stderr if it fails. The child never
    inherits quick mode (``$VAE_TF_QUICK``, which turns XLA off): a benchmark measures the
    package's full-run defaults."""
    env = {k: v for k, v in os.environ.items() if k != "VAE_TF_QUICK"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.children", json.dumps(cfg)], capture_output=True, text=True, cwd=ROOT, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child run {cfg} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def timings(n_train: int, epoch_times: list[float], cpu_times: list[float]) -> dict:
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


def held_out_neg_elbo(encoder, decoder, x, seed: int = EVAL_SEED) -> float:
    """Single-sample negative ELBO, nats per image, mean over ``x`` (float32 in [0, 1])."""
    import keras
    import numpy as np

    import vae_tf

    keras.utils.set_random_seed(seed)
    sampling = vae_tf.Sampling(seed=seed)  # the same draws for either implementation's encoder
    total = 0.0
    for i in range(0, len(x), 1000):
        xb = x[i : i + 1000]
        z_mean, z_log_var = encoder(xb, training=False)[:2]
        logits = decoder(sampling([z_mean, z_log_var]), training=False)
        neg = -vae_tf.elbo(xb, logits, z_mean, z_log_var)
        total += float(np.sum(keras.ops.convert_to_numpy(neg)))
    return total / len(x)


def load_images(cfg: dict):
    """The uint8 training images and the float32 test images of ``cfg`` (first ``n_train``/``n_test``)."""
    import vae_tf

    (x_train, _), (x_test, _) = vae_tf.load_mnist()
    return x_train[: cfg.get("n_train") or None], vae_tf.scale_images(x_test[: cfg.get("n_test") or None])


def _epoch_timer(epoch_times: list[float], cpu_times: list[float]):
    """A Keras callback appending each epoch's wall and process CPU seconds to the lists."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            epoch_times.append(time.perf_counter() - self.t0)
            cpu_times.append(time.process_time() - self.c0)

    return EpochTimer()


def _fit(cfg: dict, encoder, decoder, x_train, callback):
    """Compile and fit the configuration's model; returns it."""
    import keras

    import vae_tf

    if cfg["impl"] == "baseline":
        from benchmarks.baseline import PlainVAE

        model = PlainVAE(encoder, decoder)
        model.compile(optimizer=keras.optimizers.Adam())
        x_fit = vae_tf.scale_images(x_train)  # float32 NumPy array, as in the keras.io example
        model.fit(x_fit, epochs=cfg["epochs"], batch_size=cfg["batch_size"], verbose=0, callbacks=[callback])
        return model
    from types import SimpleNamespace

    from vae_tf.app.training import compile_options

    model = vae_tf.VAE(encoder, decoder, seed=cfg["seed"])
    speed = compile_options(SimpleNamespace(quick=False, arch=cfg["arch"]), distributed=False)  # the command line's
    model.compile(optimizer=keras.optimizers.Adam(), **{**speed, **cfg.get("compile", {})})
    ds = vae_tf.make_dataset(x_train, batch_size=cfg["batch_size"], seed=cfg["seed"])
    if cfg.get("autotune"):  # the input pipeline as it was: tf.data's autotuner on
        import tensorflow as tf

        options = tf.data.Options()
        options.autotune.enabled = True
        ds = ds.with_options(options)
    model.fit(ds, epochs=cfg["epochs"], verbose=0, callbacks=[callback])
    return model


def run_child(cfg: dict) -> dict:
    """Train one Keras configuration; return throughput, peak memory, held-out -ELBO and the
    ``time.time()`` stamp at the end of each phase (``phases``: start, imports, data, model,
    fit, evaluation)."""
    phases = {"start": time.time()}
    import keras
    import numpy as np

    import vae_tf

    from benchmarks.flops import train_flops_per_image

    phases["imports"] = time.time()
    x_train, x_test = load_images(cfg)
    phases["data"] = time.time()
    keras.utils.set_random_seed(cfg["seed"])
    encoder = vae_tf.build_encoder(latent_dim=LATENT_DIM, arch=cfg["arch"])
    if cfg["impl"] == "baseline":  # the keras.io example's encoder draws z itself
        from benchmarks.baseline import keras_io_encoder

        encoder = keras_io_encoder(encoder, seed=cfg["seed"])
    decoder = vae_tf.build_decoder(latent_dim=LATENT_DIM, arch=cfg["arch"])
    phases["model"] = time.time()
    epoch_times: list[float] = []
    cpu_times: list[float] = []
    model = _fit(cfg, encoder, decoder, x_train, _epoch_timer(epoch_times, cpu_times))
    phases["fit"] = time.time()
    test_neg_elbo = held_out_neg_elbo(encoder, decoder, x_test)  # before the peak-memory reading
    phases["evaluation"] = time.time()
    return {
        **timings(len(x_train), epoch_times, cpu_times),
        "jit_compile": bool(model.jit_compile),
        "steps_per_execution": int(model.steps_per_execution),
        "test_neg_elbo": test_neg_elbo,
        "train_flops_per_image": train_flops_per_image(encoder, decoder),
        "params": int(sum(int(np.prod(w.shape)) for w in encoder.trainable_weights + decoder.trainable_weights)),
        "epoch_times_all": epoch_times,
        "phases": phases,
    }


def main(argv: list[str]) -> int:
    """Child entry point: ``argv[0]`` is the configuration as JSON; prints the result as JSON."""
    cfg = json.loads(argv[0])
    if cfg["impl"] == "pytorch":
        from benchmarks.torch_reference import run_torch_child

        print(json.dumps(run_torch_child(cfg)))
    else:
        print(json.dumps(run_child(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
