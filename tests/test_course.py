"""Course tooling: one repository address in pyproject.toml drives every Colab badge and install
cell; the install cell really installs the package from a git URL into an environment without
it; the student edition carries no solution text and still runs."""

import ast
import builtins
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from vae_tf.course.checks import is_checks_cell
from vae_tf.course.cli import main
from vae_tf.course.execution import without_tf_logs
from vae_tf.course.project import COURSE_BRANCH, Project, course_notebooks, read_project
from vae_tf.course.student import answer_key, is_solution_cell, solution_blocks, student_notebook, write_student_edition
from exercise_cells import exercise_cells, run_cell
from vae_tf.course.sync import INSTALL_LAST_LINE, install_block, installed_ref, sync

ROOT = Path(__file__).resolve().parent.parent
PROJECT = read_project(ROOT / "pyproject.toml")
NOTEBOOKS = course_notebooks(ROOT)
IDS = [p.stem for p in NOTEBOOKS]


def _read(path):
    return nbformat.read(path, as_version=4)


def _is_commit(ref: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{40}", ref)) and subprocess.run(
        ["git", "cat-file", "-e", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True).returncode == 0


# --------------------------------------------------------------------------- badges and install cells
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_badge_and_install_cell_agree_with_pyproject(path):
    nb = _read(path)
    rel = path.relative_to(ROOT).as_posix()
    first_md = next(c for c in nb.cells if c.cell_type == "markdown").source.split("\n")
    assert first_md[2] == PROJECT.badge(rel), f"{rel}: badge out of date: run `python -m vae_tf.course sync`"
    repo, ref = installed_ref(nb)
    assert repo == PROJECT.repository
    assert ref == COURSE_BRANCH or _is_commit(ref), f"{rel} installs {ref!r}: neither {COURSE_BRANCH!r} nor a commit"
    first_code = next(c for c in nb.cells if c.cell_type == "code").source
    assert first_code.startswith(install_block(PROJECT, ref) + "\n"), f"{rel}: run `python -m vae_tf.course sync`"


def test_readme_carries_the_badge_of_the_first_notebook():
    badge = PROJECT.badge(NOTEBOOKS[0].relative_to(ROOT).as_posix())
    assert badge in (ROOT / "README.md").read_text(encoding="utf-8"), f"README.md must contain the line:\n{badge}"


def test_a_fork_changes_one_line_and_sync_updates_every_notebook(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS:
        shutil.copy(path, tmp_path / "notebooks" / path.name)
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    fork = "https://github.com/someone/vae-tf-fork"
    (tmp_path / "pyproject.toml").write_text(text.replace(f'Repository = "{PROJECT.repository}"', f'Repository = "{fork}"'))
    assert len(sync(tmp_path)) == len(NOTEBOOKS)
    assert sync(tmp_path) == []  # idempotent
    for path in sorted((tmp_path / "notebooks").glob("*.ipynb")):
        nb, raw = _read(path), path.read_text(encoding="utf-8")
        assert installed_ref(nb) == (fork, COURSE_BRANCH)
        assert f"colab.research.google.com/github/someone/vae-tf-fork/blob/main/notebooks/{path.name}" in raw
        assert PROJECT.repository not in raw
        original = _read(ROOT / "notebooks" / path.name)
        assert [c.source for c in nb.cells[2:]] == [c.source for c in original.cells[2:]]  # nothing else touched


def test_install_cell_installs_nothing_when_vae_tf_is_importable(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the install cell ran {args!r} although vae_tf is importable")

    monkeypatch.setattr(subprocess, "run", refuse)
    exec(install_block(PROJECT), {})


def test_non_github_repository_is_a_clear_error():
    with pytest.raises(ValueError, match="https://github.com/OWNER/NAME"):
        Project("https://gitlab.com/a/b", "0.1.0").badge("notebooks/x.ipynb")


def _venv_without_vae_tf(path: Path) -> Path:
    """A virtual environment that sees the system's packages (TensorFlow, ...) except vae_tf:
    a filtered copy (symlinks) of site-packages, added with site.addsitedir. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path / "venv")], check=True)
    shared = path / "system-site"
    shared.mkdir()
    for sp in site.getsitepackages():
        for entry in Path(sp).iterdir():
            if "vae_tf" not in entry.name and "vae-tf" not in entry.name and not (shared / entry.name).exists():
                (shared / entry.name).symlink_to(entry)
    python = path / "venv" / "bin" / "python"
    own_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
    Path(own_site, "system_site.pth").write_text(f"import site; site.addsitedir({str(shared)!r})\n")
    return python


def test_install_cell_installs_the_package_from_a_git_url_in_a_fresh_environment(tmp_path):
    """Issue 25: the cell as Colab runs it. The repository is served from a bare clone (what
    GitHub holds: this checkout's branches and tags, nothing added), pip resolves the cell's own
    ref there, the package installs with its shipped judge, and the TensorFlow already present
    is kept."""
    nb = _read(NOTEBOOKS[0])
    cell = next(c for c in nb.cells if c.cell_type == "code").source
    _, ref = installed_ref(nb)
    served = tmp_path / "vae-tf.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(ROOT), str(served)], check=True)
    resolves = subprocess.run(["git", "-C", str(served), "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"],
                              capture_output=True, text=True)
    assert resolves.returncode == 0, f"the install cell installs {ref!r}, which this repository does not have"
    python = _venv_without_vae_tf(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VAE_TF_REF")}
    env.update(VAE_TF_REPO=f"file://{served}", MPLBACKEND="Agg", VAE_TF_MNIST=str(tmp_path / "none.npz"))
    probe = "import importlib.util, json; s = importlib.util.find_spec('{}'); print(s and s.origin)"
    absent = subprocess.run([python, "-c", probe.format("vae_tf")], cwd=tmp_path, env=env, check=True,
                            capture_output=True, text=True).stdout
    assert absent.strip() == "None", "vae_tf must not be importable in the fresh environment"
    tf_before = subprocess.run([python, "-c", probe.format("tensorflow")], cwd=tmp_path, env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
    setup = cell[: cell.index(INSTALL_LAST_LINE) + len(INSTALL_LAST_LINE)]
    run = subprocess.run([python, "-c", setup], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    check = ("import vae_tf, vae_tf.tools.judge as j, vae_tf.course.models as m, tensorflow as tf; "
             "print(vae_tf.__file__, vae_tf.__version__, j.SHIPPED_WEIGHTS.is_file(), tf.__file__, "
             "m.NOTEBOOK02_WEIGHTS.is_file() and m.NOTEBOOK02_RECORD.is_file())")
    where = subprocess.run([python, "-c", check], cwd=tmp_path, env=env, check=True, capture_output=True,
                           text=True).stdout.split()
    assert where[0].startswith(str(tmp_path / "venv")) and where[1] == PROJECT.version
    assert where[2] == "True", "the installed package lacks the shipped judge (package data)"
    assert where[3] == tf_before, "the install replaced the TensorFlow already present"
    assert where[4] == "True", "the installed package lacks notebook 02's shipped model (package data), which 03 loads"


# --------------------------------------------------------------------------- the student edition
def _outside_solutions(source: str) -> str:
    """A markdown cell's text outside its <details> blocks (split by hand, not by the tool's regex)."""
    return "".join(part.split("</details>")[-1] for part in source.split("<details>"))


def _without_task_lines(source: str) -> str:
    """A solution code cell without its leading ``#`` lines (the task the stub keeps)."""
    lines = source.split("\n")
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "\n".join(lines)


def _solution_lines(nb) -> list[str]:
    """Distinctive lines of every solution in ``nb``: long enough not to occur by chance, and not
    also part of the notebook outside its solutions (e.g. a loop the solution repeats)."""
    # A tagged code cell's leading comment lines are the task, which its student stub keeps on purpose.
    texts = [_without_task_lines(c.source) if c.cell_type == "code" else c.source
             for c in nb.cells if is_solution_cell(c)]
    texts += [b for c in nb.cells if c.cell_type == "markdown" for b in solution_blocks(c.source)]
    rest = "\n".join(_outside_solutions(c.source) if c.cell_type == "markdown" else c.source
                     for c in nb.cells if not is_solution_cell(c))
    return [line.strip() for t in texts for line in t.split("\n") if len(line.strip()) >= 30 and line.strip() not in rest]


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    assert [p.name for p in write_student_edition(out, ROOT)] == [p.name for p in NOTEBOOKS]
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_edition_keeps_no_solution_text(path, student_dir):
    full, student = _read(path), _read(student_dir / path.name)
    lines = _solution_lines(full)
    assert lines, f"{path.name} has no marked solutions: nothing to remove?"
    text = nbformat.writes(student)
    leaked = [line for line in lines if line in text or line.replace('"', '\\"') in text]
    assert not leaked, f"solution text left in the student edition: {leaked[:3]}"
    assert "<summary>Solution" not in text and "colab.research.google.com" not in text
    assert any("Exercises" in c.source for c in student.cells)  # the exercises themselves stay
    kept = [c for c in full.cells if not is_solution_cell(c)]
    dropped = [c for c in full.cells if is_solution_cell(c) and (c.cell_type == "markdown" or is_checks_cell(c))]
    assert len(student.cells) == len(full.cells) - len(dropped)  # solution text and a solution's checks go
    assert [c.get("outputs") for c in student.cells if c.cell_type == "code" and not is_solution_cell(c)] == \
        [c.get("outputs") for c in kept if c.cell_type == "code"]  # stored outputs of other cells kept


def test_tagged_solution_cells_become_runnable_stubs():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercise 1\nCompute the answer."),
                nbformat.v4.new_code_cell("# Exercise 1: compute the answer\nanswer = 6 * 7\nprint(answer)",
                                          metadata={"tags": ["solution"]},
                                          outputs=[nbformat.v4.new_output("stream", text="42\n")]),
                nbformat.v4.new_markdown_cell("The answer is 42.", metadata={"tags": ["solution"]}),
                nbformat.v4.new_code_cell("print('after')")]
    student = student_notebook(nb)
    assert len(student.cells) == 3
    stub = student.cells[1]
    assert stub.source.startswith("# Exercise 1: compute the answer\n# TODO") and "6 * 7" not in stub.source
    assert stub.outputs == [] and stub.execution_count is None
    exec(stub.source, {})  # runnable
    assert nb.cells[1].source.endswith("print(answer)")  # the instructor's notebook is untouched


def test_an_unmarked_solution_is_refused():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("### Solution\nIt is 42.")]
    with pytest.raises(ValueError, match="tag them 'solution'"):
        student_notebook(nb)


def test_answer_key_holds_every_solution():
    key = answer_key(ROOT)
    for path in NOTEBOOKS:
        for line in _solution_lines(_read(path)):
            assert line in key


def test_site_copy_drops_tensorflow_start_up_logging_and_keeps_other_stderr():
    """Issue 24: TensorFlow's start-up lines (as a notebook stores them) leave the site's copy; a
    warning of the course's own on stderr, and stdout, stay; an output left empty goes."""
    startup = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795295504.300536   21136 port.cc:153] oneDNN custom operations are on. You may see "
        "slightly different numerical results. To turn them off, set `TF_ENABLE_ONEDNN_OPTS=0`.\n"
        "I0000 00:00:1796607309.764157    1969 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to "
        "use available CPU instructions in performance-critical operations.\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.\n"
    )
    warning = "/x/vae.py:12: UserWarning: grey levels under a Bernoulli likelihood\n  warnings.warn(\n"
    cuinit = ("E0000 00:00:1795295509.870844   21136 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
              "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import vae_tf", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text=startup),
        nbformat.v4.new_output("stream", name="stdout", text="I0000 is what a student printed\n"),
        nbformat.v4.new_output("stream", name="stderr", text=cuinit + warning),
    ]), nbformat.v4.new_markdown_cell("text")]
    out = without_tf_logs(nb)
    outputs = out.cells[0].outputs
    assert [(o.name, o.text) for o in outputs] == [("stdout", "I0000 is what a student printed\n"), ("stderr", warning)]


