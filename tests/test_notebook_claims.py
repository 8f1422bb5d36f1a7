"""The stored notebooks tell the truth about their own run (issues 13 and 22).

Every number a markdown cell states is either checked by a ``stated(...)`` call whose verdict
the stored summary records as agreeing (from a full, not quick, run; notebooks stored before issue 34
print a ``stated ✓`` line instead) or declared as given in the cell (``<!-- given: ... -->``); no stored output shows a path of the machine that made it; and a
``# NBVAL_CHECK_OUTPUT`` cell, whose output nbval compares on every machine, prints no
round-off-sized number.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vae_tf.course.claims import (RECORDS_MIME, STATED_OK, given_numbers, normalize, numbers_in_markdown, stated,
                                  stated_records, stated_summary, summary_line, tolerance_of)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Absolute paths of a machine: POSIX home/system/temp folders, Colab's /content, Windows drives.
MACHINE_PATH = re.compile(
    r"(?<![\w.~])/(?:work|home|root|Users|tmp|content|private|var|opt|usr|mnt|srv)/"
    r"|\b[A-Za-z]:\\\\?[\w.]"
)

# What an NBVAL_CHECK_OUTPUT cell must not print, since it differs between CPUs, BLAS kernels and
# thread counts: a number Python formatted in scientific notation (its exponent has two digits or
# more: 1e-08, 6.61e+23; a bound written by hand, "< 1e-6", has one), a negative zero (a value
# below the printed precision whose sign is round-off), or more significant digits than float32
# (the models' precision) can promise.
ROUND_OFF = {
    "scientific notation": re.compile(r"(?<![\w.])\d+(?:\.\d+)?e[+-]\d{2,}\b"),
    "a negative zero": re.compile(r"(?<![\w.])-0(?:\.0+)?(?![\d.]|e[+-])"),
    "more than 6 significant digits": re.compile(r"(?<![\w.])(?=(?:0\.0*)?[1-9](?:\.?\d){6})\d+\.\d+"),
}


def round_off_numbers(text: str) -> list[str]:
    """The round-off-sized numbers in ``text``, each as ``"KIND: NUMBER"``."""
    return [f"{kind}: {m.group(0)}" for kind, pattern in ROUND_OFF.items() for m in pattern.finditer(text)]


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _output_texts(cell) -> list[str]:
    """Every text a stored output shows: streams, text/plain, HTML, markdown, error tracebacks."""
    texts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            texts.append("".join(out["text"]) if isinstance(out["text"], list) else out["text"])
        for kind, value in out.get("data", {}).items():
            if kind.startswith("text/") or kind in ("application/json", "application/javascript"):
                texts.append("".join(value) if isinstance(value, list) else str(value))
        if out.get("output_type") == "error":
            texts.extend(out.get("traceback", []))
    return texts


def _notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _records(nb: dict) -> list[dict] | None:
    """The verdicts :func:`stated_summary` stored in ``nb``, or None for a notebook stored before it."""
    found = [out["data"][RECORDS_MIME]["records"] for cell in nb["cells"] for out in cell.get("outputs", [])
             if RECORDS_MIME in out.get("data", {})]
    assert len(found) <= 1, "more than one stated_summary output"
    return found[0] if found else None


def _checked_numbers(nb: dict) -> set[str]:
    checked_texts = [r["text"] for r in _records(nb) or [] if r["verdict"] == "ok"]
    for cell in nb["cells"]:  # notebooks stored before issue 34: one printed line per check
        for text in _output_texts(cell):
            checked_texts += re.findall(re.escape(STATED_OK) + r' "([^"]+)"', text)
    found = set()
    for checked in checked_texts:  # stated("about 5 minutes", ...) backs the prose token "5minutes"
        found.update([normalize(checked), *numbers_in_markdown(checked)])
    return found


# ----------------------------------------------------------------------------- the mechanism
def test_numbers_in_markdown_finds_results_and_skips_code_links_and_comments():
    text = (
        "A held-out negative ELBO of 105.3 nats, 5-NN accuracy 0.63, 97.5 % of samples, 24,345 images, "
        "71 s on 2 cores, 3x faster, 7 of 10 classes. `beta=0.5` [link](http://x.org/v1.2) "
        "<!-- given: 0.25 --> a 20x20 grid in 2016, section 5."
    )
    assert numbers_in_markdown(text) == ["105.3nats", "0.63", "97.5%", "24,345", "71s", "3x", "7of10"]
    assert given_numbers("x <!-- given: 0.5; 1,000 ; 97.5 % -->") == {"0.5", "1,000", "97.5%"}


def test_tolerance_is_half_a_unit_of_the_last_written_digit():
    assert tolerance_of("105.3") == pytest.approx(0.05)
    assert tolerance_of("0.63") == pytest.approx(0.005)
    assert tolerance_of("24,345") == pytest.approx(0.5)
    assert tolerance_of("97.5 %") == pytest.approx(0.05)


def _last_verdict() -> dict:
    return stated_records()[-1]


def test_stated_is_silent_when_the_number_agrees_and_says_so_when_not(monkeypatch, capsys):
    monkeypatch.delenv("VAE_TF_QUICK", raising=False)
    monkeypatch.delenv("VAE_TF_ALL_TRAINING_IMAGES", raising=False)
    assert stated("105.3", 105.27) is None  # no Out[] value where a call ends a cell
    assert capsys.readouterr().out == "" and _last_verdict()["verdict"] == "ok"
    stated("105.3", 105.36)  # rounds to 105.4, within 2 %: what another machine gives (issue 25)
    assert capsys.readouterr().out == "" and _last_verdict()["verdict"] == "close"
    stated("105.3", 108.0)  # 2.6 % off: the prose would be wrong
    out = capsys.readouterr().out
    assert out.startswith('stated ✗ "105.3"') and "108" in out and _last_verdict()["verdict"] == "mismatch"
    monkeypatch.setenv("VAE_TF_ALL_TRAINING_IMAGES", "1")
    stated("105.3", 98.0)
    assert capsys.readouterr().out == "" and _last_verdict()["why"] == "all training images"
    monkeypatch.delenv("VAE_TF_ALL_TRAINING_IMAGES")
    stated("5 to 10 minutes", 9.9)  # a range: inside agrees, outside does not (issue 25)
    assert _last_verdict() == {"text": "5 to 10 minutes", "measured": 9.9, "tolerance": 2.5, "verdict": "ok"}
    stated("30-50 s", 29.0)
    assert "✗" in capsys.readouterr().out
    monkeypatch.setenv("VAE_TF_QUICK", "1")
    stated("105.3", 140.2)
    assert capsys.readouterr().out == "" and _last_verdict()["why"] == "quick mode"
    with pytest.raises(ValueError, match="holds no number"):
        stated("many", 3.0)
    with pytest.raises(ValueError, match="not a finite number"):
        stated("1.0", float("nan"))


def test_a_number_passes_only_within_the_precision_its_sentence_states(monkeypatch, capsys):
    """Issue 34: "318 nats" is not 320.22, whatever tolerance the check asks for; only a range widens it."""
    monkeypatch.delenv("VAE_TF_QUICK", raising=False)
    monkeypatch.delenv("VAE_TF_ALL_TRAINING_IMAGES", raising=False)
    stated("318", 320.22, tol=6)
    assert _last_verdict()["verdict"] == "close" and _last_verdict()["tolerance"] == 0.5
    stated("21.5", 21.35, tol=0.3)
    assert _last_verdict()["verdict"] == "close"
    stated("21.4", 21.35, tol=0.3)  # 21.35 rounds either way within half a unit
    assert _last_verdict()["verdict"] == "ok"
    stated("about 7 min", 8.9, tol=2)
    assert _last_verdict()["verdict"] == "mismatch" and "✗" in capsys.readouterr().out
    stated("6 to 9 min", 8.9)
    assert _last_verdict()["verdict"] == "ok"
    stated("105.3", 105.33, tol=0.01)  # a tighter tolerance is honoured
    assert _last_verdict()["verdict"] != "ok" and _last_verdict()["tolerance"] == 0.01


def test_the_summary_is_one_line_and_stores_every_verdict(monkeypatch, capsys):
    monkeypatch.delenv("VAE_TF_QUICK", raising=False)
    monkeypatch.delenv("VAE_TF_ALL_TRAINING_IMAGES", raising=False)
    ok = {"text": "1.5", "measured": 1.5, "tolerance": 0.05, "verdict": "ok"}
    assert summary_line([ok, ok]) == "2 numbers stated in the text, all match this run."
    bad = {**ok, "measured": 9.0, "verdict": "mismatch"}
    line = summary_line([ok, bad])
    assert "1 match" in line and '1 differ ("1.5" 9)' in line and "\n" not in line
    assert "not compared" in summary_line([{**ok, "verdict": "not compared", "why": "quick mode"}])
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    stated("2.0", 2.01)  # a call site of its own
    stated_summary()
    (obj, raw), = shown
    assert raw and obj["text/plain"].count("\n") == 0 and obj[RECORDS_MIME]["records"] == stated_records()
    assert {"text": "2.0", "measured": 2.01, "tolerance": 0.05, "verdict": "ok"} in obj[RECORDS_MIME]["records"]


def test_a_re_run_call_replaces_its_own_verdict(monkeypatch):
    monkeypatch.delenv("VAE_TF_QUICK", raising=False)
    monkeypatch.delenv("VAE_TF_ALL_TRAINING_IMAGES", raising=False)
    before = len(stated_records())
    for value in (3.0, 9.0, 3.01):  # one call site run three times, as a re-run cell
        stated("3.0", value)
    assert len(stated_records()) == before + 1 and _last_verdict()["measured"] == 3.01


def test_machine_path_pattern():
    for bad in ["/work/main/data/mnist.npz", "see /home/ann/x", "/root/.pyenv/lib/x.py:3: UserWarning",
                "/tmp/ipykernel_12/3.py", "C:\\Users\\ann", "/content/vae-tf"]:
        assert MACHINE_PATH.search(bad), bad
    for fine in ["data/mnist.npz", "notebooks/artifacts/vae.keras", "~/.cache/vae_tf", "nats/pixel", "1/2"]:
        assert not MACHINE_PATH.search(fine), fine


def test_round_off_pattern():
    for bad in ["mean 1e-08, log-variance 6e-08", "= 9e-15 nats", "6.61e+23", "1.26e+119", "mean -0.000, std",
                "-0.0", "L_K = -0", "0.123456789", "3.1415926", "-5.8870001 nats", "12345.67"]:
        assert round_off_numbers(bad), bad
    for fine in ["agree to within 1e-6", "< 1e-9 nats", "[-4.0887 -4.8167]", "-0.0011", "0.000 nats", "2.3026",
                 "(10000, 2) float32", "log 10 = 2.3026", "-0.001", "10,000 images", "v1.0-0", "x-0.5", "12345.6",
                 "step 0.0001"]:
        assert not round_off_numbers(fine), (fine, round_off_numbers(fine))


# ----------------------------------------------------------------------------- the notebooks
def test_there_are_seven_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_number_in_the_prose_is_checked_by_the_stored_run_or_given(path):
    nb = _notebook(path)
    checked = _checked_numbers(nb)
    unbacked = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = _source(cell)
        given = given_numbers(text)
        unbacked += [f"cell {i}: {t}" for t in numbers_in_markdown(text) if t not in given and t not in checked]
    assert not unbacked, (
        f"{path.name}: numbers in markdown with neither a stored 'stated ✓' line from a full run nor a "
        f"<!-- given: ... --> entry: {unbacked}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_given_lists_name_only_numbers_their_cell_states(path):
    stale = []
    for i, cell in enumerate(_notebook(path)["cells"]):
        if cell["cell_type"] == "markdown":
            text = _source(cell)
            stale += [f"cell {i}: {g}" for g in given_numbers(text) - set(numbers_in_markdown(text))]
    assert not stale, f"{path.name}: <!-- given --> entries the cell does not state: {stale}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_stored_outputs_are_a_full_run_without_mismatches(path):
    nb = _notebook(path)
    records = _records(nb) or []
    assert not [r for r in records if r["verdict"] == "not compared"], f"{path.name} is stored from a {records[0].get('why')} run"
    wrong = [r for r in records if r["verdict"] != "ok"]
    assert not wrong, f"{path.name}: the stored run disagrees with its prose: {wrong}"
    texts = [t for cell in nb["cells"] for t in _output_texts(cell)]
    assert not any("stated (quick mode" in t for t in texts), f"{path.name} is stored from a quick-mode run"
    wrong = [line for t in texts for line in t.splitlines() if line.startswith(("stated ✗", "stated ≈", "stated (all"))]
    assert not wrong, f"{path.name}: the stored run disagrees with its prose: {wrong}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_stored_outputs_show_no_machine_paths(path):
    hits = []
    for i, cell in enumerate(_notebook(path)["cells"]):
        for text in _output_texts(cell):
            hits += [f"cell {i}: {m.group(0)!r} in {text[max(0, m.start() - 60):m.end() + 40]!r}"
                     for m in MACHINE_PATH.finditer(text)]
    assert not hits, f"{path.name}: stored outputs show paths of the machine that ran them: {hits[:5]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_checked_outputs_print_nothing_that_differs_between_machines(path):
    code = [c for c in _notebook(path)["cells"] if c["cell_type"] == "code"]
    hits = [f"nbval Cell {i}: {hit}" for i, cell in enumerate(code) if "NBVAL_CHECK_OUTPUT" in _source(cell)
            for text in _output_texts(cell) for hit in round_off_numbers(text)]
    assert not hits, (
        f"{path.name}: NBVAL_CHECK_OUTPUT cells print numbers another CPU prints differently; assert them "
        f"(e.g. < 1e-6) and print the bound, or drop the cell's check: {hits}"
    )


def test_a_stated_phrase_backs_the_number_it_contains():
    record = {"text": "about 5 minutes", "measured": 5.4, "tolerance": 0.5, "verdict": "ok"}
    nb = {"cells": [{"cell_type": "code", "source": "", "outputs": [
        {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "", RECORDS_MIME: {"records": [record]}}}]}]}
    assert {"5minutes", "about5minutes"} <= _checked_numbers(nb)
    assert "5minutes" not in _checked_numbers({"cells": [{"cell_type": "code", "source": "", "outputs": [
        {"output_type": "display_data", "metadata": {}, "data": {RECORDS_MIME: {"records": [{**record, "verdict": "close"}]}}}]}]})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_stored_outputs_hold_no_tensorflow_start_up_logs(path):
    """Issue 25: `python -m vae_tf.course run` stores notebooks without TensorFlow's start-up noise."""
    from vae_tf.course.execution import TF_LOG_LINE

    hits = [f"cell {i}: {line[:80]!r}" for i, cell in enumerate(_notebook(path)["cells"])
            for text in _output_texts(cell) for line in text.splitlines() if TF_LOG_LINE.match(line)]
    assert not hits, f"{path.name}: stored TensorFlow start-up logs (re-run it with `python -m vae_tf.course run`): {hits[:3]}"


