"""Notebook 06's graded exercise 6 (issue 34, point 2): the check cell says, for a student's
``my_fitted_gaussian_sample``, that it is missing, right, or which mistake it makes."""

from pathlib import Path

import nbformat
import pytest

from vae_tf.course.student import student_notebook

from exercise_cells import exercise_cells, run_cell

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "06_autoencoders_pca_denoising.ipynb"


def _cells():
    check, solution = exercise_cells("06_autoencoders_pca_denoising.ipynb", 6)
    return solution, check


_run = run_cell


def _namespace() -> dict:
    namespace = {}
    exec("import numpy as np", namespace)
    return namespace


def test_exercise_6_check_asks_for_the_function_before_it_is_written():
    _, check = _cells()
    assert "define my_fitted_gaussian_sample" in _run(_namespace(), check)


def test_exercise_6_check_accepts_the_solution_and_another_correct_answer():
    solution, check = _cells()
    namespace = _namespace()
    exec(solution, namespace)
    assert _run(namespace, check).strip() == "exercise 6: right"
    exec("def my_fitted_gaussian_sample(codes, n, seed):\n"
         "    return np.random.default_rng(seed).multivariate_normal(codes.mean(0), np.cov(codes.T), size=n)", namespace)
    assert _run(namespace, check).strip() == "exercise 6: right"


MISTAKES = {
    "forgot the mean": ("L = np.linalg.cholesky(np.cov(codes, rowvar=False))\n"
                        "    return np.random.default_rng(seed).standard_normal((n, codes.shape[1])) @ L.T",
                        "add codes.mean(0)"),
    "per-unit standard deviations": ("eps = np.random.default_rng(seed).standard_normal((n, codes.shape[1]))\n"
                                     "    return codes.mean(0) + eps * codes.std(0)",
                                     "the draws are uncorrelated where the codes are not"),
    "times the covariance": ("eps = np.random.default_rng(seed).standard_normal((n, codes.shape[1]))\n"
                             "    return codes.mean(0) + eps @ np.cov(codes, rowvar=False)",
                             "covariance squared"),
    "eps @ L": ("L = np.linalg.cholesky(np.cov(codes, rowvar=False))\n"
                "    return codes.mean(0) + np.random.default_rng(seed).standard_normal((n, codes.shape[1])) @ L",
                "multiply by L.T"),
    "noise not seeded": ("L = np.linalg.cholesky(np.cov(codes, rowvar=False))\n"
                         "    return codes.mean(0) + np.random.default_rng().standard_normal((n, codes.shape[1])) @ L.T",
                         "same seed give different draws"),
    "seed ignored": ("L = np.linalg.cholesky(np.cov(codes, rowvar=False))\n"
                     "    return codes.mean(0) + np.random.default_rng(0).standard_normal((n, codes.shape[1])) @ L.T",
                     "the seed is ignored"),
    "wrong shape": ("return codes[:n].T", "return an array of shape (n, K)"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_exercise_6_check_names_each_typical_mistake(mistake):
    body, message = MISTAKES[mistake]
    _, check = _cells()
    namespace = _namespace()
    exec(f"def my_fitted_gaussian_sample(codes, n, seed):\n    {body}", namespace)
    printed = _run(namespace, check)
    assert printed.startswith("exercise 6, still wrong:") and message in printed, (mistake, printed)
    assert printed.count("\n- ") == 1, f"{mistake}: one diagnosis expected, got {printed}"


def test_exercise_6_student_edition_holds_a_stub_the_check_answers():
    """The student edition replaces the solution by its comment lines and a stub; the check then asks for it."""
    student = student_notebook(nbformat.read(NOTEBOOK, as_version=4))
    stub = next(c.source for c in student.cells if c.source.startswith("# Exercise 6"))
    assert "def my_fitted_gaussian_sample" not in stub and stub.rstrip().endswith("pass")
    _, check = _cells()
    namespace = _namespace()
    exec(stub, namespace)
    assert "define my_fitted_gaussian_sample" in _run(namespace, check)
