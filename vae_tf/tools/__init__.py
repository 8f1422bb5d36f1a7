"""Tools around the models: data, evaluation, the judge, figures, widgets.

``data.py`` (MNIST, binarization, ``make_dataset``), ``evaluation.py`` (IWAE NLL, the ELBO,
active units), ``judge.py`` and ``quality.py`` (an independent digit classifier; Fréchet
distance), ``latent.py``, ``plotting.py``, ``progress.py`` (short training logs), ``widgets.py``, notebook 01's test beds
(``linear_gaussian.py``, ``estimators.py``), ``files.py`` (atomic writes) and ``settings.py``.

May import: the core, the family and the tools (``tests/test_layout.py``). This file imports nothing.
"""