def _names(source: str) -> tuple[set[str], set[str], set[str]]:
    """(names a code cell binds, names it reads, its string constants), from its syntax tree. Binding
    counts every assignment target, import, def and class at any depth (a cell's function locals
    included); reading counts every name loaded at any depth (a function reads globals when called)."""
    tree = ast.parse(source)
    bound, read, strings = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            if not isinstance(node, ast.ClassDef):
                bound.update(a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs))
                bound.update(a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
    return bound, read, strings


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_edition_runs_wherever_the_instructors_does(path, student_dir):
    """Issue 25: instead of running every notebook a second time. The student edition is the
    instructor's notebook with its solution cells replaced by stubs (comments and `pass`) and its
    solution text removed, every other code cell unchanged; nbval runs the instructor's edition
    in quick mode. So the student edition runs too if no cell outside the solutions reads a name
    that only a solution binds, unless the cell looks it up by name (globals().get("my_kl"):
    02's exercise check, whose two outcomes test_exercise_check_cell_* run), and no lesson cell
    comes after the first solution but the final runtime cells and such checks."""
    from vae_tf.course.student import clear_solution_regions, has_solution_regions

    full, student = _read(path), _read(student_dir / path.name)
    code = lambda nb: [c for c in nb.cells if c.cell_type == "code"]  # noqa: E731
    # nbgrader scaffolds (issue 34): the structure stays, the regions become nbgrader's stub
    assert [c.source for c in code(student) if not is_solution_cell(c)] == \
        [clear_solution_regions(c.source) if has_solution_regions(c) else c.source
         for c in code(full) if not is_solution_cell(c)]
    for stub in (c for c in code(student) if is_solution_cell(c)):
        exec(compile(stub.source, "stub", "exec"), {})
    problems = _student_edition_problems(full)
    assert not problems, f"{path.name}: {problems}"


def _student_edition_problems(nb) -> list[str]:
    """Why the student edition of ``nb`` might fail where ``nb`` runs (see the test above)."""
    problems, lesson, solution_only, first_solution = [], set(dir(builtins)), set(), None
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        bound, read, strings = _names(cell.source)
        if is_solution_cell(cell):
            first_solution = i if first_solution is None else first_solution
            solution_only |= bound - lesson
            continue
        needs = (read - bound - lesson) & solution_only
        if not needs <= strings:
            problems.append(f"code cell {i} reads {sorted(needs - strings)}, which only a solution binds")
        first = cell.source.split("\n")[0].lower()
        if first_solution is not None and not is_checks_cell(cell) and not ("runtime" in first or first.startswith("# check exercise")):
            problems.append(f"code cell {i} is a lesson cell after the first solution ({first!r})")
        lesson |= bound
        solution_only -= bound
    if first_solution is None:
        problems.append("no solution cells")
    return problems


def test_student_edition_check_finds_a_cell_that_needs_a_solution():
    solution = {"tags": ["solution"]}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("answer = x + 1", metadata=solution),
                nbformat.v4.new_code_cell("# runtime\nprint(answer, x)"),
                nbformat.v4.new_code_cell("# check exercise 1\nf = globals().get('answer')"),
                nbformat.v4.new_code_cell("y = 2")]
    problems = _student_edition_problems(nb)
    assert problems == ["code cell 2 reads ['answer'], which only a solution binds",
                        "code cell 4 is a lesson cell after the first solution ('y = 2')"]


