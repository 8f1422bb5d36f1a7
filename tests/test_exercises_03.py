"""Notebook 03's graded exercise 4 (issue 34, point 2): the check cell says what is missing, right and wrong."""

from __future__ import annotations

from pathlib import Path


from vae_tf.course.student import stub_source

from exercise_cells import exercise_cells, run_cell

ROOT = Path(__file__).resolve().parent.parent


def _cells():
    return exercise_cells("03_latent_space.ipynb", 4)


_run = run_cell


def _namespace() -> dict:
    import numpy as np

    return {"np": np}


def _define(body: str) -> str:
    return "def my_aggregate_cov(m, lv):\n    c = m - m.mean(axis=0)\n    return " + body


MISTAKES = {  # a typical wrong function -> the words its diagnosis must contain
    _define("c.T @ c / len(m)"): "the encoder's variances are missing",
    _define("c.T @ c / len(m) + np.diag(np.exp(lv / 2).mean(axis=0))"): "exp(log_var / 2) is sigma",
    _define("c.T @ c / len(m) + np.diag(np.exp(lv.mean(axis=0)))"): "average the variances, not the log-variances",
    _define("np.cov(m.T) + np.diag(np.exp(lv).mean(axis=0))"): "divides by N, not N - 1",
    _define("np.diag(m.var(axis=0) + np.exp(lv).mean(axis=0))"): "off-diagonal terms",
    _define("c.T @ c / len(m) + np.exp(lv).mean(axis=0)"): "on the diagonal only",
    _define("np.cov(m, bias=True)"): "np.cov takes the variables in rows",
    _define("c.T @ c / len(m) + 1.0"): "Cov[mu] (dividing by N) plus the mean variance",
    "def my_aggregate_cov(m, lv):\n    raise ValueError('not yet')": "raised ValueError: not yet",
}


def test_03_exercise_4_without_a_function_says_define_it_first():
    check, solution = _cells()
    namespace = _namespace()
    assert "exercise 4: define my_aggregate_cov" in _run(namespace, check)
    exec(stub_source(solution), namespace)  # the student edition's stub binds nothing
    assert "exercise 4: define my_aggregate_cov" in _run(namespace, check)


def test_03_exercise_4_the_solution_is_right():
    check, solution = _cells()
    namespace = _namespace()
    exec(solution.split("\nprint(")[0], namespace)  # the function, without the print on the notebook's codes
    assert _run(namespace, check).strip() == "exercise 4: right"


def test_03_exercise_4_names_each_usual_mistake():
    check, _ = _cells()
    for wrong, message in MISTAKES.items():
        namespace = _namespace()
        exec(wrong, namespace)
        printed = _run(namespace, check)
        assert printed.startswith("exercise 4, still wrong:") and message in printed, (wrong, printed)
        assert printed.count("\n- ") == 1, printed  # one diagnosis, the right one
