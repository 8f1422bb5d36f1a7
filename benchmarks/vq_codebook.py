"""The VQ-VAE's codebook use (issue 33, point 6): notebook 07's VQ-VAE trained with the gradient
codebook (the notebook's), the EMA codebook, and each with dead-code restarts, per seed: codes used
and perplexity over the whole test set, the test reconstruction loss and the per-epoch loss terms.

One command, from the project root (MNIST found as by ``vae_tf.load_mnist``)::

    python benchmarks/vq_codebook.py                                  # 4 set-ups x seeds 0 1 2, 5 epochs
    python benchmarks/vq_codebook.py --seeds 0 --epochs 1 --n-train 2000   # a minute

Notebook 07's VQ-VAE: 7x7 grid, 64 codes, embedding 16, beta 0.25, Adam 1e-3, batch 128, 5 epochs,
``steps_per_execution=32``. Data: the course's 24,345 training images (``load_course_mnist``),
90 % to fit and 10 % to validate (``split_validation``, seed 0), each binarized once
(``binarize_static``, seeds 1 and 2); the 10,000 test images binarized once (seed 0), used only for
the final numbers. (The notebook binarizes its training images afresh each epoch and validates on
the test set; this benchmark keeps the test set out of training.) Restarts: ``restart_every=50``
steps, ``restart_threshold=1`` (codes chosen nowhere in 50 batches of 128 images x 49 positions).
``--json FILE`` keeps every number.

Measured on the 2-core development machine, shared with other jobs (21-37 s per run of 5 epochs),
seeds 0, 1, 2, mean ± sample standard deviation; on the 10,000 static-binarized test images:

=====================  ============  ===============  ===================
set-up                 codes used    perplexity       reconstruction nats
=====================  ============  ===============  ===================
gradient (notebook)    34.0 ± 6.1    10.73 ± 0.68     49.76 ± 1.60
gradient + restarts    64.0 ± 0.0    22.78 ± 1.74     41.62 ± 0.60
EMA                    58.3 ± 9.8     9.40 ± 0.59     46.93 ± 2.24
EMA + restarts         64.0 ± 0.0    23.80 ± 0.88     44.70 ± 0.15
=====================  ============  ===============  ===================

Training terms per epoch (means over the seeds; whole-epoch perplexity):

=====================  ================================================================
gradient               loss 182.9 110.5 116.4 112.7 110.0; reconstruction 167.0 66.5
                       57.9 53.5 51.0; codebook = commitment 12.7 35.2 46.8 47.4 47.2;
                       perplexity 8.8 7.9 8.9 9.8 10.5
gradient + restarts    loss 172.2 80.4 84.6 88.3 90.0; reconstruction 163.2 55.5 47.6
                       44.8 42.8; codebook = commitment 7.2 19.9 29.5 34.8 37.8;
                       perplexity 28.6 25.3 22.3 22.7 22.7
EMA                    loss 189.5 92.1 71.5 62.8 58.1; reconstruction 181.4 77.9 61.1
                       53.2 48.8; commitment 32.4 56.8 41.7 38.6 37.2; perplexity 5.1 4.7
                       6.6 7.9 9.0
EMA + restarts         loss 174.1 65.9 59.6 56.8 55.0; reconstruction 171.6 60.8 52.1
                       48.4 45.9; commitment 10.0 20.4 29.9 33.6 36.4; perplexity 31.1
                       25.0 21.7 23.9 23.6
=====================  ================================================================

With the gradient codebook the total loss rises after epoch 2 although the reconstruction term
keeps falling: the codebook (= commitment) distance grows as the encoder's outputs spread, and
``loss`` adds it with weight 1. Restarts keep all 64 codes in use and double the perplexity in
both set-ups; the EMA codebook alone keeps most codes chosen somewhere but as unevenly as the
gradient codebook (perplexity 9.4).
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

SETUPS = {
    "gradient": {},
    "gradient + restarts": {"restart_every": 50},
    "EMA": {"ema": True},
    "EMA + restarts": {"ema": True, "restart_every": 50},
}
TERMS = ("loss", "reconstruction_loss", "codebook_loss", "commitment_loss", "perplexity")


def load_data(n_train: int | None) -> dict:
    import vae_tf

    (x, y), (x_test, _) = vae_tf.load_course_mnist()
    x, y = vae_tf.scale_images(x[:n_train]), y[:n_train]
    (x_fit, _), (x_val, _) = vae_tf.split_validation(x, y, val_fraction=0.1, seed=0)
    return {
        "fit": vae_tf.binarize_static(x_fit, seed=1),
        "val": vae_tf.binarize_static(x_val, seed=2),
        "test": vae_tf.binarize_static(vae_tf.scale_images(x_test), seed=0),
    }


def train(data: dict, setup: str, seed: int, epochs: int) -> dict:
    """One VQ-VAE of notebook 07 with the set-up's options: its history and its test numbers."""
    import keras

    import vae_tf
    from vae_tf.family.vqvae import build_vq_decoder, build_vq_encoder

    keras.utils.set_random_seed(seed)
    vq = vae_tf.VQVAE(build_vq_encoder(embedding_dim=16), build_vq_decoder(embedding_dim=16), num_embeddings=64,
                      beta=0.25, seed=seed, **SETUPS[setup])  # fmt: skip
    vq.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False, steps_per_execution=32)
    start = time.perf_counter()
    history = vq.fit(vae_tf.make_dataset(data["fit"], seed=seed), epochs=epochs, verbose=0,
                     validation_data=vae_tf.make_dataset(data["val"], batch_size=500, shuffle=False)).history  # fmt: skip
    seconds = time.perf_counter() - start
    test = vq.evaluate(vae_tf.make_dataset(data["test"], batch_size=500, shuffle=False), verbose=0, return_dict=True)
    stats = vq.codebook_statistics(data["test"])
    return {
        "setup": setup, "seed": seed, "seconds": seconds,
        "history": {k: [float(v) for v in values] for k, values in history.items()},
        "test": {k: float(v) for k, v in test.items()},
        "codes_used": stats["codes_used"], "perplexity": stats["perplexity"],
    }  # fmt: skip


