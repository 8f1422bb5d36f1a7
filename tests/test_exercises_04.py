"""Notebook 04's graded exercise 6 (issue 34, point 2): the AC-VAE's loss per example, each mistake named."""

from __future__ import annotations




from exercise_cells import exercise_cells, run_cell


HEADER = "def my_acvae_loss(x, logits, z_mean, z_log_var, y_hat, labels, beta=1.0, w=1.0):\n    n = len(x)\n"
RECON = "    r = np.sum(np.logaddexp(0.0, l) - xx * l, axis=1)\n"
SHAPES = "    l, xx = np.reshape(logits, (n, -1)), np.reshape(x, (n, -1))\n"
KL = "    kl = 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1.0 - z_log_var, axis=1)\n"
CE = "    ce = -np.log(y_hat[np.arange(n), labels])\n"


def _attempt(recon=RECON, kl=KL, ce=CE, total="    return r + beta * kl + w * ce\n") -> str:
    return HEADER + SHAPES + recon + kl + ce + total


def _cells():
    return exercise_cells("04_digit_conditioned_generation.ipynb", 6)


_run = run_cell


def _namespace() -> dict:
    namespace: dict = {}
    exec("import numpy as np\nimport keras", namespace)
    return namespace


def test_04_exercise_6_check_says_what_is_missing_and_right():
    check, solution = _cells()
    namespace = _namespace()
    assert "define my_acvae_loss" in _run(namespace, check)
    exec(solution, namespace)
    assert _run(namespace, check).strip() == "exercise 6: right"
    exec(_attempt(), namespace)  # the test's own correct attempt agrees with the notebook's solution
    assert _run(namespace, check).strip() == "exercise 6: right"


def test_04_exercise_6_check_names_each_typical_mistake():
    check, _ = _cells()
    mistakes = {
        _attempt(recon="    r = np.mean(np.logaddexp(0.0, l) - xx * l, axis=1)\n"): "the pixels are averaged",
        _attempt(recon="    r = -np.sum(xx * np.log(l) + (1 - xx) * np.log(1 - l), axis=1)\n"): "not probabilities",
        _attempt(kl="    kl = -0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1.0 - z_log_var, axis=1)\n"): "KL: wrong sign",
        _attempt(kl="    kl = np.sum(np.exp(z_log_var) + z_mean**2 - 1.0 - z_log_var, axis=1)\n"): "factor 1/2 is missing",
        _attempt(kl="    kl = 0.5 * np.mean(np.exp(z_log_var) + z_mean**2 - 1.0 - z_log_var, axis=1)\n"): "averaged over the latent",
        _attempt(ce="    ce = -np.log(y_hat).sum(axis=1)\n"): "only the true label's probability counts",
        _attempt(total="    return r + kl + w * ce\n"): "beta must multiply the KL",
        _attempt(total="    return np.mean(r + beta * kl + w * ce)\n"): "do not average over the batch",
    }
    for wrong, message in mistakes.items():
        namespace = _namespace()
        exec(wrong, namespace)
        printed = _run(namespace, check)
        assert "still wrong" in printed and message in printed, (wrong, printed)
        assert printed.count("\n- ") == 1, printed  # one mistake, one diagnosis
