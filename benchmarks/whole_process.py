"""Time to first result: the wall time of a whole ``python -m vae_tf train`` process at its
defaults against a whole process of the plain Keras example, side by side, with a breakdown.

One command, from the project root (data: ``data/mnist.npz`` as for ``vae_tf.load_mnist``)::

    python benchmarks/whole_process.py                  # 6 then 30 epochs, 3 interleaved repeats
    python benchmarks/whole_process.py --epochs 6 --repeats 2
    python benchmarks/whole_process.py --tiny           # a quick end-to-end check (tests use it)

* ``vae-tf train``: ``python -m vae_tf train --out DIR --epochs N --verbose 2`` (the CLI's
  defaults otherwise; ``--verbose 2`` is its default when stdout is not a terminal): trains on
  90 % of the file's training images with a validation pass and a checkpoint per epoch,
  evaluates the test set, saves the model and draws five figures.
* plain Keras example: ``python -m benchmarks.children`` with the ``baseline`` configuration of
  the throughput benchmark (:class:`benchmarks.baseline.PlainVAE`, the keras.io example's
  ``train_step``, fitted on a float32 array of all the file's training images, batch 128, Adam
  with Keras's defaults), then the held-out -ELBO of the test set; no figures.

Runs are interleaved (plain, vae-tf, plain, ...), each in a fresh process, shorter runs first;
the table shows medians and the speed-ups (plain / vae-tf) against the goals in ``goals.json``. Each run's time is split into stages (see :mod:`benchmarks.timeline`). Probe
processes time ``import tensorflow``, ``import vae_tf`` and ``vae-tf train --help``.

A last probe measures the floor of the training step on this machine: its matrix products
alone (:func:`benchmarks.flops.matmul_floor`). With it the report gives, per epochs value, the
least time any run of the same training could take on a host as fast as during the probe
(TensorFlow's import, as the plain runs paid it, then every epoch's training images at that
floor; validation, evaluation, compilation and figures left out) and so the largest speed-up
over the plain example that this allows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a clone without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from benchmarks.goals import GOALS_FILE, load_goals, verdict  # noqa: E402
from benchmarks.report import markdown_table  # noqa: E402
from benchmarks.timeline import STAGES, plain_breakdown, run_stamped, vae_tf_breakdown  # noqa: E402

#: Probe processes: (name, arguments after the Python executable).
PROBES = (
    ("python -c 'import tensorflow'", ["-c", "import tensorflow"]),
    ("python -c 'import vae_tf'", ["-c", "import vae_tf"]),
    ("python -m vae_tf train --help", ["-m", "vae_tf", "train", "--help"]),
)
FLOOR_PROBE = [sys.executable, "-m", "benchmarks.flops", "--matmul-floor"]
TINY = {"epochs": [2], "train_size": 600, "test_size": 200, "repeats": 1}
#: The runs of each repeat, in order: the plain example, then ``vae-tf train``.
IMPLS = ("plain", "vae-tf")
VAE_TF = ("vae-tf",)


def child_env() -> dict:
    """The environment of every child: the caller's, without quick mode, with unbuffered stdout
    (so that each line is stamped when it is printed)."""
    env = {k: v for k, v in os.environ.items() if k != "VAE_TF_QUICK"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def command(impl: str, epochs: int, args, out_dir: Path) -> list[str]:
    """The command line of one run of ``impl`` (one of :data:`IMPLS`)."""
    if impl in VAE_TF:
        sizes = [f for k, v in (("--train-size", args.train_size), ("--test-size", args.test_size)) if v for f in (k, str(v))]
        return [sys.executable, "-m", "vae_tf", "train", "--out", str(out_dir), "--epochs", str(epochs), "--verbose", "2", *sizes]
    cfg = {"impl": "baseline", "arch": "mlp", "epochs": epochs, "batch_size": 128, "seed": 0,
           "n_train": args.train_size, "n_test": args.test_size}  # fmt: skip
    return [sys.executable, "-m", "benchmarks.children", json.dumps(cfg)]


def run_one(impl: str, epochs: int, args, work: Path, index: int, cache: Path) -> dict:
    """Run ``impl`` for ``epochs`` as a whole process with the vae_tf cache directory ``cache``
    (emptied first for ``"vae-tf"``, kept for ``"vae-tf warm"``); its wall time, stages and test
    -ELBO. Raises ``RuntimeError`` with the end of its stderr if it fails."""
    out_dir = work / f"run-{index}"
    if impl != "vae-tf warm":
        shutil.rmtree(cache, ignore_errors=True)
    env = {**child_env(), "VAE_TF_CACHE_DIR": str(cache)}
    run = run_stamped(command(impl, epochs, args, out_dir), ROOT, env)
    if run["returncode"] != 0:
        raise RuntimeError(f"{impl} ({epochs} epochs) exited with {run['returncode']}:\n{run['stderr_tail']}")
    if impl in VAE_TF:
        parts = vae_tf_breakdown(run, out_dir)
        metrics = parts.pop("metrics")
        parts["config"], neg_elbo = metrics.get("config"), metrics["test_neg_elbo_nats"]
        parts["n_train"] = metrics["n_train"]
    else:
        result = json.loads(run["lines"][-1][1])
        parts, neg_elbo = plain_breakdown(run, result), result["test_neg_elbo"]
    shutil.rmtree(out_dir, ignore_errors=True)
    return {"impl": impl, "epochs": epochs, "wall_s": run["wall_s"], "test_neg_elbo": neg_elbo, **parts}


def run_probes(repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each probe process, ``repeats`` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name, _ in PROBES}
    for _ in range(repeats):
        for name, argv in PROBES:
            run = run_stamped([sys.executable, *argv], ROOT, child_env())
            if run["returncode"] != 0:
                raise RuntimeError(f"probe {name} exited with {run['returncode']}:\n{run['stderr_tail']}")
            times[name].append(run["wall_s"])
            print(f"  probe {name:<32s} {run['wall_s']:6.1f} s", flush=True)
    return times


def run_floor_probe() -> dict:
    """One process of :func:`benchmarks.flops.matmul_floor` (the default dense model, batch 128)."""
    run = run_stamped(FLOOR_PROBE, ROOT, child_env())
    if run["returncode"] != 0:
        raise RuntimeError(f"the matmul floor probe exited with {run['returncode']}:\n{run['stderr_tail']}")
    floor = json.loads(run["lines"][-1][1])
    print(f"  probe matmul floor: {floor['step_s'] * 1e3:.2f} ms per step of {floor['batch_size']} ({floor['gflops']:.0f} GFLOP/s)", flush=True)
    return floor


def bound_lines(rows: list[dict], runs: list[dict], floors: list[dict]) -> list[str]:
    """Per epochs value, the least time a run of the same training could take on this machine:
    the plain runs' own start-up and imports (their median: TensorFlow's import, which every run
    pays, measured in the same window) plus ``epochs`` x the training images x the
    matrix-product floor per image (the best probe), and the largest speed-up over the plain
    example that this allows."""
    if not floors:
        return []
    per_image = min(f["step_s"] / f["batch_size"] for f in floors)
    gflops = max(f["gflops"] for f in floors)
    lines = []
    for r in rows:
        plain = [x["stages"]["start-up and imports"] for x in runs if x["impl"] == "plain" and x["epochs"] == r["epochs"]]
        n_train = next((x["n_train"] for x in runs if x["epochs"] == r["epochs"] and x.get("n_train")), None)
        if n_train is None or not plain:
            continue
        imports, epoch_s = statistics.median(plain), n_train * per_image
        least = imports + r["epochs"] * epoch_s
        lines.append(
            f"floor, {r['epochs']} epochs: TensorFlow's import {imports:.1f} s + {r['epochs']} x {epoch_s:.2f} s "
            f"({n_train:,} training images at the step's matrix products alone, {gflops:.0f} GFLOP/s) = {least:.1f} s; "
            f"vae-tf took {r['vae_tf_s']:.1f} s, {r['vae_tf_s'] / least:.2f}x the floor; "
            f"the most any run could show here: plain / floor = {r['plain_s'] / least:.2f}x"
        )
    return lines


def impls_of(runs: list[dict]) -> tuple[str, ...]:
    """The implementations that ``runs`` hold, in :data:`IMPLS` order (results saved before the
    warm-cache runs existed have none)."""
    return tuple(i for i in IMPLS if any(r["impl"] == i for r in runs))


def summary(runs: list[dict], epochs_list: list[int], goals: dict) -> list[dict]:
    """Per epochs value: median wall time of each implementation, speed-ups, goal and verdicts
    (the goal is judged on the cold-cache run; the warm one is reported beside it)."""
    rows = []
    for epochs in epochs_list:
        med = {i: statistics.median(r["wall_s"] for r in runs if r["impl"] == i and r["epochs"] == epochs)
               for i in impls_of(runs)}  # fmt: skip
        goal = goals["speedup_by_epochs"].get(str(epochs))
        speedup = med["plain"] / med["vae-tf"]
        row = {"epochs": epochs, "plain_s": med["plain"], "vae_tf_s": med["vae-tf"], "speedup": speedup,
               "goal": goal, "verdict": verdict(speedup, goal)}  # fmt: skip
        if "vae-tf warm" in med:
            warm = med["plain"] / med["vae-tf warm"]
            row.update(vae_tf_warm_s=med["vae-tf warm"], speedup_warm=warm, verdict_warm=verdict(warm, goal))
        rows.append(row)
    return rows


def report_lines(rows: list[dict], runs: list[dict], probes: dict[str, list[float]], floors: list[dict] = ()) -> list[str]:
    """The results, breakdown and probe tables in Markdown, then one goal line per epochs value
    and, with ``floors`` (matmul floor probes), one floor line per epochs value (:func:`bound_lines`)."""
    impls = impls_of(runs)
    warm = "vae-tf warm" in impls
    lines = markdown_table(
        ("epochs", "plain Keras example (s)", "vae-tf train (s)",
         *(("vae-tf train, warm XLA cache (s)",) if warm else ()), "speed-up",
         *(("speed-up, warm",) if warm else ()), "goal", f"runs {' / '.join(impls)} (s)"),
        [(r["epochs"], f"{r['plain_s']:.1f}", f"{r['vae_tf_s']:.1f}", *((f"{r['vae_tf_warm_s']:.1f}",) if warm else ()),
          f"{r['speedup']:.2f}x", *((f"{r['speedup_warm']:.2f}x",) if warm else ()),
          f">= {r['goal']}x" if r["goal"] else "none",
          " / ".join(" ".join(f"{x['wall_s']:.1f}" for x in runs if x["impl"] == i and x["epochs"] == r["epochs"]) for i in impls))
         for r in rows],  # fmt: skip
        ("---:", "---:", "---:", *(("---:",) if warm else ()), "---:", *(("---:",) if warm else ()), "---", "---"),
    )
    groups = [(i, r["epochs"]) for r in rows for i in impls]
    stage_rows = []
    for stage in (*STAGES, "total"):
        cells = []
        for impl, epochs in groups:
            mine = [x for x in runs if x["impl"] == impl and x["epochs"] == epochs]
            values = [x["wall_s"] if stage == "total" else x["stages"][stage] for x in mine]
            cells.append(f"{statistics.median(values):.2f}")
        stage_rows.append((stage, *cells))
    lines += ["", "Where the time goes (s, median over repeats):", ""]
    lines += markdown_table(("stage", *(f"{i}, {e} epochs" for i, e in groups)), stage_rows, ("---",) + ("---:",) * len(groups))
    figs = [x["figures"] for x in runs if x["figures"]]
    if figs:
        lines += ["", "vae-tf figures (s, median): " + ", ".join(
            f"{n} {statistics.median(f[n] for f in figs if n in f):.2f}" for n in figs[0])]  # fmt: skip
    elbo = "; ".join(
        f"{i} {e} epochs {statistics.median(x['test_neg_elbo'] for x in runs if x['impl'] == i and x['epochs'] == e):.2f}"
        for i, e in groups
    )
    lines += ["", f"held-out -ELBO (nats per image, median): {elbo}"]
    if probes:
        lines += ["", *markdown_table(("probe process", "wall s (median)", "runs (s)"),
                  [(n, f"{statistics.median(t):.2f}", " ".join(f"{v:.1f}" for v in t)) for n, t in probes.items()],
                  ("---", "---:", "---"))]  # fmt: skip
    lines.append("")
    lines += [f"whole process, {r['epochs']} epochs: plain / vae-tf = {r['speedup']:.2f}x"
              + (f" (goal >= {r['goal']}x): {r['verdict']}" if r["goal"] else ": no goal for this length")
              + (f"; with a warm XLA cache {r['speedup_warm']:.2f}x" + (f": {r['verdict_warm']}" if r["goal"] else "")
                 if "speedup_warm" in r else "")
              for r in rows]  # fmt: skip
    return lines + bound_lines(rows, runs, list(floors))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=None, help="epochs per run, each a group (default 6 30)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved runs per group (default 3; --tiny: 1)")
    parser.add_argument("--train-size", type=int, default=None, help="training images (default all; passed to both)")
    parser.add_argument("--test-size", type=int, default=None, help="test images (default all; passed to both)")
    parser.add_argument("--tiny", action="store_true", help="quick check: 2 epochs, 600 train / 200 test images, 1 repeat")
    parser.add_argument("--no-probes", action="store_true", help="skip the probe processes (imports, --help, matmul floor)")
    parser.add_argument("--goals", type=Path, default=GOALS_FILE, help="thresholds file (default benchmarks/goals.json)")
    parser.add_argument("--json", type=Path, default=None, help="also write all results to this JSON file (after every run)")
    parser.add_argument("--report", type=Path, default=None, metavar="JSON",
                        help="run nothing: print the report of a --json file (also of an interrupted run)")
    return parser


def print_report(saved: dict, goals: dict) -> int:
    """Print the report of saved results: the epochs values that have runs of both kinds."""
    runs = saved["runs"]
    done = sorted({r["epochs"] for r in runs if r["impl"] == "vae-tf"} & {r["epochs"] for r in runs if r["impl"] == "plain"})
    if "vae-tf warm" in impls_of(runs):  # an interrupted run: only the epochs with all three kinds
        done = [e for e in done if any(r["impl"] == "vae-tf warm" and r["epochs"] == e for r in runs)]
    runs = [r for r in runs if r["epochs"] in done]
    print("\n".join(report_lines(summary(runs, done, goals), runs, saved.get("probes") or {}, saved.get("floors") or [])))
    return 0


def _save(path: Path | None, args, rows: list[dict], runs: list[dict], probes: dict, floors: list[dict] = ()) -> None:
    """Write all results so far to ``path`` (after every run, so an interrupted benchmark keeps them)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "summary": rows,
                               "runs": runs, "probes": probes, "floors": list(floors)}, indent=1))  # fmt: skip
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for key, value in {"epochs": [6, 30], "repeats": 3, **(TINY if args.tiny else {})}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    goals = load_goals("whole_process", args.goals)
    if args.report:
        return print_report(json.loads(args.report.read_text()), goals)
    epochs_list = sorted(set(args.epochs))  # shorter runs first
    print(f"whole process, {args.repeats} interleaved repeats, epochs {epochs_list}, Python {sys.version.split()[0]}", flush=True)
    probes = {} if args.no_probes else run_probes(args.repeats)
    # the floor probe takes about 12 s: measured for the real benchmark, not the --tiny check
    floors = [] if args.no_probes or args.tiny else [run_floor_probe() for _ in range(args.repeats)]
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="vae-tf-whole-") as tmp:
        for epochs in epochs_list:
            for r in range(args.repeats):
                for impl in IMPLS:
                    cache = Path(tmp) / ("cache-plain" if impl == "plain" else "cache-vae-tf")  # warm reuses the cold run's
                    runs.append(run_one(impl, epochs, args, Path(tmp), len(runs), cache))
                    _save(args.json, args, [], runs, probes, floors)
                    x = runs[-1]
                    print(f"  [{epochs} epochs, repeat {r + 1}/{args.repeats}] {impl:<11s} {x['wall_s']:6.1f} s "
                          f"(epoch 1 {x['stages']['epoch 1']:.1f} s, test -ELBO {x['test_neg_elbo']:.2f})", flush=True)  # fmt: skip
    rows = summary(runs, epochs_list, goals)
    print()
    print("\n".join(report_lines(rows, runs, probes, floors)))
    _save(args.json, args, rows, runs, probes, floors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
