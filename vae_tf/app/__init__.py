"""The application wing: the ``vae-tf`` command line and what its runs need.

``cli`` (options, exit codes) -> ``run`` (the run pipeline) -> ``training`` (build, compile, fit
on Keras's callbacks: checkpoints and resume, history.csv, NaN stop, TensorBoard; signals) with
``config`` (the frozen run settings), ``outdir`` (the output directory, locked through
``filelock``), ``reporting`` (metrics and figures of a run), ``trained``/``scoring``/``sampling_cmd``
(``evaluate`` and ``sample``) and ``distribute`` (``tf.distribute`` strategies, chief-only writes).
Atomic writes are :mod:`vae_tf.tools.files`.

The model code (:mod:`vae_tf.core.vae` and its family) never imports this package.
"""