# ----------------------------------------------------------------------------- checks out of the reading flow (issue 25)
def test_separate_checks_moves_check_statements_into_a_hidden_cell_after_their_cell():
    import nbformat

    from vae_tf.course.checks import is_checks_cell, separate_checks

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "x = 2\nprint(x)\n# the prose's number\nstated(\"2\", x); stated(\"2.0\", x)\n"
        "if not QUICK:\n    assert x > 1\n    stated(\"2\", x)\nfor v in (1,):\n    print(v)\n    stated(\"1\", v)\ny = x"),
        nbformat.v4.new_code_cell("stated(\"3\", 3)")]
    out = separate_checks(nb)
    assert [is_checks_cell(c) for c in out.cells] == [False, True, True]
    assert out.cells[0].source == "x = 2\nprint(x)\nfor v in (1,):\n    print(v)\n    stated(\"1\", v)\ny = x"
    assert out.cells[1].source.split("\n")[1:] == [
        "# the prose's number", "stated(\"2\", x); stated(\"2.0\", x)", "if not QUICK:", "    assert x > 1", "    stated(\"2\", x)"]
    assert out.cells[2].source.endswith("stated(\"3\", 3)") and separate_checks(out).cells == out.cells  # idempotent


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_the_prose_checks_sit_in_hidden_checks_cells(path):
    """No cell of the lesson holds a check statement; every checks cell holds nothing else and
    is collapsed in Jupyter and Colab (and left out of the website)."""
    import ast

    from vae_tf.course.checks import CHECKS_TITLE, is_check_statement, is_checks_cell, stated_lines

    cells = [c for c in _notebook(path)["cells"] if c["cell_type"] == "code"]
    lesson = [(i, _source(c)) for i, c in enumerate(cells) if not is_checks_cell(c)]
    crowded = [f"code cell {i}: {sorted(stated_lines(src))}" for i, src in lesson if stated_lines(src)]
    assert not crowded, f"{path.name}: check statements in the lesson's cells (run vae_tf.course.checks.separate_checks): {crowded}"
    checks = [_source(c) for c in cells if is_checks_cell(c)]
    assert checks, f"{path.name} has no checks cell"
    for src in checks:
        assert src.startswith(CHECKS_TITLE + "\n")
        assert all(is_check_statement(node) for node in ast.parse(src).body), src


