"""Notebook 01's graded exercise 6 (issue 34, point 2): the check cell says what is missing, right and wrong."""

from __future__ import annotations

from pathlib import Path


from vae_tf.course.student import stub_source

from exercise_cells import exercise_cells, run_cell

ROOT = Path(__file__).resolve().parent.parent
SETUP = "import numpy as np\nimport vae_tf\nfrom keras import ops\n" \
        "def to_np(t):\n    return np.asarray(ops.convert_to_numpy(t), dtype='float64')\n"


def _cells():
    return exercise_cells("01_theory_and_elbo.ipynb", 6)


_run = run_cell


def _namespace() -> dict:
    namespace: dict = {}
    exec(SETUP, namespace)
    return namespace


KL_TERMS = "np.exp(lq - lp) + (mq - mp) ** 2 / np.exp(lp) - 1 + lp - lq"
MISTAKES = {  # a typical wrong function -> the words its diagnosis must contain
    f"def my_gaussian_kl(mq, lq, mp, lp):\n    return np.sum({KL_TERMS}, axis=-1)": "factor 1/2 is missing",
    f"def my_gaussian_kl(mq, lq, mp, lp):\n    return 0.5 * np.mean({KL_TERMS}, axis=-1)": "dimensions are averaged",
    "def my_gaussian_kl(mq, lq, mp, lp):\n    return 0.5 * np.sum(np.exp(lq / 2) / np.exp(lp / 2) + (mq - mp) ** 2 / np.exp(lp / 2)"
    " - 1 + lp - lq, axis=-1)": "the variance is exp(log_var)",
    "def my_gaussian_kl(mq, lq, mp, lp):\n    return 0.5 * np.sum(np.exp(lq - lp) + (mq - mp) ** 2 / np.exp(lp) - 1 + lq - lp, axis=-1)":
        "log-ratio is upside down",
    "def my_gaussian_kl(mq, lq, mp, lp):\n    return 0.5 * np.sum(np.exp(lq - lp) + (mq - mp) ** 2 - 1 + lp - lq, axis=-1)":
        "divide (mean_q - mean_p)^2 by p's variance",
    "def my_gaussian_kl(mq, lq, mp, lp):\n    return 0.5 * np.sum(np.exp(lq) + mq ** 2 - 1 - lq, axis=-1)": "KL(q || N(0, I))",
    "def my_gaussian_kl(mq, lq, mp, lp):\n    return 0.5 * np.sum(np.exp(lp - lq) + (mq - mp) ** 2 / np.exp(lq) - 1 + lq - lp, axis=-1)":
        "that is KL(p || q)",
    f"def my_gaussian_kl(mq, lq, mp, lp):\n    return 0.5 * np.sum({KL_TERMS}, axis=0)": "shape (5,)",
    f"def my_gaussian_kl(mq, lq, mp, lp):\n    return 0.5 * np.sum({KL_TERMS} + 1, axis=-1)": "KL(q || q) must be 0",
    "def my_gaussian_kl(mq, lq, mp, lp):\n    raise ValueError('not yet')": "raised ValueError: not yet",
}


def test_01_exercise_6_without_a_function_says_define_it_first():
    check, solution = _cells()
    namespace = _namespace()
    assert "exercise 6: define my_gaussian_kl" in _run(namespace, check)
    exec(stub_source(solution), namespace)  # the student edition's stub binds nothing
    assert "exercise 6: define my_gaussian_kl" in _run(namespace, check)


def test_01_exercise_6_the_solution_is_right():
    check, solution = _cells()
    namespace = _namespace()
    exec(solution, namespace)
    assert _run(namespace, check).strip() == "exercise 6: right"


def test_01_exercise_6_names_each_usual_mistake():
    check, _ = _cells()
    for wrong, message in MISTAKES.items():
        namespace = _namespace()
        exec(wrong, namespace)
        printed = _run(namespace, check)
        assert printed.startswith("exercise 6, still wrong:") and message in printed, (wrong, printed)
        assert printed.count("\n- ") == 1, printed  # one diagnosis, the right one
