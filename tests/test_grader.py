"""The grader of notebook 02's VAE from scratch (issue 34, point 1): fed the stub, each usual
mistake written as a student writes it, and the solution, it gives each piece the right status and
a message that names the mistake. Tiny networks, a batch of 8, no training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from vae_tf.course.grading import (CORRECT, MISSING, WRONG, check_kl, check_reconstruction, check_sampling,
                                   check_train_step, grade)
from vae_tf.course.grading.step import fixed_networks

ROOT = Path(__file__).resolve().parent.parent
PIXEL_AXES = (1, 2, 3)


# ----------------------------------------------------------------------------- the solution (notebook 02, section 2)
class Sampling(keras.layers.Layer):
    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def noise(self, z_mean):
        return keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        return z_mean + ops.exp(0.5 * z_log_var) * self.noise(z_mean)


def kl(z_mean, z_log_var):
    return -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)


def reconstruction(x, logits):
    return ops.sum(ops.binary_crossentropy(x, logits, from_logits=True), axis=PIXEL_AXES)


class ScratchVAE(keras.Model):
    """Notebook 02's ScratchVAE; the tests' mistakes override its pieces, ``combine`` (the loss) or ``update``."""

    sampling_class = Sampling
    kl_term = staticmethod(kl)

    def __init__(self, encoder, decoder, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.sampling = encoder, decoder, self.sampling_class(seed)
        self.trackers = [keras.metrics.Mean(name=n) for n in ("loss", "reconstruction_loss", "kl_loss")]

    @property
    def metrics(self):
        return self.trackers

    def combine(self, reconstruction_loss, kl_loss):
        return ops.mean(reconstruction_loss + kl_loss)

    def update(self, gradients):
        self.optimizer.apply(gradients, self.trainable_weights)

    def train_step(self, x):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(x, training=True)
            z = self.sampling([z_mean, z_log_var])
            reconstruction_loss = reconstruction(x, self.decoder(z, training=True))
            kl_loss = self.kl_term(z_mean, z_log_var)
            loss = self.combine(reconstruction_loss, kl_loss)
        self.update(tape.gradient(loss, self.trainable_weights))
        for tracker, value in zip(self.trackers, (reconstruction_loss + kl_loss, reconstruction_loss, kl_loss)):
            tracker.update_state(value)
        return {t.name: t.result() for t in self.trackers}


class BetaVAE(ScratchVAE):
    def __init__(self, encoder, decoder, beta=1.0, seed=None, **kwargs):
        super().__init__(encoder, decoder, seed=seed, **kwargs)
        self.beta = beta

    def combine(self, reconstruction_loss, kl_loss):
        return ops.mean(reconstruction_loss + self.beta * kl_loss)

    def train_step(self, x):
        logs = super().train_step(x)
        return {**logs, "loss": logs["reconstruction_loss"] + self.beta * logs["kl_loss"]}


def test_the_solution_is_correct_and_grade_prints_one_line_per_piece(capsys):
    verdicts = grade(sampling=Sampling, kl=kl, reconstruction=reconstruction, model=ScratchVAE)
    assert [(v.piece, v.status) for v in verdicts] == [
        ("sampling", CORRECT), ("KL term", CORRECT), ("reconstruction term", CORRECT), ("train_step", CORRECT)]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("✓ ") for line in lines), lines


def test_a_model_with_beta_is_graded_with_beta():
    assert check_train_step(BetaVAE).status == CORRECT


def test_the_reparameterization_as_a_function():
    assert check_sampling(lambda m, v, e: m + ops.exp(0.5 * v) * e).status == CORRECT
    verdict = check_sampling(lambda m, v, e: m + ops.exp(v) * e)
    assert verdict.status == WRONG and "exp(z_log_var / 2)" in verdict.message


# ----------------------------------------------------------------------------- stubs: "not written yet"
class StubSampling(Sampling):
    def call(self, inputs):
        raise NotImplementedError("write the reparameterization trick")


class EllipsisSampling(Sampling):
    def call(self, inputs):
        ...


def stub_kl(z_mean, z_log_var):
    raise NotImplementedError


def stub_reconstruction(x, logits):
    pass


class StubVAE(ScratchVAE):
    def train_step(self, x):
        raise NotImplementedError


def test_the_stubs_are_not_written_yet(capsys):
    verdicts = grade(sampling=StubSampling, kl=stub_kl, reconstruction=stub_reconstruction, model=StubVAE)
    assert [v.status for v in verdicts] == [MISSING] * 4
    assert all(v.message.startswith("not written yet") for v in verdicts), verdicts
    assert all(line.startswith("… ") for line in capsys.readouterr().out.splitlines())
    assert check_sampling(EllipsisSampling).status == MISSING


class CallsAStubVAE(ScratchVAE):
    def train_step(self, x):
        z_mean, z_log_var = self.encoder(x)
        return {"kl_loss": stub_kl(z_mean, z_log_var)}


def test_a_written_train_step_that_calls_a_stub_names_the_stub():
    verdict = check_train_step(CallsAStubVAE)
    assert verdict.status == MISSING and "stub_kl" in verdict.message, verdict


# ----------------------------------------------------------------------------- the KL term's mistakes
def _kl_terms(z_mean, z_log_var):
    return 1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)


KL_MISTAKES = {
    "sign is flipped": lambda m, v: 0.5 * ops.sum(_kl_terms(m, v), axis=1),
    "factor 1/2 is missing": lambda m, v: -ops.sum(_kl_terms(m, v), axis=1),
    "mean over the 5 latent dimensions": lambda m, v: -0.5 * ops.mean(_kl_terms(m, v), axis=1),
    "standard deviation exp(z_log_var / 2)": lambda m, v: -0.5 * ops.sum(
        1 + v - ops.square(m) - ops.exp(0.5 * v), axis=1),
    "one number for the whole batch": lambda m, v: ops.mean(kl(m, v)),
    "one number per latent dimension": lambda m, v: -0.5 * _kl_terms(m, v),
    "no gradient reaches z_mean": lambda m, v: -0.5 * np.sum(1 + np.asarray(v) - np.asarray(m) ** 2
                                                             - np.exp(np.asarray(v)), axis=1),
}


@pytest.mark.parametrize("phrase", KL_MISTAKES)
def test_each_kl_mistake_is_named(phrase):
    verdict = check_kl(KL_MISTAKES[phrase])
    assert verdict.status == WRONG and phrase in verdict.message, verdict


# ----------------------------------------------------------------------------- the reconstruction term's mistakes
RECONSTRUCTION_MISTAKES = {
    "mean over the 784 pixels": lambda x, l: ops.mean(ops.binary_crossentropy(x, l, from_logits=True), axis=PIXEL_AXES),
    "mean over the 784 pixels (keras.losses)": lambda x, l: keras.losses.binary_crossentropy(
        ops.reshape(x, (-1, 784)), ops.reshape(l, (-1, 784)), from_logits=True),
    "treats the logits as probabilities": lambda x, l: ops.sum(ops.binary_crossentropy(x, l), axis=PIXEL_AXES),
    "the log-likelihood": lambda x, l: ops.sum(x * l - ops.softplus(l), axis=PIXEL_AXES),
    "one number for the whole batch": lambda x, l: keras.losses.BinaryCrossentropy(from_logits=True)(x, l),
    "one number per pixel": lambda x, l: ops.binary_crossentropy(x, l, from_logits=True),
    "not probabilities": lambda x, l: -ops.sum(x * ops.log(l) + (1 - x) * ops.log(1 - l), axis=PIXEL_AXES),
}


@pytest.mark.parametrize("mistake", RECONSTRUCTION_MISTAKES)
def test_each_reconstruction_mistake_is_named(mistake):
    verdict = check_reconstruction(RECONSTRUCTION_MISTAKES[mistake])
    assert verdict.status == WRONG and mistake.split(" (")[0] in verdict.message, verdict


# ----------------------------------------------------------------------------- the sampling layer's mistakes
class VarianceSampling(Sampling):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        return z_mean + ops.exp(z_log_var) * self.noise(z_mean)


class UnseededSampling(Sampling):
    def noise(self, z_mean):
        return keras.random.normal(ops.shape(z_mean))


class IntegerSeedSampling(Sampling):
    def noise(self, z_mean):
        return keras.random.normal(ops.shape(z_mean), seed=3)


class UniformSampling(Sampling):
    def noise(self, z_mean):
        return keras.random.uniform(ops.shape(z_mean), seed=self.seed_generator)


class NoMeanSampling(Sampling):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        return ops.exp(0.5 * z_log_var) * self.noise(z_mean)


class OtherNoiseSampling(Sampling):
    def __init__(self, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed + 1)


class StoppedSampling(Sampling):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        return z_mean + ops.exp(0.5 * ops.stop_gradient(z_log_var)) * self.noise(z_mean)


SAMPLING_MISTAKES = {
    VarianceSampling: "the variance σ²",
    UnseededSampling: "the noise is not seeded",
    IntegerSeedSampling: "the same noise at every call",
    UniformSampling: "mean 0.50 and standard deviation 0.29",
    NoMeanSampling: "z_mean is missing",
    OtherNoiseSampling: "not what vae_tf.Sampling draws from the same seed",
    StoppedSampling: "no gradient reaches z_log_var",
}


@pytest.mark.parametrize("layer_class", SAMPLING_MISTAKES, ids=lambda c: c.__name__)
def test_each_sampling_mistake_is_named(layer_class):
    verdict = check_sampling(layer_class)
    assert verdict.status == WRONG and SAMPLING_MISTAKES[layer_class] in verdict.message, verdict


# ----------------------------------------------------------------------------- the training step's mistakes
class SummedVAE(ScratchVAE):
    def combine(self, reconstruction_loss, kl_loss):
        return ops.sum(reconstruction_loss + kl_loss)


class KLSignVAE(ScratchVAE):
    def combine(self, reconstruction_loss, kl_loss):
        return ops.mean(reconstruction_loss - kl_loss)


class UphillVAE(ScratchVAE):
    def combine(self, reconstruction_loss, kl_loss):
        return -ops.mean(reconstruction_loss + kl_loss)


class NotAppliedVAE(ScratchVAE):
    def update(self, gradients):
        pass


class NoBetaVAE(BetaVAE):
    def combine(self, reconstruction_loss, kl_loss):
        return ops.mean(reconstruction_loss + kl_loss)


class UnseededVAE(ScratchVAE):
    sampling_class = UnseededSampling


class NotAddingUpVAE(BetaVAE):
    def train_step(self, x):
        return ScratchVAE.train_step(self, x)  # logs recon + KL as the loss, without beta


class NoTrackersVAE(keras.Model):
    """Returns the step's batch means without trackers, so fit would log the last batch's, never an epoch's mean."""

    def __init__(self, encoder, decoder, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.sampling = encoder, decoder, Sampling(seed)

    def train_step(self, x):
        with tf.GradientTape() as tape:
            z_mean, z_log_var = self.encoder(x, training=True)
            reconstruction_loss = reconstruction(x, self.decoder(self.sampling([z_mean, z_log_var]), training=True))
            kl_loss = kl(z_mean, z_log_var)
            loss = ops.mean(reconstruction_loss + kl_loss)
        self.optimizer.apply(tape.gradient(loss, self.trainable_weights), self.trainable_weights)
        return {"loss": loss, "reconstruction_loss": ops.mean(reconstruction_loss), "kl_loss": ops.mean(kl_loss)}


STEP_MISTAKES = {
    SummedVAE: "summed over the batch, not averaged",
    KLSignVAE: "the KL term enters the loss with a minus sign",
    UphillVAE: "the step goes uphill",
    NotAppliedVAE: "the weights did not change",
    NoBetaVAE: "beta is missing",
    UnseededVAE: "take different steps",
    NotAddingUpVAE: "do not add up",
    NoTrackersVAE: "model.metrics lists ['loss']: keep a keras.metrics.Mean tracker per logged term",
}


@pytest.mark.parametrize("model_class", STEP_MISTAKES, ids=lambda c: c.__name__)
def test_each_train_step_mistake_is_named(model_class):
    verdict = check_train_step(model_class)
    assert verdict.status == WRONG and STEP_MISTAKES[model_class] in verdict.message, verdict


class MeanKLVAE(ScratchVAE):
    kl_term = staticmethod(KL_MISTAKES["mean over the 5 latent dimensions"])


def test_a_train_step_on_wrong_pieces_says_to_fix_them_first():
    verdicts = grade(Sampling, KL_MISTAKES["mean over the 5 latent dimensions"], reconstruction, MeanKLVAE, show=False)
    assert [v.status for v in verdicts] == [CORRECT, WRONG, CORRECT, WRONG]
    assert "fix those first" in verdicts[-1].message and "fix those first" not in verdicts[1].message


def test_a_layer_or_model_instance_instead_of_its_class_is_named():
    verdict = check_sampling(Sampling(seed=0))
    assert verdict.status == WRONG and "pass its class, Sampling" in verdict.message, verdict
    verdict = check_train_step(ScratchVAE(*fixed_networks()))
    assert verdict.status == WRONG and "pass the model class itself" in verdict.message, verdict


def test_an_error_in_a_piece_is_a_verdict_naming_it():
    verdict = check_kl(lambda m, v: ops.sum(m, axis=7))
    assert verdict.status == WRONG and "raised" in verdict.message and "<lambda>" in verdict.message, verdict


def test_grading_twice_gives_the_same_verdicts():
    pieces = (UnseededSampling, KL_MISTAKES["sign is flipped"], reconstruction, SummedVAE)
    assert grade(*pieces, show=False) == grade(*pieces, show=False)


def test_the_grader_loads_no_notebook_machinery():
    """A notebook imports the grader: it must not load nbformat, nbclient or nbconvert."""
    script = ("import json, sys, vae_tf.course.grading; "
              "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'nbformat', 'nbclient', 'nbconvert'})))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
