"""The named choices of the package and of ``vae-tf``'s options, as plain tuples.

This module imports nothing, so the command line can build its parser (``--help``, and the one-line
error of a bad option) without starting TensorFlow. The modules that implement each choice
re-export its tuple (``vae_tf.core.architectures.ARCHITECTURES`` is this ``ARCHITECTURES``).
"""

#: Encoder/decoder families of :func:`vae_tf.build_encoder` / :func:`vae_tf.build_decoder`.
ARCHITECTURES = ("mlp", "conv")

#: Likelihoods ``p(x|z)`` of :func:`vae_tf.reconstruction_log_likelihood`.
LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli")

#: The binarization schemes of MNIST, one name each (as in the literature):
#: ``"threshold"`` pixel > 0.5 becomes 1 (deterministic); ``"static"`` each pixel 1 with
#: probability its grey level, drawn ONCE and kept (Larochelle & Murray's static MNIST);
#: ``"dynamic"`` such a draw made afresh every epoch (training only; Burda et al. 2016).
BINARIZATIONS = ("threshold", "static", "dynamic")

#: Names accepted by :func:`vae_tf.app.distribute.strategy_from_name` (the CLI's ``--distribute``).
STRATEGY_NAMES = ("none", "mirrored", "multi-worker")