def _section_2_of_02():
    """02's four scaffold cells and the networks cell, in order, and the grader cell."""
    from vae_tf.course.student import has_solution_regions

    cells = _read(ROOT / "notebooks" / "02_mnist_vae_2d.ipynb").cells
    start = next(i for i, c in enumerate(cells) if c.source.startswith("# Piece 1"))
    grader = next(i for i, c in enumerate(cells) if c.source.startswith("# Check section 2"))
    pieces = [c for c in cells[start:grader] if c.cell_type == "code"]
    assert sum(has_solution_regions(c) for c in pieces) == 4
    return pieces, cells[grader].source


_run_check = run_cell


def _run_section_2(pieces) -> dict:
    namespace = {}
    exec("import keras\nimport numpy as np\nimport tensorflow as tf\nfrom keras import ops", namespace)
    for cell in pieces:
        exec(cell.source, namespace)
    return namespace


def test_02s_grader_cell_says_not_written_for_the_student_stubs_and_right_for_the_solution():
    """Issue 34, point 1: the student edition's section 2 runs, its grader says what is not written yet, and
    the solution is graded right (tests/test_grader.py feeds the grader each mistake)."""
    from vae_tf.course.student import clear_solution_regions, has_solution_regions

    pieces, grader = _section_2_of_02()
    solution = _run_section_2(pieces)
    printed = _run_check(solution, grader)
    assert printed.count("✓") == 4 and solution["SCRATCH_READY"] is True, printed
    stubs = [nbformat.v4.new_code_cell(clear_solution_regions(c.source)) if has_solution_regions(c) else c for c in pieces]
    assert all("raise NotImplementedError()" in c.source for c in stubs if "YOUR CODE HERE" in c.source)
    student = _run_section_2(stubs)
    printed = _run_check(student, grader)
    assert printed.count("…") == 4 and "✓" not in printed and student["SCRATCH_READY"] is False, printed


