"""Reading a notebook's cells and writing notebook files (nbformat), shared by the course tools."""

from __future__ import annotations

from pathlib import Path

import nbformat

from ..tools.files import atomic_write_text


def first_cell(nb, cell_type: str):
    """The first cell of ``nb`` whose type is ``cell_type`` (``"markdown"`` or ``"code"``).
    Raises ``ValueError`` if it has none."""
    for cell in nb.cells:
        if cell.cell_type == cell_type:
            return cell
    raise ValueError(f"the notebook has no {cell_type} cell.")


def write_notebook(nb, path: str | Path) -> None:
    """Write ``nb`` to ``path`` atomically (a reader never sees half a notebook), with a final newline."""
    atomic_write_text(Path(path), nbformat.writes(nb) + "\n")
