"""The family: models built on the core, one file each, each with its loss written once.

``conditional.py`` (``ConditionalVAE``), ``auxiliary.py`` (``AuxiliaryClassifierVAE``),
``iwae.py`` (``IWAE``), ``autoencoders.py`` (``Autoencoder``), ``gumbel.py``
(``GumbelSoftmaxVAE``) and ``vqvae.py`` (``VQVAE``); ``step.py`` holds the one training step
they share, ``bounds.py`` the importance-weighted bound their objectives and the evaluators use,
``code_prior.py`` a learned prior over a VQ-VAE's codes and ``warmup.py`` the KL warm-up callback.

May import: the core and the family (``tests/test_layout.py``). This file imports nothing.
"""
