"""The training step, graded: the student's model class runs one ``train_step`` on fixed weights,
images and seed, with ``SGD(learning_rate=1)`` so that the weights move by exactly minus the
gradients; that step, the returned logs and ``model.metrics`` are compared with
:class:`vae_tf.VAE`'s on the same networks and noise.

``vae_tf``'s gradients come as two parts, of the batch means of the reconstruction and KL terms
(``g_r``, ``g_k``), so that each usual mistake is a known combination ``a g_r + c g_k``: the right
step is ``g_r + beta g_k``, a loss summed over the batch gives ``batch (g_r + beta g_k)``, and so on."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ...core.architectures import build_decoder, build_encoder
from ...core.vae import VAE
from .sampling import SEED
from .terms import BATCH, IMAGE_SHAPE, LATENT_DIM
from .verdict import (CORRECT, MISSING, WRONG, Finished, Verdict, call, close, known_mistake, numpy, relative_error,
                      wrong)

STEP_PIECE = "train_step"
#: beta given to a model class that takes ``beta=`` (not 1, so that a missing beta shows).
BETA = 0.5
#: The weights move by minus the gradients, rounded to float32: compared to 1e-4 (relative).
STEP_RTOL = 1e-4
LOGGED = ("loss", "reconstruction_loss", "kl_loss")
_LOSS = "ops.mean(reconstruction_loss + beta * kl_loss)"
FIX_PIECES_FIRST = ("Your sampling, KL or reconstruction piece is not correct yet, and train_step uses them: "
                    "fix those first.")


def fixed_networks(seed: int = 0) -> tuple[keras.Model, keras.Model]:
    """A small encoder and decoder (:func:`vae_tf.build_encoder`, 16 hidden units, 5-D codes) with
    weights drawn from ``numpy.random.default_rng(seed)``: the same numbers at every call."""
    encoder = build_encoder(IMAGE_SHAPE, LATENT_DIM, hidden_units=(16,))
    decoder = build_decoder(IMAGE_SHAPE, LATENT_DIM, hidden_units=(16,))
    rng = np.random.default_rng(seed)
    for network in (encoder, decoder):
        network.set_weights([rng.normal(scale=w.shape[0] ** -0.5 if w.ndim == 2 else 0.1, size=w.shape)
                             for w in network.get_weights()])
    return encoder, decoder


def fixed_images(seed: int = 4) -> tf.Tensor:
    """A batch of 8 fixed grey-level images, float32 ``(8, 28, 28, 1)`` in [0, 1]."""
    return ops.convert_to_tensor(np.random.default_rng(seed).uniform(size=(BATCH, *IMAGE_SHAPE)), "float32")


def _flat(arrays, like=None) -> np.ndarray:
    """``arrays`` flattened into one vector; a ``None`` (no gradient) counts as zeros shaped as in ``like``."""
    like = arrays if like is None else like
    return np.concatenate([np.zeros(int(np.prod(w.shape))) if a is None else numpy(a).ravel()
                           for a, w in zip(arrays, like)])


def _reference(encoder, decoder, x, beta: float) -> tuple[list, dict, np.ndarray, np.ndarray]:
    """``vae_tf.VAE``'s ``(variables, logged batch means, g_r, g_k)`` on these networks, seed :data:`SEED`."""
    vae = VAE(encoder, decoder, beta=beta, seed=SEED)
    variables = vae.trainable_weights
    with tf.GradientTape(persistent=True) as tape:
        means = {name: ops.mean(term) for name, term in vae.loss_terms(x, training=True).items()}
    g_r, g_k = (_flat(tape.gradient(means[name], variables), like=variables) for name in LOGGED[1:])
    return variables, {name: float(numpy(v)) for name, v in means.items()}, g_r, g_k