# A duration in a code comment ("2.5 minutes", "about 40 s"): no check can see it (issue 25).
DURATION = re.compile(r"\b\d+(?:\.\d+)?(?:\s*(?:-|–|to)\s*\d+(?:\.\d+)?)?\s*(?:s|sec|seconds?|ms|min|minutes?|h|hours?)\b"
                      r"|\b(?:a|one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|a few|several)\s+(?:minutes?|seconds?|hours?)\b")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_code_comments_state_no_runtimes(path):
    import io
    import tokenize

    hits = []
    for i, cell in enumerate(_notebook(path)["cells"]):
        if cell["cell_type"] != "code":
            continue
        tokens = tokenize.generate_tokens(io.StringIO(_source(cell)).readline)
        hits += [f"cell {i}: {t.string!r}" for t in tokens if t.type == tokenize.COMMENT and DURATION.search(t.string)]
    assert not hits, f"{path.name}: runtimes in code comments escape the checks; state them in the prose as a checked range: {hits}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_no_stray_out_values(path):
    """An Out[] value only where the cell means to show one (a figure, a widget)."""
    stray = []
    for i, cell in enumerate(_notebook(path)["cells"]):
        for out in cell.get("outputs", []):
            if out["output_type"] == "execute_result" and set(out["data"]) == {"text/plain"}:
                stray.append(f"cell {i}: {''.join(out['data']['text/plain'])[:40]!r}")
    assert not stray, f"{path.name}: stray Out[] values (end the line with ';'): {stray}"


