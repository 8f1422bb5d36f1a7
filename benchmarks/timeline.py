"""Where the time of a whole process goes: run a command with each stdout line time-stamped,
then split its wall time into stages from those stamps, the files it wrote (their mtimes) and
its own timing records. All stamps are ``time.time()`` seconds, so they compare across processes.

Stages (``STAGES``, in order; they add up to the whole process):

* start-up and imports: process start to the first line of the program's own work;
* data and model: loading MNIST, building and compiling the model;
* epoch 1 and later epochs: the epochs' own wall times (epoch 1 includes tracing and XLA
  compilation), from the program's per-epoch records;
* other fit work: the rest of ``fit`` (setup, per-epoch checkpoints and callbacks);
* evaluation: the held-out test set (``vae-tf train``: also saving ``model.keras``);
* figures: the PNG figures (``vae-tf train`` only);
* exit: the last file written to the end of the process (interpreter and TensorFlow teardown).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

STAGES = (
    "start-up and imports",
    "data and model",
    "epoch 1",
    "later epochs",
    "other fit work",
    "evaluation",
    "figures",
    "exit",
)
FIGURES = ("latent.png", "manifold.png", "reconstructions.png", "samples.png", "training_curves.png")
_EPOCH_END = re.compile(r"^\d+/\d+ - ")  # Keras's one line per epoch at verbose=2


def run_stamped(cmd: list[str], cwd: Path, env: dict) -> dict:
    """Run ``cmd``; return ``spawn``/``exit`` stamps, ``returncode``, ``lines`` (``[stamp, text]``
    per stdout line, stamped on arrival; the child must flush its lines) and ``stderr_tail``."""
    with tempfile.TemporaryFile("w+") as err:
        spawn = time.time()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        lines = [[time.time(), line.rstrip("\n")] for line in proc.stdout]
        returncode = proc.wait()
        end = time.time()
        err.seek(0)
        stderr_tail = err.read()[-3000:]
    return {"spawn": spawn, "exit": end, "wall_s": end - spawn, "returncode": returncode, "lines": lines,
            "stderr_tail": stderr_tail}  # fmt: skip


def _stages(bounds: dict[str, float], epoch_times: list[float]) -> dict[str, float]:
    """Seconds per stage from the boundary stamps ``spawn, work, fit_start, fit_end, evaluated,
    figures, exit`` and the per-epoch wall times; the fit span is split into epoch 1, later
    epochs and the rest."""
    b = bounds
    fit = b["fit_end"] - b["fit_start"]
    first, later = (epoch_times[0], sum(epoch_times[1:])) if epoch_times else (0.0, 0.0)
    return {
        "start-up and imports": b["work"] - b["spawn"],
        "data and model": b["fit_start"] - b["work"],
        "epoch 1": first,
        "later epochs": later,
        "other fit work": fit - first - later,
        "evaluation": b["evaluated"] - b["fit_end"],
        "figures": b["figures"] - b["evaluated"],
        "exit": b["exit"] - b["figures"],
    }


def _first(lines: list, test) -> float | None:
    return next((t for t, text in lines if test(text)), None)


def vae_tf_breakdown(run: dict, out_dir: Path) -> dict:
    """Stages of a ``vae-tf train --verbose 2`` process (see the module docstring), from its
    stamped lines and ``metrics.json`` (``wall_time_s``: from the start of the command's work),
    ``history.json`` (``epoch_time_s``) and the mtimes of the files in ``out_dir``.
    Returns ``{"stages": {...}, "figures": {name: s}, "metrics": metrics.json}``.
    Raises ``ValueError`` naming what is missing if the run did not leave these."""
    out_dir = Path(out_dir)
    try:
        metrics = json.loads((out_dir / "metrics.json").read_text())
        history = json.loads((out_dir / "history.json").read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"vae-tf run in {out_dir} left no readable metrics.json/history.json: {e}") from None
    mtime = {p.name: p.stat().st_mtime for p in out_dir.iterdir() if p.is_file()}
    lines = run["lines"]
    epoch_ends = [t for t, text in lines if _EPOCH_END.match(text)]
    fit_start = _first(lines, lambda s: s.startswith("vae-tf: training"))
    if not epoch_ends or fit_start is None or "history.json" not in mtime:
        raise ValueError(f"vae-tf run in {out_dir}: no 'vae-tf: training' line, epoch lines or history.json.")
    figures = sorted((mtime[n], n) for n in FIGURES if n in mtime)
    bounds = {
        "spawn": run["spawn"],
        "work": mtime["metrics.json"] - metrics["wall_time_s"],
        "fit_start": fit_start,
        "fit_end": epoch_ends[-1],
        "evaluated": mtime["history.json"],  # written right after model.keras, before the figures
        "figures": figures[-1][0] if figures else mtime["history.json"],
        "exit": run["exit"],
    }
    per_figure, last = {}, mtime["history.json"]
    for t, name in figures:
        per_figure[name], last = t - last, t
    return {"stages": _stages(bounds, history.get("epoch_time_s", [])), "figures": per_figure, "metrics": metrics}


def plain_breakdown(run: dict, result: dict) -> dict:
    """Stages of a ``benchmarks.children`` process from its ``phases`` stamps (imports, model,
    fit, evaluation) and per-epoch wall times; it draws no figures."""
    p = result["phases"]
    bounds = {"spawn": run["spawn"], "work": p["imports"], "fit_start": p["model"], "fit_end": p["fit"],
              "evaluated": p["evaluation"], "figures": p["evaluation"], "exit": run["exit"]}  # fmt: skip
    return {"stages": _stages(bounds, result["epoch_times_all"]), "figures": {}}
