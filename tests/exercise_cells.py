"""The cells of a notebook's graded exercise, and running them, for tests/test_exercises_*.py and test_course.py."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import nbformat

from vae_tf.course.student import is_solution_cell

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def exercise_cells(notebook: str, number: int) -> tuple[str, str]:
    """(the "# Check exercise N" cell's source, the solution cell "# Exercise N"'s source) of ``notebooks/notebook``."""
    cells = nbformat.read(NOTEBOOKS / notebook, as_version=4).cells
    check = next(c.source for c in cells if c.source.startswith(f"# Check exercise {number}"))
    solution = next(c.source for c in cells if is_solution_cell(c) and c.source.startswith(f"# Exercise {number}"))
    return check, solution


def run_cell(namespace: dict, source: str) -> str:
    """Execute ``source`` in ``namespace``; what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(source, namespace)
    return out.getvalue()
