"""vae_tf: variational autoencoders in Keras 3 (TensorFlow backend), for teaching and reuse.

Importing ``vae_tf`` registers its layers and models with Keras, so that
``keras.models.load_model("model.keras")`` can rebuild them.
"""

import os as _os
import sys as _sys


def _run_as_command() -> bool:
    """True while ``python -m vae_tf`` (argv[0] is "-m" while Python locates the module) or the
    ``vae-tf`` console script imports the package."""
    return _os.path.basename(_sys.argv[0] if _sys.argv else "") in ("-m", "vae-tf")


try:  # importing TensorFlow takes seconds: a Ctrl-C then is the command's, not a bug
    from . import distribute, estimators, latent, plotting
    from .architectures import build_decoder, build_encoder
    from .autoencoders import Autoencoder, corrupt
    from .conditional import AuxiliaryClassifierVAE, ConditionalVAE, StyleGridHistory, build_classifier
    from .data import (
        BINARIZATIONS,
        MNISTError,
        binarize,
        binarize_static,
        find_mnist,
        load_mnist,
        make_dataset,
        scale_images,
        split_validation,
        subset,
        validate_mnist,
    )
    from .evaluation import active_units, evaluate_elbo, iwae_bound, iwae_log_likelihood, latent_activity
    from .inputs import InputError
    from .iwae import IWAE
    from .judge import Judge, JudgeError, load_judge
    from .layers import Sampling
    from .linear_gaussian import LinearGaussianModel
    from .losses import (
        bernoulli_log_likelihood,
        continuous_bernoulli_log_likelihood,
        continuous_bernoulli_mean,
        elbo,
        gaussian_log_likelihood,
        kl_divergence,
        reconstruction_log_likelihood,
    )
    from .models import VAE
    from .quality import class_histogram, digit_accuracy, frechet_distance, frechet_floor
    from .settings import quick_mode
    from .training import ReplicaLossScaleOptimizer  # registered for load_model of mixed-precision runs
except KeyboardInterrupt:
    if not _run_as_command():
        raise
    print("vae-tf: interrupted during start-up; nothing was written.", file=_sys.stderr, flush=True)
    _os._exit(130)  # not SystemExit: the interrupt may have set CPython's re-kill flag (see __main__)

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