def _student_step(model_class: type, networks: tuple, x, variables: list, start: list, kwargs: dict) -> tuple:
    """A fresh student model on ``networks`` set to ``start``, one ``train_step(x)`` with SGD(1):
    ``(model, logs, weights before - after)``; the weights are set back to ``start``."""
    for variable, value in zip(variables, start):
        variable.assign(value)
    name = model_class.__name__
    model = call(STEP_PIECE, f"{name}.__init__", model_class, *networks, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
    try:
        logs = call(STEP_PIECE, f"{name}.train_step", model.train_step, x)
        step = _flat(start) - _flat(variables)
    finally:
        for variable, value in zip(variables, start):
            variable.assign(value)
    return model, logs, step


def _step_mistakes(g_r, g_k, beta: float) -> list[tuple[str, object]]:
    """The usual mistakes in the loss or the update, each as ``(message, the step it takes)``."""
    mistakes = [
        ("the weights did not change: apply the gradients with self.optimizer.apply(gradients, "
         "self.trainable_weights).", 0.0 * g_r),
        (f"the loss is summed over the batch, not averaged: the step is {BATCH} times vae_tf's (a batch of {BATCH}); "
         f"loss = {_LOSS}.", BATCH * (g_r + beta * g_k)),
        ("the KL term enters the loss with a minus sign: the loss is the negative ELBO, reconstruction_loss + "
         "beta * kl_loss, both terms positive.", g_r - beta * g_k),
        (f"the step goes uphill: it maximises the loss. Minimise {_LOSS}, the negative ELBO.", -(g_r + beta * g_k)),
        ("the KL term is missing from the loss: loss = reconstruction_loss + beta * kl_loss.", g_r),
        ("the reconstruction term is missing from the loss: loss = reconstruction_loss + beta * kl_loss.", beta * g_k),
    ]
    if beta != 1.0:
        mistakes.append(("beta is missing: the KL term is weighted by beta, loss = reconstruction_loss + "
                         "self.beta * kl_loss.", g_r + g_k))
    return mistakes


def _check_step(step, g_r, g_k, beta: float) -> None:
    """Raises :class:`Finished` ("wrong") unless ``step`` is ``g_r + beta g_k``."""
    want = g_r + beta * g_k
    if not close(step, want, STEP_RTOL):
        mistake = known_mistake(step, _step_mistakes(g_r, g_k, beta), STEP_RTOL)
        raise wrong(STEP_PIECE, mistake or f"its step differs from vae_tf.VAE's on the same weights and noise by up "
                    f"to {relative_error(step, want):.2g} (relative): take the gradient of {_LOSS} w.r.t. "
                    "self.trainable_weights inside the tape, and apply it with self.optimizer.apply.")


def _logged_numbers(logs) -> dict:
    """``{name: float}`` of the three logged terms; raises :class:`Finished` when one is missing or not a number."""
    if not isinstance(logs, dict) or not set(LOGGED) <= set(logs):
        shown = sorted(logs) if isinstance(logs, dict) else type(logs).__name__
        raise wrong(STEP_PIECE, f"it returns {shown}: return a dict with 'loss', 'reconstruction_loss' and 'kl_loss', "
                                "the trackers' results ({t.name: t.result() for t in self.metrics}).")
    values = {name: numpy(logs[name]) for name in LOGGED}
    for name, value in values.items():
        if value.size != 1:
            raise wrong(STEP_PIECE, f"the logged {name} has shape {value.shape}: log one number, the mean per image "
                                    "(a keras.metrics.Mean tracker's result()).")
    return {name: float(value.reshape(())) for name, value in values.items()}


def _check_logs(logs, means: dict, beta: float) -> None:
    """Raises :class:`Finished` ("wrong") unless the logs are ``vae_tf.VAE``'s batch means."""
    got = _logged_numbers(logs)
    if not close(got["loss"], got["reconstruction_loss"] + beta * got["kl_loss"]):
        raise wrong(STEP_PIECE, "the logged terms do not add up: the logged loss should be reconstruction_loss + "
                                f"beta * kl_loss (here {got['loss']:.6g} vs {got['reconstruction_loss']:.6g} + "
                                f"{beta:g} * {got['kl_loss']:.6g}).")
    for name in LOGGED:
        if close(got[name], means[name]):
            continue
        if close(got[name], BATCH * means[name]):
            raise wrong(STEP_PIECE, f"the logged {name} is summed over the batch: log the mean per image (update a "
                                    f"keras.metrics.Mean tracker with the per-image {name}).")
        raise wrong(STEP_PIECE, f"the logged {name} is {got[name]:.6g}, vae_tf.VAE's on the same batch is "
                                f"{means[name]:.6g}: update the '{name}' tracker with this step's per-image {name}.")


def _check_trackers(model) -> None:
    """Raises :class:`Finished` ("wrong") unless ``model.metrics`` holds a tracker per logged term."""
    names = [getattr(m, "name", "?") for m in model.metrics]
    if not set(LOGGED) <= set(names):
        raise wrong(STEP_PIECE, f"model.metrics lists {names}: keep a keras.metrics.Mean tracker per logged term "
                                "(loss, reconstruction_loss, kl_loss), update them in train_step and return them from "
                                "the metrics property, so that fit averages them over an epoch and resets them.")


def _grade_step(model_class: type) -> None:
    """Raises :class:`Finished` unless ``model_class``'s ``train_step`` takes ``vae_tf.VAE``'s step."""
    takes_beta = "beta" in inspect.signature(model_class).parameters
    beta = BETA if takes_beta else 1.0
    kwargs = {"seed": SEED, **({"beta": beta} if takes_beta else {})}
    networks, x = fixed_networks(), fixed_images()
    variables, means, g_r, g_k = _reference(*networks, x, beta)
    start = [numpy(v).astype("float32") for v in variables]
    model, logs, step = _student_step(model_class, networks, x, variables, start, kwargs)
    _, _, again = _student_step(model_class, networks, x, variables, start, kwargs)
    if not np.array_equal(step, again):
        raise wrong(STEP_PIECE, f"two models built with seed={SEED} take different steps on the same batch: pass the "
                                "model's seed to its sampling layer, whose noise comes from "
                                "keras.random.SeedGenerator(seed).")
    _check_step(step, g_r, g_k, beta)
    _check_logs(logs, means, beta)
    _check_trackers(model)


def check_train_step(model_class: type | None, *, pieces_correct: bool = True) -> Verdict:
    """Grade a model class built as ``model_class(encoder, decoder, seed=...)`` (and ``beta=0.5``
    when it takes ``beta``): one ``train_step(x)`` on 8 fixed images must move the weights as
    ``vae_tf.VAE``'s step does (``SGD(1)``, relative 1e-4), log its batch means of ``loss``,
    ``reconstruction_loss`` and ``kl_loss``, and keep their trackers in ``metrics``.
    ``pieces_correct``: whether the pieces it calls were graded correct (a "wrong" verdict says to fix them first)."""
    try:
        if model_class is None:
            raise Finished(Verdict(STEP_PIECE, MISSING, "not written yet (got None)"))
        if not isinstance(model_class, type):
            raise wrong(STEP_PIECE, f"got a {type(model_class).__name__}; pass the model class itself (the grader "
                                    f"builds it with encoder, decoder and seed={SEED}).")
        tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)  # float32 matmuls on a GPU, as on a CPU
        try:
            _grade_step(model_class)
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(tf32)
        return Verdict(STEP_PIECE, CORRECT, "correct: one step moves the weights as vae_tf.VAE's does, and the logged "
                                            "loss, reconstruction_loss and kl_loss are its batch means.")
    except Finished as done:
        verdict = done.verdict
        if verdict.status == WRONG and not pieces_correct:
            verdict = Verdict(verdict.piece, WRONG, f"{verdict.message} {FIX_PIECES_FIRST}")
        return verdict