def test_run_stores_a_full_mode_run_without_tensorflow_logs(tmp_path, monkeypatch):
    """`python -m vae_tf.course run`: full mode whatever the caller's environment, outputs
    stored, TensorFlow's start-up lines dropped, a cell's own stderr kept."""
    monkeypatch.setenv("VAE_TF_QUICK", "1")
    monkeypatch.setenv("VAE_TF_ALL_TRAINING_IMAGES", "1")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os, sys\n"
        "print(os.environ.get('VAE_TF_QUICK'), os.environ.get('VAE_TF_ALL_TRAINING_IMAGES'))\n"
        "sys.stderr.write('I0000 00:00:1795295504.300536   21136 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "sys.stderr.write('a warning of the course\\n');")]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert main(["run", str(path)]) == 0
    stored = _read(path).cells[0].outputs
    texts = {o.name: o.text for o in stored}
    assert texts["stdout"] == "None None\n" and texts["stderr"] == "a warning of the course\n"
    assert os.environ["VAE_TF_QUICK"] == "1"  # the caller's environment is restored


def _exercise_3_of_07():
    check, solution = exercise_cells("07_discrete_latents.ipynb", 3)
    namespace = {}
    exec("import numpy as np\nfrom scipy.special import softmax\n"
         "probs10 = softmax(np.array([2.0, 1.0, 0.5, 0.0, -0.5, -1.0, 1.5, 0.2, -2.0, 0.8]))", namespace)
    return check, solution, namespace


