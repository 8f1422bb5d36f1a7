"""The prose checks out of the reading flow (issue 25).

A notebook's ``stated(...)`` calls (:mod:`vae_tf.course.claims`) stay in the notebook, in cells of
their own that Jupyter and Colab show collapsed and the website leaves out: a **checks cell** is a
code cell tagged :data:`CHECKS_TAG` whose metadata hides its source (``jupyter.source_hidden``,
Colab's ``cellView: form`` with a ``#@title``), holding only ``stated(...)`` statements.
:func:`separate_checks` moves every top-level ``stated(...)`` statement of a code cell into a
checks cell right after it.
"""

from __future__ import annotations

import ast
import copy

CHECKS_TAG = "checks"
CHECKS_TITLE = "#@title Checks: the numbers the text states, against this run"


def is_checks_cell(cell) -> bool:
    """True for a checks cell: tagged :data:`CHECKS_TAG` and hidden in Jupyter and Colab."""
    meta = cell.get("metadata", {})
    return (
        cell.get("cell_type") == "code"
        and CHECKS_TAG in meta.get("tags", [])
        and meta.get("jupyter", {}).get("source_hidden") is True
        and meta.get("cellView") == "form"
    )


def _is_stated_call(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("stated", "stated_summary")


def is_check_statement(node) -> bool:
    """True for a statement that only checks: ``stated(...)`` (or ``stated_summary()``), a tuple
    of such calls, a ``for`` whose body holds nothing else, or an ``if`` that holds such checks or
    asserts and otherwise only assignments (the checks of a full run, ``if not QUICK:``)."""
    if isinstance(node, ast.Expr):
        value = node.value
        return _is_stated_call(value) or (isinstance(value, ast.Tuple) and all(_is_stated_call(e) for e in value.elts))
    if isinstance(node, ast.For):
        body = [*node.body, *node.orelse]
        return bool(body) and all(is_check_statement(n) or isinstance(n, ast.Pass) for n in body)
    if isinstance(node, ast.If):  # e.g. `if not QUICK:` with the checks and asserts of a full run
        body = [*node.body, *node.orelse]
        return any(is_check_statement(n) or isinstance(n, ast.Assert) for n in body) and all(
            is_check_statement(n) or isinstance(n, (ast.Pass, ast.Assert, ast.Assign)) for n in body)
    return False


def stated_lines(source: str) -> set[int]:
    """0-based indices of the lines of ``source`` that hold nothing but top-level check
    statements (:func:`is_check_statement`; a statement may span lines; ``a; b`` on one line
    counts when both are). Empty when the source does not parse (an IPython magic)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    checks, other = set(), set()
    for node in tree.body:
        lines = set(range(node.lineno - 1, node.end_lineno))
        if is_check_statement(node):
            checks |= lines
        else:
            other |= lines
    return checks - other


def checks_cell(source: str):
    """A new checks cell holding ``source`` (nbformat v4 dict, no outputs)."""
    import nbformat

    cell = nbformat.v4.new_code_cell(f"{CHECKS_TITLE}\n{source}")
    cell.metadata.update({"tags": [CHECKS_TAG], "jupyter": {"source_hidden": True}, "cellView": "form"})
    return cell


def separate_checks(nb):
    """A copy of ``nb`` with every code cell's top-level ``stated(...)`` lines moved into a
    checks cell right after it (a cell of nothing but such lines becomes a checks cell
    itself). Comment lines directly above a moved block go with it. The checks of a cell tagged
    ``solution`` are tagged so too: the student edition drops them with the solution."""
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.cells:
        if cell.cell_type != "code" or is_checks_cell(cell):
            cells.append(cell)
            continue
        lines = cell.source.split("\n")
        moved = stated_lines(cell.source)
        if not moved:
            cells.append(cell)
            continue
        for i in sorted(moved):  # a comment line right above a moved line belongs to it
            j = i - 1
            while j >= 0 and j not in moved and lines[j].lstrip().startswith("#") and not lines[j].startswith(" "):
                moved.add(j)
                j -= 1
        kept = [line for i, line in enumerate(lines) if i not in moved]
        checks = [lines[i] for i in sorted(moved)]
        if any(line.strip() and not line.lstrip().startswith("#") for line in kept):
            cell.source = "\n".join(kept).strip("\n")
            new = checks_cell("\n".join(checks))
            if "solution" in cell.metadata.get("tags", []):  # checks of a solution: not in the student edition
                new.metadata["tags"].append("solution")
            cells += [cell, new]
        else:
            new = checks_cell("\n".join(lines).strip("\n"))
            new.outputs, new.execution_count = cell.outputs, cell.execution_count
            cells.append(new)
    out.cells = cells
    return out
