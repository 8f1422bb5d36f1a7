"""A grader for notebook 02's VAE from scratch: which of the student's four pieces is right, and
what is wrong with the others.

The pieces, as notebook 02's section 2 has the student write them:

1. **sampling**: a ``keras.layers.Layer`` class built with ``seed=`` whose ``call([z_mean, z_log_var])``
   returns ``z = z_mean + exp(z_log_var / 2) * eps``, ``eps ~ N(0, I)`` from a seeded
   ``keras.random.SeedGenerator`` (or a function ``(z_mean, z_log_var, eps) -> z``);
2. **KL term**: ``kl(z_mean, z_log_var) -> (batch,)``, ``KL(q(z|x) || N(0, I))`` per image in nats;
3. **reconstruction term**: ``reconstruction(x, logits) -> (batch,)``, the loss ``-log p(x|z)`` of
   Bernoulli pixels per image in nats (the cross-entropy from logits, summed over pixels);
4. **train_step**: a ``keras.Model`` class built as ``cls(encoder, decoder, seed=...)`` (``beta=``
   too, if it takes one) whose ``train_step(x)`` minimises the batch mean of
   ``reconstruction + beta * KL`` and returns the trackers' ``loss``, ``reconstruction_loss``, ``kl_loss``.

Each piece runs against ``vae_tf``'s own on fixed inputs, weights and noise; values and gradients
agree to a relative 1e-5 (1e-4 for the step), or the grader names the first known mistake whose
numbers the student's equal (``tests/test_grader.py`` feeds it each one). It sets no global
seed, and imports no notebook machinery (nbformat, nbclient).

    from vae_tf.course.grading import grade
    grade(sampling=ScratchSampling, kl=scratch_kl, reconstruction=scratch_reconstruction_loss, model=ScratchVAE)
"""

from __future__ import annotations

from .sampling import check_sampling
from .step import check_train_step
from .terms import check_kl, check_reconstruction
from .verdict import CORRECT, MISSING, WRONG, Verdict


def grade(sampling=None, kl=None, reconstruction=None, model=None, *, show: bool = True) -> list[Verdict]:
    """Grade the four pieces (any left ``None`` is "not written yet") and, with ``show``, print one
    line per piece: ``✓`` correct, ``✗`` wrong and why, ``…`` not written yet. Returns the four
    :class:`Verdict` objects in that order; raises nothing for a student's error (it is a verdict)."""
    verdicts = [check_sampling(sampling), check_kl(kl), check_reconstruction(reconstruction)]
    pieces_correct = all(v.status == CORRECT for v in verdicts)
    verdicts.append(check_train_step(model, pieces_correct=pieces_correct))
    if show:
        for verdict in verdicts:
            print(verdict)
    return verdicts


__all__ = ["CORRECT", "MISSING", "WRONG", "Verdict", "check_kl", "check_reconstruction", "check_sampling",
           "check_train_step", "grade"]
