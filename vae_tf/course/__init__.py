"""Course tooling: Colab badges and install cells, the student edition, and the course website.

Run from the repository root:

* ``python -m vae_tf.course sync``: rewrite every notebook's Colab badge (first markdown cell)
  and install block (first code cell) from ``[project.urls] Repository`` and ``version`` in
  ``pyproject.toml``, the one place that says where the repository lives.
* ``python -m vae_tf.course run NOTEBOOK ...``: re-run notebooks in full mode and store them with
  their outputs (TensorFlow's start-up logs removed).
* ``python -m vae_tf.course ship-02 notebooks/artifacts/vae_2d_mlp.keras``: ship the 2-D VAE a
  full run of notebook 02 saved, for notebook 03 (:mod:`vae_tf.course.models`).
* ``python -m vae_tf.course student OUT_DIR``: the student edition (solutions removed).
* ``python -m vae_tf.course site OUT_DIR``: the static website (MkDocs Material + mkdocs-jupyter),
  built from the stored notebooks without re-executing them.

Exercise solutions are marked in one of two ways, nothing else: a ``<details>`` block whose
``<summary>`` starts with "Solution" inside a markdown cell, or a cell whose metadata tags include
``"solution"`` (a tagged code cell becomes a ``# TODO`` stub, a tagged markdown cell is dropped).
"""

from __future__ import annotations

import argparse
import copy
import re
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .checks import is_checks_cell

ROOT = Path(__file__).resolve().parents[2]
SOLUTION_TAG = "solution"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
INSTALL_FIRST_LINE = "# Settings: change one, then run every cell from here"
#: The last line of the block :func:`install_block` writes.
INSTALL_LAST_LINE = '    os.environ["VAE_TF_ALL_TRAINING_IMAGES"] = "1"  # the prose checks then report without comparing'
#: The branch the course is published on: Colab badges open it, install cells install from it.
COURSE_BRANCH = "main"
#: Environment variable the first cell sets for ``ALL_TRAINING_IMAGES = True`` (read by :func:`claims.stated`).
ALL_IMAGES_ENV_VAR = "VAE_TF_ALL_TRAINING_IMAGES"
_BADGE_RE = re.compile(r"^\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*$")
_DETAILS_RE = re.compile(r"[ \t]*<details>\s*<summary>\s*Solution.*?</summary>(.*?)</details>[ \t]*\n?", re.S | re.I)
_GITHUB_RE = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


# --------------------------------------------------------------------------- where the repository lives
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
    Raises ``ValueError`` naming the missing key."""
    data = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))
    project = data.get("project", {})
    repository = project.get("urls", {}).get("Repository")
    if not repository or not project.get("version"):
        raise ValueError(f"{pyproject}: set [project] version and [project.urls] Repository (the repository's https URL).")
    return Project(repository=repository.rstrip("/"), version=str(project["version"]))


def course_notebooks(root: str | Path = ROOT) -> list[Path]:
    """The course notebooks ``notebooks/NN_*.ipynb`` in course order (by their number)."""
    return sorted(Path(root, "notebooks").glob("[0-9][0-9]_*.ipynb"))


# --------------------------------------------------------------------------- badge and install cell
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
    """``(repository, ref)`` that a notebook's install cell installs from by default."""
    source = _first_cell(nb, "code").source
    repo = re.search(r'"VAE_TF_REPO", "([^"]+)"', source)
    ref = re.search(r'"VAE_TF_REF", "([^"]+)"', source)
    if not (repo and ref):
        raise ValueError("the install cell does not set VAE_TF_REPO and VAE_TF_REF defaults; run `python -m vae_tf.course sync`.")
    return repo.group(1), ref.group(1)


def _first_cell(nb, cell_type: str):
    for cell in nb.cells:
        if cell.cell_type == cell_type:
            return cell
    raise ValueError(f"the notebook has no {cell_type} cell.")


def sync_notebook(nb, notebook: str, project: Project, *, ref: str | None = None, branch: str = COURSE_BRANCH):
    """Put ``project``'s badge for ``notebook`` (repository path) on the second line of the first
    markdown cell and its install block at the top of the first code cell; in place. Nothing
    else changes (outputs included)."""
    md = _first_cell(nb, "markdown")
    lines = [line for line in md.source.split("\n") if not _BADGE_RE.match(line)]
    while len(lines) > 1 and not lines[1].strip():
        del lines[1]
    md.source = "\n".join([lines[0], "", project.badge(notebook, branch), "", *lines[1:]])
    code = _first_cell(nb, "code")
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
            _write_notebook(nb, path)
            written.append(path)
    return written


def _write_notebook(nb, path: Path) -> None:
    from ..tools.files import atomic_write_text

    atomic_write_text(path, nbformat.writes(nb) + "\n")


# --------------------------------------------------------------------------- solutions and the student edition
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
            cell.source = "\n".join(line for line in cell.source.split("\n") if not _BADGE_RE.match(line))
        cells.append(cell)
    out.cells = cells
    out.metadata.pop("widgets", None)
    return out


