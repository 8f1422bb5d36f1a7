"""The learned prior over a VQ-VAE's code grid (issue 33): how long a PixelCNN prior takes to train
on a CPU, and what it buys in nats against the uniform and the position-wise priors.

One command, from the project root (MNIST found as by ``vae_tf.load_mnist``)::

    python benchmarks/code_prior.py                       # notebook 07's VQ-VAE (5 epochs), prior 5 epochs
    python benchmarks/code_prior.py --vq-epochs 1 --prior-epochs 1 --n-train 2000   # a minute

The VQ-VAE is notebook 07's (7x7 grid, 64 codes, embedding 16, Adam 1e-3, dynamically binarized
course training images); the training codes are those of one static binarization (seed 1), the
test images one static binarization (seed 0). It prints, per test image in nats, ``-log p(c(x))``
and the bound ``-log p(x) <= -log p(x | c(x)) - log p(c(x))`` under the uniform prior
(``49 ln 64``), the position-wise prior (``VQVAE.fit_code_prior``, pseudocount 0.5) and
:class:`vae_tf.PixelCNNPrior`, and the prior's seconds per epoch. ``--json FILE`` keeps the numbers.

Measured on the 2-core development machine, shared with other jobs (timings rough), seed 0,
24,345 training images, 10,000 test images, nats per image:

============================  =========  ======================  ===========  =====
prior                         -log p(c)  -log p(x) <= (bound)    s/epoch      whole
============================  =========  ======================  ===========  =====
uniform (49 ln 64)               203.79   255.33                       -
position-wise                     73.20   124.74                       -
PixelCNN 64 filters, 5 ep.        49.45   100.99                  5-15        43 s
PixelCNN 128 filters, 10 ep.      48.39    99.93                  11-23       2.5 min
============================  =========  ======================  ===========  =====

(reconstruction ``-log p(x | c(x))`` 51.55 for all; the VQ-VAE's 5 epochs took 5-12 s each; 100
samples from the prior take 1.5-2 s: 49 passes.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a clone without `pip install -e .`
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


class EpochTimes:
    """A Keras callback (built lazily so that importing this file does not import Keras) that
    records each epoch's wall time in seconds."""

    def __new__(cls):
        import keras

        class _Times(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self.start)

        return _Times()


def train_vqvae(x_train, epochs: int, seed: int):
    import keras

    import vae_tf
    from vae_tf.family.vqvae import build_vq_decoder, build_vq_encoder

    keras.utils.set_random_seed(seed)
    vq = vae_tf.VQVAE(build_vq_encoder(embedding_dim=16), build_vq_decoder(embedding_dim=16), num_embeddings=64,
                      seed=seed)  # fmt: skip
    vq.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False, steps_per_execution=32)
    times = EpochTimes()
    vq.fit(vae_tf.make_dataset(x_train, seed=seed, binarization="dynamic"), epochs=epochs, verbose=0,
           callbacks=[times])  # fmt: skip
    return vq, times.seconds


def train_prior(codes, args):
    import keras

    from vae_tf.family.code_prior import PixelCNNPrior

    keras.utils.set_random_seed(args.seed)
    prior = PixelCNNPrior(64, codes.shape[1:], filters=args.filters, num_layers=args.num_layers,
                          kernel_size=args.kernel_size, seed=args.seed)  # fmt: skip
    prior.compile(optimizer=keras.optimizers.Adam(args.lr), jit_compile=False, steps_per_execution=32)
    times = EpochTimes()
    history = prior.fit(codes, epochs=args.prior_epochs, batch_size=args.batch_size, verbose=0, callbacks=[times])
    return prior, times.seconds, history.history["loss"]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vq-epochs", type=int, default=5)
    parser.add_argument("--prior-epochs", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=None, help="first N course training images only")
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--kernel-size", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import vae_tf
    from vae_tf.family.code_prior import vq_bound

    (x_train, _), (x_test, _) = vae_tf.load_course_mnist()
    x_train = x_train[: args.n_train]
    x_test_bin = vae_tf.binarize_static(vae_tf.scale_images(x_test), seed=0)
    vq, vq_seconds = train_vqvae(x_train, args.vq_epochs, args.seed)
    codes = vq.encode(vae_tf.binarize_static(vae_tf.scale_images(x_train), seed=1))
    table = vq.fit_code_prior(codes, pseudocount=0.5)
    prior, prior_seconds, losses = train_prior(codes, args)
    results = {"settings": vars(args) | {"json": str(args.json), "n_train": len(x_train)},
               "vq_seconds_per_epoch": vq_seconds, "prior_seconds_per_epoch": prior_seconds,
               "prior_train_nll_per_epoch": losses}  # fmt: skip
    for name, p in (("uniform", None), ("position-wise", table), ("pixelcnn", prior)):
        bound = vq_bound(vq, x_test_bin, p)
        results[name] = {k: float(v.mean()) for k, v in bound.items()}
    t0 = time.perf_counter()
    prior.sample(100, seed=0)
    results["sample_100_seconds"] = time.perf_counter() - t0
    print(f"training images {len(x_train):,}; VQ-VAE s/epoch {', '.join(f'{s:.1f}' for s in vq_seconds)}")
    print(f"PixelCNN prior s/epoch {', '.join(f'{s:.1f}' for s in prior_seconds)}; train -log p(c) per epoch "
          f"{', '.join(f'{v:.1f}' for v in losses)}; 100 samples in {results['sample_100_seconds']:.1f} s")
    print(f"{'prior':<14} {'-log p(c)':>10} {'recon':>8} {'bound':>8}   (test, nats per image)")
    for name in ("uniform", "position-wise", "pixelcnn"):
        r = results[name]
        print(f"{name:<14} {r['prior_nll']:>10.2f} {r['reconstruction']:>8.2f} {r['bound']:>8.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
