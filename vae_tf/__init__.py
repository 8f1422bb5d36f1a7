"""vae_tf: variational autoencoders in Keras 3 (TensorFlow backend), for teaching and reuse.

The core, what a student reads: :mod:`vae_tf.vae` (``VAE``, its ``train_step`` computes the
ELBO), :mod:`vae_tf.layers` (``Sampling``), :mod:`vae_tf.losses` and
:mod:`vae_tf.architectures` (``build_encoder``/``build_decoder``). The family, one file each:
:mod:`~vae_tf.conditional`, :mod:`~vae_tf.auxiliary`, :mod:`~vae_tf.iwae`,
:mod:`~vae_tf.autoencoders`, and the discrete latents :mod:`~vae_tf.gumbel` and :mod:`~vae_tf.vqvae`. ``import vae_tf`` imports these (so that
``keras.models.load_model`` finds every saved model's class) and nothing else: the data,
evaluation and plotting tools load on first use (``vae_tf.load_mnist``, ``vae_tf.plotting``);
the command line is :mod:`vae_tf.app`, the course tooling :mod:`vae_tf.course`. It changes no
environment variable and registers nothing at exit.
"""

from .architectures import build_decoder, build_encoder
from .autoencoders import Autoencoder, corrupt
from .auxiliary import AuxiliaryClassifierVAE, build_classifier
from .conditional import ConditionalVAE, StyleGridHistory
from .gumbel import GumbelSoftmax, GumbelSoftmaxVAE, TemperatureSchedule
from .inputs import InputError
from .iwae import IWAE
from .layers import Sampling
from .losses import (
    bernoulli_log_likelihood,
    continuous_bernoulli_log_likelihood,
    continuous_bernoulli_mean,
    elbo,
    gaussian_log_likelihood,
    kl_divergence,
    reconstruction_log_likelihood,
)
from .replicas import ReplicaLossScaleOptimizer
from .vae import VAE
from .vqvae import VQVAE, VectorQuantizer

__version__ = "0.1.0"

#: Names loaded on first use (PEP 562): ``vae_tf.NAME`` is ``vae_tf.<module>.NAME``.
_LAZY = {
    "BINARIZATIONS": "choices",
    "MNISTError": "data", "binarize": "data", "binarize_static": "data", "find_mnist": "data",
    "load_mnist": "data", "load_course_mnist": "data", "make_dataset": "data", "scale_images": "data", "split_validation": "data",
    "subset": "data", "validate_mnist": "data",
    "active_units": "evaluation", "evaluate_elbo": "evaluation", "iwae_bound": "evaluation",
    "iwae_log_likelihood": "evaluation", "latent_activity": "evaluation",
    "Judge": "judge", "JudgeError": "judge", "load_judge": "judge",
    "LinearGaussianModel": "linear_gaussian",
    "class_histogram": "quality", "digit_accuracy": "quality", "frechet_distance": "quality",
    "frechet_floor": "quality",
    "quick_mode": "settings",
}  # fmt: skip
#: Submodules available as attributes on first use (``vae_tf.plotting``, ...).
_SUBMODULES = ("choices", "data", "estimators", "evaluation", "judge", "latent", "linear_gaussian", "plotting",
               "quality", "settings", "widgets")


def __getattr__(name: str):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Autoencoder",
    "AuxiliaryClassifierVAE",
    "BINARIZATIONS",
    "ConditionalVAE",
    "GumbelSoftmax",
    "GumbelSoftmaxVAE",
    "IWAE",
    "InputError",
    "Judge",
    "JudgeError",
    "LinearGaussianModel",
    "MNISTError",
    "ReplicaLossScaleOptimizer",
    "Sampling",
    "StyleGridHistory",
    "TemperatureSchedule",
    "VAE",
    "VQVAE",
    "VectorQuantizer",
    "active_units",
    "bernoulli_log_likelihood",
    "binarize",
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
    "load_course_mnist",
    "make_dataset",
    "quick_mode",
    "reconstruction_log_likelihood",
    "scale_images",
    "split_validation",
    "subset",
    "validate_mnist",
]