def test_07_exercise_3_check_says_what_is_missing_right_and_wrong():
    """Issue 34, point 2: 07's graded exercise (the Gumbel-softmax draw) names each mistake."""
    check, solution, namespace = _exercise_3_of_07()
    assert "define my_gumbel_softmax" in _run_check(namespace, check)
    exec(solution, namespace)
    assert _run_check(namespace, check).strip() == "exercise 3: right"
    mistakes = {
        "def my_gumbel_softmax(l, tau, u):\n    return np.exp((l - np.log(-np.log(u))) / tau)": "rows must be probabilities",
        "def my_gumbel_softmax(l, tau, u):\n    return softmax((l + np.log(-np.log(u))) / tau, axis=-1)": "not distributed as softmax",
        "def my_gumbel_softmax(l, tau, u):\n    return softmax(l - np.log(-np.log(u)), axis=-1)": "tau must divide",
        "def my_gumbel_softmax(l, tau, u):\n    return softmax((l - np.log(-np.log(u))) / tau, axis=0)": "rows must be probabilities",
        "def my_gumbel_softmax(l, tau, u):\n    return None": "must be an array of shape",
    }
    for wrong, message in mistakes.items():
        exec(wrong, namespace)
        printed = _run_check(namespace, check)
        assert "still wrong" in printed and message in printed, (wrong, printed)


