"""The course website (MkDocs Material + mkdocs-jupyter), built from the stored notebooks without
re-executing them, README.md and docs/: the sources are staged in a temporary folder with their
links rewritten for the site, the answer key generated and the checks cells left out.

``python -m vae_tf.course site OUT_DIR`` runs :func:`build_site`. MkDocs is imported only there.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from .checks import is_checks_cell
from .execution import without_tf_logs
from .project import COLAB_BADGE_IMAGE, ROOT, Project, course_notebooks, read_project
from .student import answer_key

_LINK_RE = re.compile(r"(\]\()([^)\s]+)(\))")
LOCAL_BADGE = "assets/colab-badge.svg"


def _site_path(repo_path: str) -> str | None:
    """Where a repository file lives in the staged docs directory, or None if it is not on the site."""
    if repo_path == "README.md":
        return "index.md"
    if repo_path.startswith("docs/"):
        return repo_path[len("docs/"):]
    if repo_path.startswith("notebooks/") and repo_path.endswith(".ipynb"):
        return repo_path
    return None


def _page_url(staged: str) -> str:
    """The URL of a staged page (the site is built without directory URLs, so that it works
    opened from disk): ``notebooks/01_x.ipynb`` -> ``notebooks/01_x.html``, ``index.md`` ->
    ``index.html``; other files keep their path."""
    stem, suffix = staged.rsplit(".", 1) if "." in staged else (staged, "")
    return stem + ".html" if suffix in ("md", "ipynb") else staged


def _relative(target: str, base_dir: str) -> str:
    return posixpath.relpath(target or ".", base_dir or ".")


def _rewrite_links(text: str, source: str, project: Project) -> str:
    """Make the relative links of ``source`` (a repository path) point at site pages, or at the
    file on GitHub where it is not on the site; the Colab badge image becomes the bundled copy.
    Markdown pages get file links (MkDocs resolves them); notebook pages, which MkDocs does not
    rewrite, get links relative to their own URL."""
    staged_source = _site_path(source)
    as_url = staged_source.endswith(".ipynb")
    base = posixpath.dirname(_page_url(staged_source) if as_url else staged_source)

    def fix(match: re.Match) -> str:
        target = match.group(2)
        if target == COLAB_BADGE_IMAGE:
            return match.group(1) + _relative(LOCAL_BADGE, base) + match.group(3)
        if re.match(r"^([a-z]+:|#|/)", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo_path = Path(source).parent.joinpath(path).as_posix()
        repo_path = re.sub(r"(^|/)[^/]+/\.\./", r"\1", repo_path).removeprefix("./")
        staged = _site_path(repo_path)
        if staged is None:
            new = f"{project.repository}/blob/main/{repo_path}"
        else:
            new = _relative(_page_url(staged) if as_url else staged, base)
        return match.group(1) + new + (f"#{anchor}" if anchor else "") + match.group(3)

    return _LINK_RE.sub(fix, text)


def _stage_docs(stage: Path, root: Path, project: Project) -> list[str]:
    """Copy README, docs/ and the notebooks into ``stage`` as MkDocs sources, links fixed, the
    answer key generated. Returns the notebook pages in course order."""
    shutil.copytree(root / "docs", stage, ignore=shutil.ignore_patterns("overrides"), dirs_exist_ok=True)
    for md in [root / "README.md", *sorted((root / "docs").rglob("*.md"))]:
        rel = md.relative_to(root).as_posix()
        (stage / _site_path(rel)).write_text(_rewrite_links(md.read_text(encoding="utf-8"), rel, project), encoding="utf-8")
    (stage / "answers.md").write_text(answer_key(root), encoding="utf-8")
    pages = []
    for path in course_notebooks(root):
        rel = path.relative_to(root).as_posix()
        nb = nbformat.read(path, as_version=4)
        nb.metadata.pop("widgets", None)  # widget state would load the widget manager from a CDN
        without_tf_logs(nb)  # the start-up logging of the machine that ran it: a red block on the page
        nb.cells = [cell for cell in nb.cells if not is_checks_cell(cell)]  # the prose checks: for the notebook's reader
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = _rewrite_links(cell.source, rel, project)
        (stage / "notebooks").mkdir(exist_ok=True)
        nbformat.write(nb, stage / rel)
        pages.append(rel)
    return pages


def site_nav(pages: list[str], repository: str) -> list:
    """The site's navigation: home (README), the notebooks in course order, the teacher's pages,
    a link to the repository."""
    return [
        {"Home": "index.md"},
        {"Course": pages},
        {"Teaching": [{"Instructor guide": "instructor.md"}, {"Answer key": "answers.md"}, {"Publishing the site": "publishing.md"}]},
        {"Source on GitHub": repository},
    ]


def build_site(out_dir: str | Path, root: str | Path = ROOT, *, strict: bool = True) -> Path:
    """Build the course website into ``out_dir`` from ``root``'s stored notebooks (not executed),
    README.md and docs/, with ``root/mkdocs.yml``. ``strict``: a broken link or other MkDocs
    warning is an error (MkDocs raises it). Returns ``out_dir`` (open ``index.html``)."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    root, out = Path(root), Path(out_dir).resolve()
    project = read_project(root / "pyproject.toml")
    with tempfile.TemporaryDirectory(prefix="vae_tf_site_") as tmp:
        pages = _stage_docs(Path(tmp), root, project)
        # no directory URLs whatever mkdocs.yml says: the staged links (_page_url) point at NAME.html
        # files, and folder URLs (NAME/) show a directory listing when the site is opened from disk
        config = load_config(config_file=str(root / "mkdocs.yml"), docs_dir=tmp, site_dir=str(out),
                             nav=site_nav(pages, project.repository), strict=strict, use_directory_urls=False)
        build(config)
    return out
