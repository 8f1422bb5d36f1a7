"""Course tooling: what the notebooks import, and what keeps them, their editions and the website
in order. One module per job; this file imports nothing, so a notebook's
``from vae_tf.course.claims import stated`` loads neither nbformat nor nbclient.

What the notebooks import (no notebook machinery):

* :mod:`~vae_tf.course.claims`: ``stated``, the checks of the numbers a notebook's prose states.
* :mod:`~vae_tf.course.models`: notebook 02's trained 2-D VAE, shipped for notebook 03.
* :mod:`~vae_tf.course.checks`: the checks cells that hold those ``stated`` calls.
* :mod:`~vae_tf.course.grading`: ``grade``, which tells a student which piece of their VAE is right.

The tools behind ``python -m vae_tf.course`` (:mod:`~vae_tf.course.cli`; nbformat, and nbclient or
MkDocs where a command needs them):

* :mod:`~vae_tf.course.project`: where the repository lives (``pyproject.toml``), the course notebooks.
* :mod:`~vae_tf.course.sync`: every notebook's Colab badge and settings-and-install cell (``sync``).
* :mod:`~vae_tf.course.student`: the student edition and the answer key (``student``).
* :mod:`~vae_tf.course.execution`: stored runs, TensorFlow's start-up logs removed (``run``).
* :mod:`~vae_tf.course.website`: the static website (``site``).
* :mod:`~vae_tf.course.notebook_files`: a notebook's first cell of a kind; atomic notebook writes.

What it may import: the layers below it, :mod:`vae_tf.core`, :mod:`vae_tf.family` and
:mod:`vae_tf.tools`, never :mod:`vae_tf.app`; nothing outside the course imports it
(``tests/test_layout.py``).
"""