# --------------------------------------------------------------------------- nbgrader solution regions (issue 34)
def test_solution_regions_become_nbgraders_stub_indented_like_the_begin_line():
    from vae_tf.course.student import clear_solution_regions

    source = ("class S:\n    def call(self, x):\n        a = x\n        ### BEGIN SOLUTION\n        b = a + 1\n"
              "        return b\n        ### END SOLUTION\n\n# BEGIN SOLUTION\ny = 2\n# END SOLUTION\nprint(y)")
    assert clear_solution_regions(source) == (
        "class S:\n    def call(self, x):\n        a = x\n        # YOUR CODE HERE\n        raise NotImplementedError()\n"
        "\n# YOUR CODE HERE\nraise NotImplementedError()\nprint(y)")
    for bad, message in (("### BEGIN SOLUTION\nx = 1", "not closed"), ("x = 1\n### END SOLUTION", "without"),
                         ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside an open")):
        with pytest.raises(ValueError, match=message):
            clear_solution_regions(bad)


def test_a_scaffold_cell_keeps_its_structure_and_nbgrader_metadata_in_the_student_edition():
    from vae_tf.course.student import has_solution_regions, scaffold_metadata

    scaffold = nbformat.v4.new_code_cell("def kl(m, v):\n    ### BEGIN SOLUTION\n    return m\n    ### END SOLUTION",
                                         metadata={"nbgrader": scaffold_metadata("kl")})
    scaffold.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T"), scaffold]
    out = student_notebook(nb).cells[1]
    assert out.source == "def kl(m, v):\n    # YOUR CODE HERE\n    raise NotImplementedError()" and out.outputs == []
    assert out.metadata["nbgrader"] == {"grade": False, "grade_id": "kl", "locked": False, "schema_version": 3,
                                        "solution": True, "task": False} and has_solution_regions(out) is False
    unmarked = nbformat.v4.new_code_cell("x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION")
    nb.cells.append(unmarked)
    with pytest.raises(ValueError, match="look like solutions"):
        student_notebook(nb)
    assert "return m" in answer_key_of([scaffold])


def answer_key_of(cells) -> str:
    import tempfile

    from vae_tf.course.student import answer_key

    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "notebooks").mkdir()
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# 01 · T"), *cells]
        nbformat.write(nb, Path(root) / "notebooks" / "01_t.ipynb")
        return answer_key(root)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_nbgrader_regions_carry_nbgraders_metadata_with_unique_ids(path):
    """A course running nbgrader takes the notebooks as they are: its regions, schema-3 metadata, unique grade ids."""
    from vae_tf.course.student import BEGIN_SOLUTION, has_solution_regions

    cells = [c for c in _read(path).cells if c.cell_type == "code" and BEGIN_SOLUTION in c.source]
    assert all(has_solution_regions(c) for c in cells)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in cells]
    assert len(ids) == len(set(ids))
    assert all(c.metadata["nbgrader"]["schema_version"] == 3 for c in cells)



# --------------------------------------------------------------------------- the committed student edition (issue 34)
def test_the_committed_student_edition_is_what_the_generator_writes(tmp_path):
    """notebooks/student/ is `python -m vae_tf.course student`'s output for the notebooks as they are: no solution,
    no output, and Colab badges that open the student copy (the badges a student follows)."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns("student", "artifacts"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    written = write_student_edition(None, tmp_path)
    committed = sorted((ROOT / "notebooks" / "student").glob("*.ipynb"))
    assert [p.name for p in committed] == [p.name for p in written] == [p.name for p in NOTEBOOKS], \
        "run `python -m vae_tf.course student` and commit notebooks/student"
    for fresh in written:
        stale = (ROOT / "notebooks" / "student" / fresh.name).read_text(encoding="utf-8")
        assert stale == fresh.read_text(encoding="utf-8"), f"notebooks/student/{fresh.name} is stale: run `python -m vae_tf.course student`"
    nb = _read(written[0])
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert f"blob/{COURSE_BRANCH}/notebooks/student/{written[0].name}" in nb.cells[0].source
