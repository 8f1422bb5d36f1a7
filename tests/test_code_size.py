"""No function or method in ``vae_tf/`` is over 60 lines (issue 31, point 5): a longer one does
several things, and a reader of the course should see each of them named.

A function's length counts its lines from ``def`` to its last line (``ast``'s ``lineno`` to
``end_lineno``: docstring, comments and blank lines inside it included, decorators not). Nested
functions count on their own and inside their parent.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vae_tf"
MAX_LINES = 60


def function_lengths(source: str) -> list[tuple[str, int]]:
    """``(qualified name, lines)`` of every function and method in ``source``, e.g. ``("VAE.train_step", 42)``."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child.end_lineno - child.lineno + 1))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def long_functions(package: Path = PACKAGE, limit: int = MAX_LINES) -> list[str]:
    """``"path:function (N lines)"`` for every function under ``package`` longer than ``limit`` lines."""
    return [f"{path.relative_to(package.parent).as_posix()}:{name} ({lines} lines)"
            for path in sorted(package.rglob("*.py"))
            for name, lines in function_lengths(path.read_text(encoding="utf-8")) if lines > limit]


def test_no_function_in_the_package_is_over_60_lines():
    offenders = long_functions()
    assert not offenders, f"functions over {MAX_LINES} lines (split them): " + "; ".join(offenders)


def test_the_count_runs_from_def_to_the_last_line_and_names_methods_and_nested_functions(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(58))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(
        f"@decorator\ndef fits():\n    '''doc'''\n{body}\n\n\n"                   # 1 + 1 + 58 = 60 lines
        f"class A:\n    def over(self):\n        '''doc'''\n{body.replace('    ', '        ')}\n        return 1\n\n"
        f"def outer():\n    def inner():\n{body.replace('    ', '        ')}\n        return 2\n    return inner\n",
        encoding="utf-8")
    assert dict(function_lengths((tmp_path / "pkg" / "m.py").read_text(encoding="utf-8"))) == {
        "fits": 60, "A.over": 61, "outer": 62, "outer.inner": 60}
    assert long_functions(tmp_path / "pkg") == ["pkg/m.py:A.over (61 lines)", "pkg/m.py:outer (62 lines)"]
