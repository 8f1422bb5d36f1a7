"""Every notebook's first cells, written from ``pyproject.toml``: the Colab badge (second line of
the first markdown cell) and the settings-and-install block (top of the first code cell).

``python -m vae_tf.course sync`` runs :func:`sync`; a fork changes ``[project.urls] Repository``
and re-runs it.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import nbformat

from .notebook_files import first_cell, write_notebook
from .project import BADGE_RE, COURSE_BRANCH, ROOT, Project, course_notebooks, read_project

INSTALL_FIRST_LINE = "# Settings: change one, then run every cell from here"
#: The last line of the block :func:`install_block` writes.
INSTALL_LAST_LINE = '    os.environ["VAE_TF_ALL_TRAINING_IMAGES"] = "1"  # the prose checks then report without comparing'
#: Environment variable the first cell sets for ``ALL_TRAINING_IMAGES = True`` (read by :func:`claims.stated`).
ALL_IMAGES_ENV_VAR = "VAE_TF_ALL_TRAINING_IMAGES"


def install_block(project: Project, ref: str | None = None) -> str:
    """The first lines of every notebook's first code cell: the two settings a reader may change
    (quick mode, all training images), then the install: nothing when ``vae_tf`` is importable
    (or the notebook runs inside a checkout), otherwise pip installs the package from the
    repository at ``ref`` (default :data:`COURSE_BRANCH`; ``VAE_TF_REPO`` / ``VAE_TF_REF`` override
    both) and keeps the TensorFlow already installed (Colab's satisfies the requirement)."""
    return textwrap.dedent(f"""\
        {INSTALL_FIRST_LINE}
        QUICK = False                # True: quick mode (fewer epochs on a subset: minutes; numbers differ from the prose)
        ALL_TRAINING_IMAGES = False  # True: every training image (60,000 from Keras) instead of the course's first 24,345

        # Setup: make `vae_tf` importable (in a checkout, or installed from the repository on Colab)
        import importlib, importlib.util, os, subprocess, sys
        VAE_TF_REPO = os.environ.get("VAE_TF_REPO", "{project.repository}")  # from pyproject.toml
        VAE_TF_REF = os.environ.get("VAE_TF_REF", "{ref or COURSE_BRANCH}")  # the branch (or a tag or commit) to install
        if importlib.util.find_spec("vae_tf") is None:
            if os.path.isdir(os.path.join("..", "vae_tf")):  # running inside a checkout: notebooks/ is beside vae_tf/
                sys.path.insert(0, os.path.abspath(".."))
            else:  # Colab or another fresh environment: the TensorFlow already installed is kept
                subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{{VAE_TF_REPO}}@{{VAE_TF_REF}}"], check=True)
                importlib.invalidate_caches()
        if QUICK:
            os.environ["VAE_TF_QUICK"] = "1"  # read by vae_tf.quick_mode() and the prose checks
        if ALL_TRAINING_IMAGES:
        {INSTALL_LAST_LINE}""")


def _install_span(lines: list[str]) -> tuple[int, int]:
    """``(start, stop)`` line indices of the install block in a first code cell's lines."""
    if not lines or lines[0].rstrip() != INSTALL_FIRST_LINE:
        raise ValueError(f"the first code cell must start with {INSTALL_FIRST_LINE!r}.")
    stop = next((i + 1 for i, line in enumerate(lines) if line.rstrip() == INSTALL_LAST_LINE.rstrip()), None)
    if stop is None:
        raise ValueError(f"the first code cell's setup block does not end with {INSTALL_LAST_LINE.strip()!r}.")
    return 0, stop


def installed_ref(nb) -> tuple[str, str]:
    """``(repository, ref)`` that a notebook's install cell installs from by default. Raises
    ``ValueError`` if the cell sets no defaults (the fix: ``python -m vae_tf.course sync``)."""
    source = first_cell(nb, "code").source
    repo = re.search(r'"VAE_TF_REPO", "([^"]+)"', source)
    ref = re.search(r'"VAE_TF_REF", "([^"]+)"', source)
    if not (repo and ref):
        raise ValueError("the install cell does not set VAE_TF_REPO and VAE_TF_REF defaults; run `python -m vae_tf.course sync`.")
    return repo.group(1), ref.group(1)


def sync_notebook(nb, notebook: str, project: Project, *, ref: str | None = None, branch: str = COURSE_BRANCH):
    """Put ``project``'s badge for ``notebook`` (repository path) on the second line of the first
    markdown cell and its install block at the top of the first code cell; in place. Nothing
    else changes (outputs included). Returns ``nb``; raises ``ValueError`` if the first code
    cell has no install block to replace."""
    md = first_cell(nb, "markdown")
    lines = [line for line in md.source.split("\n") if not BADGE_RE.match(line)]
    while len(lines) > 1 and not lines[1].strip():
        del lines[1]
    md.source = "\n".join([lines[0], "", project.badge(notebook, branch), "", *lines[1:]])
    code = first_cell(nb, "code")
    code_lines = code.source.split("\n")
    start, stop = _install_span(code_lines)
    code.source = "\n".join([*code_lines[:start], install_block(project, ref), *code_lines[stop:]])
    return nb


def sync(root: str | Path = ROOT, *, ref: str | None = None, branch: str = COURSE_BRANCH) -> list[Path]:
    """Rewrite badges and install blocks of all course notebooks under ``root`` from its
    ``pyproject.toml``; write only the notebooks that changed. ``ref="commit"`` pins to the
    checkout's current commit. Returns the paths written."""
    project = read_project(Path(root, "pyproject.toml"))
    if ref == "commit":
        ref = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True).stdout.strip()
    written = []
    for path in course_notebooks(root):
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        sync_notebook(nb, path.relative_to(root).as_posix(), project, ref=ref, branch=branch)
        if nbformat.writes(nb) != before:
            write_notebook(nb, path)
            written.append(path)
    return written
