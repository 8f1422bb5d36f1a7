"""Every package the project imports is declared (issue 22).

A test that imports ``mpmath`` passed for months because the machine happened to have it; a fresh
venv made from requirements.txt did not. These tests read every import statement (top level or
inside a function) of the package, the tests, the benchmarks and the notebooks, and check:

- each third-party module belongs to a distribution that requirements.txt or pyproject.toml
  declares (the package's dependencies or one of its extras);
- what the test command runs (tests and notebooks) needs only what requirements.txt installs.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
FIRST_PARTY = {"vae_tf", "benchmarks", "tests"} | {p.stem for p in (ROOT / "tests").glob("*.py")}
# Import names that differ from their distribution's name, for modules that may not be installed here.
KNOWN_DISTRIBUTIONS = {"PIL": "pillow", "yaml": "pyyaml", "torch": "torch", "sklearn": "scikit-learn"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(specs: list[str]) -> set[str]:
    return {_canonical(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", s).group(1)) for s in specs}


def _requirements() -> tuple[set[str], set[str]]:
    """(distributions requirements.txt installs, extras of this package it names)."""
    names, extras = set(), set()
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        local = re.fullmatch(r"(?:-e\s+)?\.(?:\[([\w,\s-]+)\])?", line)
        if local:
            extras |= {e.strip() for e in (local.group(1) or "").split(",") if e.strip()}
        else:
            names |= _names([line])
    return names, extras


def installed_by_requirements() -> set[str]:
    names, extras = _requirements()
    project = PYPROJECT["project"]
    names |= _names(project["dependencies"])
    for extra in extras:
        names |= _names(project["optional-dependencies"][extra])
    return names


def declared() -> set[str]:
    project = PYPROJECT["project"]
    names = _requirements()[0] | _names(project["dependencies"])
    for specs in project["optional-dependencies"].values():
        names |= _names(specs)
    return names


def _imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))  # IPython magics


def third_party_imports(folders: list[str]) -> dict[str, set[str]]:
    """{top-level module: the files importing it} for the .py files and notebooks under ``folders``."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix == ".py":
                modules = _imports(path.read_text(encoding="utf-8"))
            elif path.suffix == ".ipynb" and ".ipynb_checkpoints" not in path.parts:
                modules = _imports(_notebook_source(path))
            else:
                continue
            for module in modules - FIRST_PARTY - set(sys.stdlib_module_names):
                found.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return found


def _distributions(module: str) -> set[str]:
    installed = importlib.metadata.packages_distributions().get(module)
    if installed:
        return {_canonical(d) for d in installed}
    return {_canonical(KNOWN_DISTRIBUTIONS.get(module, module))}


def _undeclared(imports: dict[str, set[str]], allowed: set[str]) -> list[str]:
    return [f"{module} (imported by {', '.join(sorted(files))}; distribution {'/'.join(sorted(_distributions(module)))})"
            for module, files in sorted(imports.items()) if not _distributions(module) & allowed]


def test_every_import_of_the_project_is_declared():
    missing = _undeclared(third_party_imports(["vae_tf", "tests", "benchmarks", "notebooks"]), declared())
    assert not missing, f"imported but declared in neither requirements.txt nor pyproject.toml: {missing}"


def test_the_test_command_needs_only_what_requirements_txt_installs():
    missing = _undeclared(third_party_imports(["vae_tf", "tests", "notebooks"]), installed_by_requirements())
    assert not missing, f"README's test command imports these, but `pip install -r requirements.txt` does not install them: {missing}"


def test_the_scan_sees_imports_inside_functions_and_skips_the_standard_library(tmp_path):
    source = "import os\nfrom json import dumps\ndef f():\n    import mpmath as mp\n    from PIL import Image\nfrom . import x\n"
    assert _imports(source) - set(sys.stdlib_module_names) == {"mpmath", "PIL"}
    assert _undeclared({"mpmath": {"t.py"}}, {"numpy"}) == ["mpmath (imported by t.py; distribution mpmath)"]
    assert not _undeclared({"PIL": {"t.py"}}, {"pillow"})


def test_ci_tests_the_declared_floor_of_tensorflow_and_keras():
    """.ci/run's second venv pins exactly the lowest versions pyproject.toml admits."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    pins = dict(re.findall(r"FLOOR_(TF|KERAS)=([\d.]+)", ci))
    floors = {_names([d]).pop(): re.search(r">=([\d.]+)", d).group(1) for d in PYPROJECT["project"]["dependencies"]
              if d.startswith(("tensorflow", "keras"))}
    assert floors == {"tensorflow": pins["TF"].removesuffix(".0"), "keras": pins["KERAS"].removesuffix(".0")}, (floors, pins)
    assert '"tensorflow==${FLOOR_TF}" "keras==${FLOOR_KERAS}"' in ci and "pytest" in ci.split("FLOOR_KERAS}\"", 1)[1]
