"""The benchmarks' pass/fail thresholds, read from ``goals.json`` (data, not code)."""

from __future__ import annotations

import json
from pathlib import Path

GOALS_FILE = Path(__file__).with_name("goals.json")


def load_goals(benchmark: str, path: Path = GOALS_FILE) -> dict:
    """The thresholds of ``benchmark`` (``"train_throughput"`` or ``"whole_process"``), without
    the ``_``-prefixed notes. Raises ``KeyError`` naming the known benchmarks if it is absent."""
    goals = json.loads(Path(path).read_text())
    if benchmark not in goals:
        raise KeyError(f"{path} has no goals for {benchmark!r}; it has {sorted(goals)}.")
    return {k: v for k, v in goals[benchmark].items() if not k.startswith("_")}


def verdict(value: float, goal: float | None) -> str:
    """``"met"`` if ``value >= goal``, ``"NOT met"`` if below, ``"no goal"`` if ``goal`` is None."""
    if goal is None:
        return "no goal"
    return "met" if value >= goal else "NOT met"
