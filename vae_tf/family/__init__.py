"""The family: models built on the core, one file each, each with its loss written once.

``conditional.py`` (``ConditionalVAE``), ``auxiliary.py`` (``AuxiliaryClassifierVAE``),
``iwae.py`` (``IWAE``), ``autoencoders.py`` (``Autoencoder``), ``gumbel.py``
(``GumbelSoftmaxVAE``) and ``vqvae.py`` (``VQVAE``); ``step.py`` holds the one training step
they share and ``bounds.py`` the importance-weighted bound their objectives and the evaluators use.

May import: the core and the family (``tests/test_layout.py``). This file imports nothing.
"""