def print_run(run: dict) -> None:
    h = run["history"]
    print(f"\n{run['setup']}, seed {run['seed']}: {run['seconds']:.0f} s; test: codes used {run['codes_used']} of 64, "
          f"perplexity {run['perplexity']:.2f}, reconstruction {run['test']['reconstruction_loss']:.2f} nats")  # fmt: skip
    names = [t for t in TERMS if t in h]
    print("epoch " + " ".join(f"{n:>20}" for n in names) + f" {'val_loss':>10}")
    for e in range(len(h["loss"])):
        print(f"{e + 1:>5} " + " ".join(f"{h[n][e]:20.3f}" for n in names) + f" {h['val_loss'][e]:10.3f}")


def summary(runs: list[dict]) -> None:
    """Mean and spread (sample standard deviation; min-max) over seeds, per set-up."""
    print(f"\n{'set-up':<22} {'seeds':>5} {'codes used':>16} {'test perplexity':>18} {'test recon (nats)':>20}")
    for setup in SETUPS:
        rs = [r for r in runs if r["setup"] == setup]
        if not rs:
            continue

        def cell(values, fmt):
            v = np.array(values, dtype="float64")
            spread = f" ± {v.std(ddof=1):{fmt}}" if len(v) > 1 else ""
            return f"{v.mean():{fmt}}{spread}"

        print(f"{setup:<22} {len(rs):>5} {cell([r['codes_used'] for r in rs], '.1f'):>16} "
              f"{cell([r['perplexity'] for r in rs], '.2f'):>18} "
              f"{cell([r['test']['reconstruction_loss'] for r in rs], '.2f'):>20}")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=None, help="first N course training images (default all)")
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    data = load_data(args.n_train)
    print(f"fit {len(data['fit']):,}, validation {len(data['val']):,}, test {len(data['test']):,} images; "
          f"{args.epochs} epochs")  # fmt: skip
    runs = []
    for seed in args.seeds:  # seed by seed: a partial run still compares the set-ups
        for setup in args.setups:
            runs.append(train(data, setup, seed, args.epochs))
            print_run(runs[-1])
            if args.json:
                args.json.write_text(json.dumps(runs, indent=1))
    summary(runs)


if __name__ == "__main__":
    main()
