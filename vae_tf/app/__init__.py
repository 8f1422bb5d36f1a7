"""The application wing: the ``vae-tf`` command line and what its runs need.

``cli`` (options, exit codes) -> ``run`` (the run pipeline) -> ``training`` (build, compile, fit
with Keras callbacks, checkpoints and resume) with ``config`` (the frozen run settings),
``outdir`` (the locked output directory), ``files`` (atomic writes), ``reporting`` (metrics and
figures of a run), ``trained``/``scoring``/``sampling_cmd`` (``evaluate`` and ``sample``) and
``distribute`` (``tf.distribute`` strategies, chief-only writes).

The model code (:mod:`vae_tf.core.vae` and its family) never imports this package.
"""
