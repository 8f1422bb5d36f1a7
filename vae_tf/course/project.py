"""Where the course's repository lives, and which notebooks make the course.

``pyproject.toml`` is the one place that says it: ``[project.urls] Repository`` (a
``https://github.com/OWNER/NAME`` URL) and ``[project] version``. Colab badges and install cells
(:mod:`vae_tf.course.sync`), the student edition and the website read it through
:func:`read_project`. Imports the standard library only.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

#: The repository root: the folder holding ``pyproject.toml``, ``notebooks/`` and ``docs/``.
ROOT = Path(__file__).resolve().parents[2]
#: The branch the course is published on: Colab badges open it, install cells install from it.
COURSE_BRANCH = "main"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
#: A markdown line holding an Open-in-Colab badge (any repository, any branch).
BADGE_RE = re.compile(r"^\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*$")
_GITHUB_RE = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


@dataclass(frozen=True)
class Project:
    """What ``pyproject.toml`` says: ``repository`` (a ``https://github.com/OWNER/NAME`` URL) and
    ``version`` (the package version, e.g. ``"0.1.0"``)."""

    repository: str
    version: str

    @property
    def github(self) -> tuple[str, str]:
        """``(owner, name)`` of the GitHub repository. Raises ``ValueError`` for another host."""
        match = _GITHUB_RE.match(self.repository)
        if not match:
            raise ValueError(
                f"[project.urls] Repository must be https://github.com/OWNER/NAME for Colab badges, got {self.repository!r}."
            )
        return match.group(1), match.group(2)

    def install_spec(self, ref: str | None = None) -> str:
        """The pip requirement ``git+REPOSITORY@REF`` (REF defaults to :data:`COURSE_BRANCH`)."""
        return f"git+{self.repository}@{ref or COURSE_BRANCH}"

    def colab_url(self, notebook: str, branch: str = "main") -> str:
        """The URL that opens ``notebook`` (a path inside the repository) in Colab."""
        owner, name = self.github
        return f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/{notebook}"

    def badge(self, notebook: str, branch: str = "main") -> str:
        """The Open-in-Colab badge, one markdown line."""
        return f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({self.colab_url(notebook, branch)})"


def read_project(pyproject: str | Path = ROOT / "pyproject.toml") -> Project:
    """Read ``[project.urls] Repository`` and ``[project] version`` from ``pyproject``.
    Raises ``ValueError`` naming the missing key, ``OSError`` if the file cannot be read."""
    data = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))
    project = data.get("project", {})
    repository = project.get("urls", {}).get("Repository")
    if not repository or not project.get("version"):
        raise ValueError(f"{pyproject}: set [project] version and [project.urls] Repository (the repository's https URL).")
    return Project(repository=repository.rstrip("/"), version=str(project["version"]))


def course_notebooks(root: str | Path = ROOT) -> list[Path]:
    """The course notebooks ``notebooks/NN_*.ipynb`` in course order (by their number)."""
    return sorted(Path(root, "notebooks").glob("[0-9][0-9]_*.ipynb"))
