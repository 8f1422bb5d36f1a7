"""The student edition and the answer key: what the exercise solutions are, and how they come out.

Exercise solutions are marked in one of two ways, nothing else: a ``<details>`` block whose
``<summary>`` starts with "Solution" inside a markdown cell, or a cell whose metadata tags include
``"solution"`` (a tagged code cell becomes a ``# TODO`` stub, a tagged markdown cell is dropped).
``python -m vae_tf.course student OUT_DIR`` runs :func:`write_student_edition`; the website's
*Answer key* page is :func:`answer_key`.
"""

from __future__ import annotations

import copy
import re
import textwrap
from pathlib import Path

import nbformat

from .checks import is_checks_cell
from .notebook_files import first_cell, write_notebook
from .project import BADGE_RE, ROOT, course_notebooks

SOLUTION_TAG = "solution"
_DETAILS_RE = re.compile(r"[ \t]*<details>\s*<summary>\s*Solution.*?</summary>(.*?)</details>[ \t]*\n?", re.S | re.I)


def is_solution_cell(cell) -> bool:
    """True when the cell's metadata tags include ``"solution"``."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def solution_blocks(markdown: str) -> list[str]:
    """The inner text (dedented, without the summary) of each ``<details><summary>Solution``
    block of a markdown cell's source."""
    return [textwrap.dedent(inner).strip("\n") for inner in _DETAILS_RE.findall(markdown)]


def unmarked_solutions(nb) -> list[int]:
    """Indices of cells that look like a solution but carry neither marking (a heading or a first
    line saying "Solution" outside a ``<details>`` block, on an untagged cell): the student
    edition would leak them. Tag such cells ``"solution"``."""
    found = []
    for i, cell in enumerate(nb.cells):
        if is_solution_cell(cell):
            continue
        text = _DETAILS_RE.sub("", cell.source) if cell.cell_type == "markdown" else cell.source
        if re.search(r"^\s*(#+|\*\*)?\s*(answer|solution)s?\b", text, re.I | re.M) or "<details" in text:
            found.append(i)
    return found


def stub_source(solution: str) -> str:
    """A runnable stand-in for a solution code cell: its leading comment lines (the task), a
    ``# TODO`` and ``pass``."""
    lines = solution.split("\n")
    head = []
    for line in lines:
        if not line.startswith("#"):
            break
        head.append(line)
    return "\n".join([*head, "# TODO: write your solution here (the instructor's edition has one).", "pass"])


def student_notebook(nb):
    """A copy of ``nb`` for students: ``<details>`` solution blocks removed from markdown, cells
    tagged ``"solution"`` dropped (markdown) or replaced by a ``# TODO`` stub with cleared outputs
    (code), the Colab badge removed (it opens the instructor's edition), the rest unchanged.
    Raises ``ValueError`` if a cell looks like an unmarked solution."""
    unmarked = unmarked_solutions(nb)
    if unmarked:
        raise ValueError(f"cells {unmarked} look like solutions but are not marked: tag them {SOLUTION_TAG!r} in their metadata.")
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.cells:
        if is_solution_cell(cell) and is_checks_cell(cell):
            continue  # the checks of a solution's numbers
        if is_solution_cell(cell) and cell.cell_type == "code":
            cell.source, cell.outputs, cell.execution_count = stub_source(cell.source), [], None
        elif is_solution_cell(cell):
            continue
        elif cell.cell_type == "markdown":
            cell.source = _DETAILS_RE.sub("", cell.source)
            cell.source = "\n".join(line for line in cell.source.split("\n") if not BADGE_RE.match(line))
        cells.append(cell)
    out.cells = cells
    out.metadata.pop("widgets", None)
    return out


def write_student_edition(out_dir: str | Path, root: str | Path = ROOT) -> list[Path]:
    """Write the student edition of every course notebook under ``root`` into ``out_dir``
    (created; existing files of the same names are replaced). Returns the paths written;
    raises ``ValueError`` as :func:`student_notebook` does."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in course_notebooks(root):
        write_notebook(student_notebook(nbformat.read(path, as_version=4)), out / path.name)
        written.append(out / path.name)
    return written


def _answer_text(markdown: str) -> str:
    """A markdown cell with solutions as answer-key text: from its "Exercises" heading on (if it
    has one), each ``<details>`` block opened as a "**Solution.**" paragraph, headings one level down."""
    heading = re.search(r"^#+\s*Exercises\b.*$", markdown, re.M | re.I)
    text = markdown[heading.end():] if heading else markdown
    text = re.sub(r"<details>\s*<summary>\s*Solution.*?</summary>", "**Solution.**", text, flags=re.S | re.I)
    text = re.sub(r"[ \t]*</details>[ \t]*", "", text)
    return re.sub(r"^(#+)", r"\1#", text, flags=re.M).strip("\n")


def answer_key(root: str | Path = ROOT) -> str:
    """Markdown of every exercise with its solution, by notebook in course order: what the
    student edition removes (``<details>`` solution blocks and cells tagged ``"solution"``)."""
    parts = ["# Answer key", "", "Generated from the notebooks by `python -m vae_tf.course site`: the exercises with the "
             "solutions that the student edition (`python -m vae_tf.course student OUT_DIR`) removes.", ""]
    for path in course_notebooks(root):
        nb = nbformat.read(path, as_version=4)
        title = first_cell(nb, "markdown").source.split("\n")[0].lstrip("# ").strip()
        parts += [f"## {title}", ""]
        for cell in nb.cells:
            if is_solution_cell(cell):
                parts += [f"```python\n{cell.source}\n```" if cell.cell_type == "code" else cell.source, ""]
            elif cell.cell_type == "markdown" and solution_blocks(cell.source):
                parts += [_answer_text(cell.source), ""]
    return "\n".join(parts)
