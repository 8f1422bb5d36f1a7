"""The student edition and the answer key: what the exercise solutions are, and how they come out.

Exercise solutions are marked in one of three ways, nothing else: a ``<details>`` block whose
``<summary>`` starts with "Solution" inside a markdown cell; a cell whose metadata tags include
``"solution"`` (a tagged code cell becomes a ``# TODO`` stub, a tagged markdown cell is dropped);
or, for code the student writes inside a given structure (notebook 02's VAE from scratch),
**nbgrader's solution regions**: lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in a
code cell whose metadata carries nbgrader's ``{"solution": true, "grade_id": ...}``
(:func:`scaffold_metadata`). The student edition replaces each region as ``nbgrader
generate_assignment`` does (its ``ClearSolutions`` preprocessor): ``# YOUR CODE HERE`` and ``raise
NotImplementedError()``, indented like the ``BEGIN`` line; the rest of the cell stays, so the
student writes into the real class or function. A course that runs nbgrader takes these cells as
they are.
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
from .project import BADGE_RE, COURSE_BRANCH, ROOT, course_notebooks

SOLUTION_TAG = "solution"
#: nbgrader's default delimiters and code stub (``ClearSolutions.begin_solution_delimeter``, ``code_stub``).
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
_DETAILS_RE = re.compile(r"[ \t]*<details>\s*<summary>\s*Solution.*?</summary>(.*?)</details>[ \t]*\n?", re.S | re.I)


def is_solution_cell(cell) -> bool:
    """True when the cell's metadata tags include ``"solution"``."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def scaffold_metadata(grade_id: str) -> dict:
    """nbgrader's metadata of an autograded-answer cell (schema 3): the student writes its solution regions."""
    return {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3, "solution": True, "task": False}


def has_solution_regions(cell) -> bool:
    """True for a code cell with nbgrader solution regions and nbgrader's ``solution: true`` metadata."""
    return (cell.get("cell_type") == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution") is True
            and BEGIN_SOLUTION in cell.get("source", ""))


def clear_solution_regions(source: str) -> str:
    """``source`` with each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region (delimiters
    included) replaced by :data:`CODE_STUB`, indented like the ``BEGIN`` line, as nbgrader does.
    Raises ``ValueError`` for a region that does not close or an ``END`` without a ``BEGIN``."""
    out, inside = [], False
    for number, line in enumerate(source.split("\n"), 1):
        if BEGIN_SOLUTION in line:
            if inside:
                raise ValueError(f"line {number}: {BEGIN_SOLUTION!r} inside an open solution region")
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + stub for stub in CODE_STUB]
            inside = True
        elif END_SOLUTION in line:
            if not inside:
                raise ValueError(f"line {number}: {END_SOLUTION!r} without a {BEGIN_SOLUTION!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"a {BEGIN_SOLUTION!r} region is not closed by {END_SOLUTION!r}")
    return "\n".join(out)


def solution_blocks(markdown: str) -> list[str]:
    """The inner text (dedented, without the summary) of each ``<details><summary>Solution``
    block of a markdown cell's source."""
    return [textwrap.dedent(inner).strip("\n") for inner in _DETAILS_RE.findall(markdown)]


def unmarked_solutions(nb) -> list[int]:
    """Indices of cells that look like a solution but carry neither marking (a heading or a first
    line saying "Solution" outside a ``<details>`` block, on an untagged cell): the student
    edition would leak them. Tag such cells ``"solution"`` (or give a cell with nbgrader solution
    regions nbgrader's metadata, :func:`scaffold_metadata`)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if is_solution_cell(cell) or has_solution_regions(cell):
            continue
        if cell.cell_type == "code" and (BEGIN_SOLUTION in cell.source or END_SOLUTION in cell.source):
            found.append(i)  # nbgrader regions without nbgrader's solution metadata
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
    (code), nbgrader solution regions replaced by nbgrader's stub (:func:`clear_solution_regions`), the Colab badge removed (it opens the instructor's edition), the rest unchanged.
    Raises ``ValueError`` if a cell looks like an unmarked solution."""
    unmarked = unmarked_solutions(nb)
    if unmarked:
        raise ValueError(f"cells {unmarked} look like solutions but are not marked: tag them {SOLUTION_TAG!r} in their metadata.")
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.cells:
        if is_solution_cell(cell) and is_checks_cell(cell):
            continue  # the checks of a solution's numbers
        if has_solution_regions(cell):
            cell.source, cell.outputs, cell.execution_count = clear_solution_regions(cell.source), [], None
        elif is_solution_cell(cell) and cell.cell_type == "code":
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


#: Where the committed student edition lives (the badges a student follows open it; see :func:`published_edition`).
STUDENT_DIR = "notebooks/student"


def published_edition(nb, name: str, project) -> object:
    """The committed form of a student notebook ``nb`` (already :func:`student_notebook`): no
    outputs (the student runs it), and a Colab badge that opens this student copy
    (``notebooks/student/NAME`` on the course branch) as the first cell's second line."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    first = first_cell(out, "markdown")
    lines = first.source.split("\n")
    first.source = "\n".join([lines[0], "", project.badge(f"{STUDENT_DIR}/{name}", COURSE_BRANCH), *lines[1:]])
    return out


def write_student_edition(out_dir: str | Path | None = None, root: str | Path = ROOT) -> list[Path]:
    """Write the student edition of every course notebook under ``root`` into ``out_dir``
    (created; existing files of the same names are replaced). Without ``out_dir``: the committed
    edition in ``root/notebooks/student`` (:func:`published_edition`: no outputs, its own Colab
    badges); with one, the notebooks keep the stored run's outputs and carry no badge. Returns the
    paths written; raises ``ValueError`` as :func:`student_notebook` does."""
    from .project import read_project

    published = out_dir is None
    out = Path(root, STUDENT_DIR) if published else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    project = read_project(Path(root, "pyproject.toml")) if published else None
    written = []
    for path in course_notebooks(root):
        nb = student_notebook(nbformat.read(path, as_version=4))
        write_notebook(published_edition(nb, path.name, project) if published else nb, out / path.name)
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
            if is_solution_cell(cell) or has_solution_regions(cell):
                parts += [f"```python\n{cell.source}\n```" if cell.cell_type == "code" else cell.source, ""]
            elif cell.cell_type == "markdown" and solution_blocks(cell.source):
                parts += [_answer_text(cell.source), ""]
    return "\n".join(parts)
