"""The MNIST table of Burda, Grosse & Salakhutdinov (2016, "Importance Weighted Autoencoders"),
reproduced with ``vae_tf`` on the offline data.

One command, from the project root (MNIST found as by ``vae_tf.load_mnist``)::

    python benchmarks/iwae_table.py                               # all six configs, schedule below
    python benchmarks/iwae_table.py --configs vae-1,iwae-5 --epochs-scale 0.01 --test-n 1000
    python benchmarks/iwae_table.py --tiny                        # seconds: the test's setting

The paper's setting (their Table 1, one stochastic layer): encoder 784-200-200-50 and decoder
50-200-200-784, tanh, Gaussian ``q(z|x)``, Bernoulli ``p(x|z)``, prior ``N(0, I)``, dynamically
binarized MNIST, batch size 20, Adam (beta1 0.9, beta2 0.999, epsilon 1e-4), learning rate
``1e-3 * 10**(-i/7)`` for ``3**i`` epochs, ``i = 0..7`` (3,280 epochs); test NLL by importance
sampling with 5,000 samples. "VAE k" trains the ``k``-sample ELBO, "IWAE k" the ``k``-sample
bound (:class:`vae_tf.IWAE` with ``objective="elbo"`` / ``"iwae"``); at ``k = 1`` both are the VAE.

What differs here, and is printed with the table: 24,345 training images (the offline copy)
instead of 60,000; stage ``i`` lasts ``max(1, round(s * 3**i))`` epochs for ``--epochs-scale s``
(``s = 1`` is the paper's 3,280 epochs; default 0.1, 330 epochs) and ``--k50-epochs-scale`` for
``k = 50`` (default 0.03, 101 epochs: each of its epochs costs about 25 times the VAE's FLOPs); the test set is one static binarization (a seeded draw, seed 0) and
``--test-n`` may take its first N images only; the ELBO's KL is in closed form. Results go to
``--out`` (JSON) after every configuration (IWAE ``k = 1`` is the same objective and seed as VAE
``k = 1``, so it copies that run's result when present), and a rerun with the same settings skips the
configurations already there, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a clone without `pip install -e .`
    sys.path.insert(0, str(ROOT))

import json  # noqa: E402

import numpy as np  # noqa: E402

#: Test NLL (nats) of the paper's Table 1, MNIST, one stochastic layer: config -> value.
PUBLISHED = {"vae-1": 86.76, "vae-5": 86.47, "vae-50": 86.35, "iwae-1": 86.76, "iwae-5": 85.54, "iwae-50": 84.78}
CONFIGS = tuple(PUBLISHED)
PAPER_TRAIN_IMAGES = 60_000
PAPER_EPOCHS = sum(3**i for i in range(8))  # 3,280
#: ``--tiny``: 8 one-epoch stages on 128 images, a 16-image test set, 20 importance samples.
TINY = {
    "n_train": 128, "batch_size": 64, "test_n": 16, "iwae_samples": 20, "epochs_scale": 0.0, "k50_epochs_scale": 0.0,
    "configs": "vae-1,iwae-5",
}


def parse_config(name: str) -> tuple[str, int]:
    """``"iwae-5"`` -> ``("iwae", 5)``; ``ValueError`` for a name not in :data:`CONFIGS`."""
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; choose from {', '.join(CONFIGS)}.")
    objective, k = name.split("-")
    return ("elbo" if objective == "vae" else "iwae"), int(k)


def schedule(epochs_scale: float) -> list[tuple[int, float]]:
    """The paper's stages ``(epochs, learning rate)``: ``3**i`` epochs scaled by ``epochs_scale``
    (at least 1 each) at ``1e-3 * 10**(-i/7)``, ``i = 0..7``."""
    return [(max(1, round(epochs_scale * 3**i)), 1e-3 * 10 ** (-i / 7)) for i in range(8)]


def learning_rate_at(stages: list[tuple[int, float]], epoch: int) -> float:
    """The learning rate of 0-based ``epoch`` under ``stages`` (the last one after the end)."""
    for n, lr in stages:
        if epoch < n:
            return lr
        epoch -= n
    return stages[-1][1]


def build_model(objective: str, k: int, seed: int):
    import keras

    import vae_tf

    keras.utils.set_random_seed(seed)
    arch = {"latent_dim": 50, "hidden_units": (200, 200), "activation": "tanh"}
    encoder, decoder = vae_tf.build_encoder(**arch), vae_tf.build_decoder(**arch)
    model = vae_tf.IWAE(encoder, decoder, k=k, objective=objective, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-4))
    return model


def run_config(name: str, data: dict, args) -> dict:
    """Train one configuration and measure its test NLL; a JSON-ready dict."""
    import keras

    import vae_tf

    objective, k = parse_config(name)
    stages = schedule(args.k50_epochs_scale if k >= 50 else args.epochs_scale)
    epochs = sum(n for n, _ in stages)
    model = build_model(objective, k, args.seed)
    ds = vae_tf.make_dataset(data["x_train"], batch_size=args.batch_size, binarization="dynamic", seed=args.seed)
    lr = keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate_at(stages, epoch))
    start = time.perf_counter()
    history = model.fit(ds, epochs=epochs, callbacks=[lr], verbose=2 if args.verbose else 0).history
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    log_px = vae_tf.iwae_log_likelihood(
        model, data["x_test"], num_samples=args.iwae_samples, batch_size=20, chunk_size=500, seed=args.seed
    )
    eval_s = time.perf_counter() - start
    return {
        "config": name,
        "objective": objective,
        "k": k,
        "epochs": epochs,
        "test_nll_nats": float(-np.mean(log_px)),
        "test_nll_standard_error": float(np.std(log_px) / np.sqrt(len(log_px))),
        "final_train_loss_nats": float(history["loss"][-1]),
        "final_train_iwae_gain_nats": float(history["iwae_gain"][-1]),
        "active_units": vae_tf.active_units(model, data["x_test"], criterion="variance"),
        "published_nll_nats": PUBLISHED[name],
        "train_wall_s": round(train_s, 1),
        "eval_wall_s": round(eval_s, 1),
    }


def load_data(n_train: int | None, test_n: int | None) -> dict:
    import vae_tf

    (x_train, _), (x_test, _) = vae_tf.load_mnist()
    x_train = x_train[:n_train] if n_train else x_train
    x_test = vae_tf.binarize_static(vae_tf.scale_images(x_test[:test_n] if test_n else x_test), seed=0)
    return {"x_train": x_train, "x_test": x_test}


def settings(args) -> dict:
    """What a stored result depends on (a rerun with other settings starts afresh)."""
    keys = ("n_train", "test_n", "iwae_samples", "epochs_scale", "k50_epochs_scale", "batch_size", "seed")
    return {key: getattr(args, key) for key in keys}


def differences(args, n_train: int, n_test: int) -> list[str]:
    def epochs(scale: float) -> str:
        stages = [n for n, _ in schedule(scale)]
        return f"{sum(stages):,} in 8 stages of {stages}"

    return [
        f"training images: {n_train:,} (paper: {PAPER_TRAIN_IMAGES:,})",
        f"epochs: k < 50 {epochs(args.epochs_scale)}, k = 50 {epochs(args.k50_epochs_scale)}, "
        f"at lr 1e-3*10^(-i/7) (paper: {PAPER_EPOCHS:,} = 3^i per stage)",
        f"batch size: {args.batch_size} (paper: 20)",
        f"test images: {n_test:,}, one static binarization, seed 0 (paper: 10,000)",
        f"importance samples for the test NLL: {args.iwae_samples:,} (paper: 5,000)",
    ]


def table_lines(results: list[dict]) -> list[str]:
    lines = [
        "| config | k | epochs | test NLL (nats, ± s.e.) | published | ours - published | active units "
        "| train (s) | NLL eval (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        diff = r["test_nll_nats"] - r["published_nll_nats"]
        lines.append(
            f"| {r['config'].split('-')[0].upper()} | {r['k']} | {r['epochs']} | "
            f"{r['test_nll_nats']:.2f} ± {r['test_nll_standard_error']:.2f} | {r['published_nll_nats']:.2f} | "
            f"{diff:+.2f} | {r['active_units']} | {r['train_wall_s']:.0f} | {r['eval_wall_s']:.0f} |"
        )
    return lines


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--configs", default=None, help="comma-separated, from " + ", ".join(CONFIGS) + " (default all)")
    p.add_argument(
        "--epochs-scale", type=float, default=0.1, help="stage i lasts max(1, round(s*3^i)) epochs; 1 = paper"
    )
    p.add_argument("--k50-epochs-scale", type=float, default=0.03, help="the same for k = 50")
    p.add_argument("--n-train", type=int, default=None, help="first N training images only (default all)")
    p.add_argument("--test-n", type=int, default=None, help="first N test images only (default all 10,000)")
    p.add_argument("--iwae-samples", type=int, default=5000, help="importance samples for the test NLL")
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "iwae_table.json", help="JSON")
    p.add_argument("--verbose", action="store_true", help="one line per training epoch")
    p.add_argument("--tiny", action="store_true", help="a seconds-long run on a few images (for the tests)")
    args = p.parse_args(argv)
    configs = args.configs
    if args.tiny:
        for key, value in TINY.items():
            setattr(args, key, value)
    args.configs = configs or (TINY["configs"] if args.tiny else ",".join(CONFIGS))
    if min(args.epochs_scale, args.k50_epochs_scale) < 0:
        p.error("--epochs-scale and --k50-epochs-scale must be >= 0")
    for key in ("n_train", "test_n", "iwae_samples", "batch_size"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
    try:
        args.configs = [c for c in args.configs.split(",") if parse_config(c)]
    except ValueError as e:
        p.error(str(e))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from vae_tf.tools.files import atomic_write_json

    data = load_data(args.n_train, args.test_n)
    notes = differences(args, len(data["x_train"]), len(data["x_test"]))
    print("\n".join(["What differs from the paper:"] + ["  " + d for d in notes]))
    results = stored_results(args.out, settings(args))
    for name in args.configs:
        if any(r["config"] == name for r in results):
            print(f"{name}: already in {args.out}, skipped")
            continue
        same = [r for r in results if r["config"] == "vae-1"] if name == "iwae-1" else []
        print(f"{name}: " + ("the vae-1 run (same objective and seed)" if same else "training ..."), flush=True)
        results.append({**same[0], "config": name, "objective": "iwae", "copied_from": "vae-1"} if same else run_config(name, data, args))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.out, {"settings": settings(args), "differences": notes, "results": results})
        print("\n".join(table_lines(results[-1:])[2:]), flush=True)
    order = {name: i for i, name in enumerate(CONFIGS)}
    print("\n".join(table_lines(sorted(results, key=lambda r: order[r["config"]]))))
    return 0


def stored_results(path: Path, current: dict) -> list[dict]:
    """The results already in ``path`` when they were measured with the ``current`` settings."""
    if not path.is_file():
        return []
    try:
        stored = json.loads(path.read_text())
    except ValueError:
        sys.exit(f"error: {path} is not a results JSON; remove it or pass another --out.")
    if stored.get("settings") != current:
        print(f"{path} holds results for other settings {stored.get('settings')}; they will be replaced.")
        return []
    return stored.get("results", [])

if __name__ == "__main__":
    sys.exit(main())
