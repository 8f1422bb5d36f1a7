"""The core: what a student reads to understand a VAE.

``vae.py`` (``VAE``: its ``train_step`` computes the ELBO inline), ``layers.py`` (``Sampling``),
``losses.py`` (the ELBO's terms, per example in nats), ``architectures.py``
(``build_encoder``/``build_decoder``), and what they check with: ``inputs.py`` (the pixel rule,
``InputError``), ``networks.py`` (do the encoder and decoder fit a model), ``replicas.py`` (the
``tf.distribute`` workarounds, each upstream issue named); beside them, for the family and the
tools, ``arrays.py`` (labels, image batches) and ``optimizers.py`` (a replica-aware loss scaler).

May import: Keras, TensorFlow, NumPy and ``vae_tf.core`` only (``tests/test_layout.py``).
This file imports nothing, so that reading one core module loads only what it needs.
"""
