"""Notebook 05's graded exercise 6 (issue 34, point 2): the importance-weighted bound, each mistake named."""

from __future__ import annotations




from exercise_cells import exercise_cells, run_cell



def _cells():
    return exercise_cells("05_evaluation_and_latent_dimensions.ipynb", 6)


_run = run_cell


def _namespace() -> dict:
    namespace: dict = {}
    exec("import numpy as np\nfrom keras import ops\nfrom vae_tf.tools.evaluation import iwae_bound", namespace)
    return namespace


def test_05_exercise_6_check_says_what_is_missing_and_right():
    check, solution = _cells()
    namespace = _namespace()
    assert "define my_iwae_bound" in _run(namespace, check)
    exec(solution, namespace)
    assert _run(namespace, check).strip() == "exercise 6: right"
    exec("from scipy.special import logsumexp\n"
         "def my_iwae_bound(log_w):\n    return logsumexp(log_w, axis=0) - np.log(len(log_w))", namespace)
    assert _run(namespace, check).strip() == "exercise 6: right"


def test_05_exercise_6_check_names_each_typical_mistake():
    check, _ = _cells()
    mistakes = {
        "def my_iwae_bound(log_w):\n    return np.log(np.mean(np.exp(log_w), axis=0))": "underflows",
        "def my_iwae_bound(log_w):\n    return np.mean(log_w, axis=0)": "the average log-weight",
        "from scipy.special import logsumexp\ndef my_iwae_bound(log_w):\n    return logsumexp(log_w, axis=0)": "off by log K",
        "from scipy.special import logsumexp\n"
        "def my_iwae_bound(log_w):\n    return logsumexp(log_w, axis=1) - np.log(log_w.shape[1])": "reduce over axis 0",
        "def my_iwae_bound(log_w):\n    return None": "return one value per image",
    }
    for wrong, message in mistakes.items():
        namespace = _namespace()
        exec(wrong, namespace)
        printed = _run(namespace, check)
        assert "still wrong" in printed and message in printed, (wrong, printed)