# ----------------------------------------------------------------------------- what a notebook's checks import (issue 31)
NOTEBOOK_MACHINERY = ("nbformat", "nbclient", "nbconvert")


def _notebook_machinery_loaded_by(module: str) -> list[str]:
    """The packages of :data:`NOTEBOOK_MACHINERY` that ``import MODULE`` loads in a fresh interpreter."""
    script = f"import json, sys, {module}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(NOTEBOOK_MACHINERY)!r})))"
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["vae_tf.course.claims", "vae_tf.course.checks", "vae_tf.course.models"])
def test_what_a_notebook_imports_from_the_course_loads_no_notebook_machinery(module):
    """A notebook's `from vae_tf.course.claims import stated` (and notebook 03's shipped model)
    loads neither nbformat nor nbclient nor nbconvert: those are the course tools' business."""
    assert _notebook_machinery_loaded_by(module) == []


def test_the_course_tools_do_load_nbformat():
    """The probe above can fail: the badge and install-cell tool does load nbformat."""
    assert "nbformat" in _notebook_machinery_loaded_by("vae_tf.course.sync")


# ----------------------------------------------------------------------------- silent checks (issue 34)
#: Notebooks still stored in the format before issue 34 (one printed line per check); each leaves
#: this list when it is re-run with the silent checks and its closing summary.
PRINTED_CHECKS: set[str] = set()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_passing_checks_print_nothing_and_the_last_cell_sums_them_up(path):
    nb = _notebook(path)
    if path.name[:2] in PRINTED_CHECKS:
        assert _records(nb) is None, f"{path.name} has its summary now: take it off PRINTED_CHECKS"
        return
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "stated_summary()" in _source(code[-1]), f"{path.name}: the last code cell must call stated_summary()"
    (summary,) = [t for t in _output_texts(code[-1]) if t.strip()]
    assert re.fullmatch(r"\d+ numbers stated in the text, all match this run\.", summary.strip()), summary
    printed = [line for cell in code for t in _output_texts(cell) for line in t.splitlines() if line.startswith("stated ")]
    assert not printed, f"{path.name}: checks print into the lesson: {printed[:3]}"
    records = _records(nb)
    assert int(summary.split()[0]) == len(records) > 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_lesson_cells_hold_no_asserts_and_no_nbval_markers(path):
    """Issue 34, point 4: what only checks the prose sits in the hidden checks cells."""
    import ast

    from vae_tf.course.checks import is_checks_cell

    if path.name[:2] in PRINTED_CHECKS:
        return
    found = []
    for i, cell in enumerate(_notebook(path)["cells"]):
        if cell["cell_type"] != "code" or is_checks_cell(cell):
            continue
        source = _source(cell)
        if "NBVAL_CHECK_OUTPUT" in source:
            found.append(f"cell {i}: NBVAL_CHECK_OUTPUT")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        found += [f"cell {i}, line {n.lineno}: assert" for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    assert not found, f"{path.name}: move these into checks cells (under `if not QUICK:`): {found}"
