"""vae_tf: variational autoencoders in Keras 3 (TensorFlow backend), for teaching and reuse.

Importing ``vae_tf`` registers its layers and models with Keras, so that
``keras.models.load_model("model.keras")`` can rebuild them (the ``vae-tf`` command imports
each module when it needs it, so that ``--help`` and bad options answer without TensorFlow;
:func:`load_all` registers everything). With ``VAE_TF_XLA_CACHE=1`` it also keeps XLA's compiled
programs on disk for later processes (:mod:`vae_tf.xla_cache`).
"""

import os as _os
import sys as _sys


def _run_as_command() -> bool:
    """True while ``python -m vae_tf`` (argv[0] is "-m" while Python locates the module) or the
    ``vae-tf`` console script imports the package."""
    return _os.path.basename(_sys.argv[0] if _sys.argv else "") in ("-m", "vae-tf")


from . import xla_cache as _xla_cache

_xla_cache.enable()  # before TensorFlow starts (a no-op unless VAE_TF_XLA_CACHE=1)

#: Where each public name lives: ``vae_tf.NAME`` is ``vae_tf.<module>.NAME``.
_EXPORTS = {
    "build_decoder": "architectures", "build_encoder": "architectures",
    "Autoencoder": "autoencoders", "corrupt": "autoencoders",
    "BINARIZATIONS": "choices",
    "AuxiliaryClassifierVAE": "conditional", "ConditionalVAE": "conditional", "StyleGridHistory": "conditional",
    "build_classifier": "conditional",
    "MNISTError": "data", "binarize": "data", "binarize_static": "data", "find_mnist": "data",
    "load_mnist": "data", "make_dataset": "data", "scale_images": "data", "split_validation": "data",
    "subset": "data", "validate_mnist": "data",
    "active_units": "evaluation", "evaluate_elbo": "evaluation", "iwae_bound": "evaluation",
    "iwae_log_likelihood": "evaluation", "latent_activity": "evaluation",
    "InputError": "inputs",
    "IWAE": "iwae",
    "Judge": "judge", "JudgeError": "judge", "load_judge": "judge",
    "Sampling": "layers",
    "LinearGaussianModel": "linear_gaussian",
    "bernoulli_log_likelihood": "losses", "continuous_bernoulli_log_likelihood": "losses",
    "continuous_bernoulli_mean": "losses", "elbo": "losses", "gaussian_log_likelihood": "losses",
    "kl_divergence": "losses", "reconstruction_log_likelihood": "losses",
    "VAE": "models",
    "class_histogram": "quality", "digit_accuracy": "quality", "frechet_distance": "quality",
    "frechet_floor": "quality",
    "quick_mode": "settings",
    "ReplicaLossScaleOptimizer": "training",  # registered for load_model of mixed-precision runs
}
#: Submodules that ``import vae_tf`` makes available as attributes (``vae_tf.plotting``, ...).
_SUBMODULES = ("distribute", "estimators", "latent", "plotting")


def __getattr__(name: str):
    """Import a public name's module on first use (PEP 562)."""
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def load_all() -> None:
    """Import every module of the package, so that each of its layers and models is registered
    with Keras (``keras.models.load_model`` can then rebuild them). ``import vae_tf`` does this,
    except in the ``vae-tf`` command, which imports TensorFlow only when a command needs it."""
    for name in (*_SUBMODULES, *_EXPORTS):
        __getattr__(name)


if not _run_as_command():
    load_all()

__version__ = "0.1.0"

__all__ = [
    "Autoencoder",
    "AuxiliaryClassifierVAE",
    "ConditionalVAE",
    "IWAE",
    "InputError",
    "Judge",
    "JudgeError",
    "LinearGaussianModel",
    "MNISTError",
    "ReplicaLossScaleOptimizer",
    "Sampling",
    "StyleGridHistory",
    "VAE",
    "active_units",
    "bernoulli_log_likelihood",
    "binarize",
    "BINARIZATIONS",
    "binarize_static",
    "build_classifier",
    "build_decoder",
    "build_encoder",
    "class_histogram",
    "continuous_bernoulli_log_likelihood",
    "continuous_bernoulli_mean",
    "corrupt",
    "digit_accuracy",
    "elbo",
    "evaluate_elbo",
    "find_mnist",
    "frechet_distance",
    "frechet_floor",
    "gaussian_log_likelihood",
    "iwae_bound",
    "iwae_log_likelihood",
    "kl_divergence",
    "latent_activity",
    "load_judge",
    "load_mnist",
    "make_dataset",
    "quick_mode",
    "reconstruction_log_likelihood",
    "scale_images",
    "split_validation",
    "subset",
    "validate_mnist",
]