def write_student_edition(out_dir: str | Path, root: str | Path = ROOT) -> list[Path]:
    """Write the student edition of every course notebook under ``root`` into ``out_dir``
    (created; existing files of the same names are replaced). Returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in course_notebooks(root):
        _write_notebook(student_notebook(nbformat.read(path, as_version=4)), out / path.name)
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
        title = _first_cell(nb, "markdown").source.split("\n")[0].lstrip("# ").strip()
        parts += [f"## {title}", ""]
        for cell in nb.cells:
            if is_solution_cell(cell):
                parts += [f"```python\n{cell.source}\n```" if cell.cell_type == "code" else cell.source, ""]
            elif cell.cell_type == "markdown" and solution_blocks(cell.source):
                parts += [_answer_text(cell.source), ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------- the website
_LINK_RE = re.compile(r"(\]\()([^)\s]+)(\))")
LOCAL_BADGE = "assets/colab-badge.svg"
#: TensorFlow's start-up logging on stderr: absl/glog lines of its C++ runtime
#: ("I0000 00:00:1795295504.300536   21136 port.cc:153] oneDNN custom operations are on...",
#: "E0000 ... cuda_platform.cc:52] failed call to cuInit: ..."), absl's notice before them, and
#: the second line of cpu_feature_guard's message. Machine-specific noise, not course content.
TF_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.-]+:\d+\] .*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.)$"
)


def without_tf_logs(nb):
    """``nb`` with TensorFlow's start-up log lines (:data:`TF_LOG_LINE`) removed from its stderr
    outputs, in place; an output left empty is dropped. Other stderr text (a warning the course
    shows) stays. The site's copy gets this; the stored notebooks keep their outputs."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = [line for line in out.text.splitlines(keepends=True) if not TF_LOG_LINE.match(line.rstrip("\n"))]
                if not "".join(lines).strip():
                    continue
                out.text = "".join(lines)
            kept.append(out)
        cell.outputs = kept
    return nb


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
    import posixpath

    return posixpath.relpath(target or ".", base_dir or ".")


def _rewrite_links(text: str, source: str, project: Project) -> str:
    """Make the relative links of ``source`` (a repository path) point at site pages, or at the
    file on GitHub where it is not on the site; the Colab badge image becomes the bundled copy.
    Markdown pages get file links (MkDocs resolves them); notebook pages, which MkDocs does not
    rewrite, get links relative to their own URL."""
    import posixpath

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
    import shutil

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
    warning is an error. Returns ``out_dir`` (open ``index.html``)."""
    import tempfile

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


# --------------------------------------------------------------------------- stored runs
def execute_notebook(path: str | Path, *, timeout: int = 3600) -> float:
    """Run the notebook at ``path`` top to bottom in a fresh ``python3`` kernel, from its folder,
    in full mode on the course training set (``VAE_TF_QUICK`` and ``VAE_TF_ALL_TRAINING_IMAGES``
    unset), and store it with its outputs, TensorFlow's start-up logs removed
    (:func:`without_tf_logs`). Returns the wall-clock seconds. Raises
    ``nbclient.exceptions.CellExecutionError`` (nothing is written) when a cell fails."""
    import os
    import time

    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.pop(k) for k in ("VAE_TF_QUICK", ALL_IMAGES_ENV_VAR) if k in os.environ}
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.update(saved)
    seconds = time.perf_counter() - start
    _write_notebook(without_tf_logs(nb), path)
    return seconds


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """``python -m vae_tf.course {sync,run,ship-02,student,site} ...``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m vae_tf.course", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_sync = sub.add_parser("sync", help="rewrite badges and install cells from pyproject.toml")
    p_sync.add_argument("--ref", help=f"git ref the install cells install (default {COURSE_BRANCH}; 'commit' = HEAD's commit)")
    sub.add_parser("student", help="write the student edition").add_argument("out_dir")
    sub.add_parser("site", help="build the website").add_argument("out_dir")
    p_run = sub.add_parser("run", help="re-run notebooks in full mode and store them with their outputs")
    p_run.add_argument("notebooks", nargs="+", help="notebook paths (one or two at a time on 2 CPU cores)")
    p_ship = sub.add_parser("ship-02", help="ship notebook 02's trained model (for notebook 03) from a full run's file")
    p_ship.add_argument("saved", help="the file notebook 02 saved, e.g. notebooks/artifacts/vae_2d_mlp.keras")
    args = parser.parse_args(argv)
    try:
        if args.command == "sync":
            done = sync(ref=args.ref)
            print(f"updated {len(done)} notebook(s) from pyproject.toml: {', '.join(p.name for p in done) or 'none needed'}")
        elif args.command == "run":
            for path in args.notebooks:
                print(f"running {path} (full mode) ...", flush=True)
                print(f"stored {path}: {execute_notebook(path) / 60:.1f} min", flush=True)
        elif args.command == "ship-02":
            from .models import NOTEBOOK02_WEIGHTS, ship_notebook02_vae

            record = ship_notebook02_vae(args.saved)
            print(f"shipped {NOTEBOOK02_WEIGHTS}: test -ELBO {record['test_neg_elbo']:.2f} nats (seed {record['record_seed']})")
        elif args.command == "student":
            done = write_student_edition(args.out_dir)
            print(f"student edition: {len(done)} notebooks in {args.out_dir}")
        else:
            print(f"website: open {build_site(args.out_dir) / 'index.html'} (or serve the folder)")
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
