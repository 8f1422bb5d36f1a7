"""vae_tf: variational autoencoders in Keras 3 (TensorFlow backend), for teaching and reuse.

Folders by role (each one's ``__init__`` says what it holds and what it may import):

* :mod:`vae_tf.core`: what a student reads: ``VAE`` (its ``train_step`` computes the ELBO),
  ``Sampling``, the losses, ``build_encoder``/``build_decoder`` and the input rules;
* :mod:`vae_tf.family`: the models built on it, one file each (conditional, auxiliary, iwae,
  autoencoders, gumbel, vqvae) and the one training step they share;
* :mod:`vae_tf.tools`: data, evaluation, the judge, plots, widgets, notebook 01's test beds;
* :mod:`vae_tf.app`: the ``vae-tf`` command line; :mod:`vae_tf.course`: the course tooling.

``import vae_tf`` imports the core and the family (so that ``keras.models.load_model`` finds
every saved model's class) and nothing else: the tools load on first use (``vae_tf.load_mnist``,
``vae_tf.plotting``). It changes no environment variable and registers nothing at exit.
"""

from .core.architectures import build_decoder, build_encoder
from .core.inputs import InputError
from .core.layers import Sampling
from .core.losses import (
    bernoulli_log_likelihood,
    continuous_bernoulli_log_likelihood,
    continuous_bernoulli_mean,
    elbo,
    gaussian_log_likelihood,
    kl_divergence,
    reconstruction_log_likelihood,
)
from .core.optimizers import ReplicaLossScaleOptimizer
from .core.vae import VAE
from .family.autoencoders import Autoencoder, corrupt
from .family.code_prior import MaskedConv2D, PixelCNNPrior, vq_bound
from .family.auxiliary import AuxiliaryClassifierVAE, build_classifier
from .family.conditional import ConditionalVAE, StyleGridHistory
from .family.gumbel import GumbelSoftmax, GumbelSoftmaxVAE, TemperatureSchedule
from .family.iwae import IWAE
from .family.vqvae import VQVAE, VectorQuantizer
from .family.warmup import KLWarmup

__version__ = "0.1.0"

#: Names loaded on first use (PEP 562): ``vae_tf.NAME`` is ``vae_tf.<module>.NAME``.
_LAZY = {
    "BINARIZATIONS": "tools.data",
    "MNISTError": "tools.data", "binarize": "tools.data", "binarize_static": "tools.data", "find_mnist": "tools.data",
    "load_mnist": "tools.data", "load_course_mnist": "tools.data", "make_dataset": "tools.data", "scale_images": "tools.data", "split_validation": "tools.data",
    "subset": "tools.data", "validate_mnist": "tools.data",
    "active_units": "tools.evaluation", "evaluate_elbo": "tools.evaluation", "iwae_bound": "tools.evaluation",
    "iwae_log_likelihood": "tools.evaluation", "latent_activity": "tools.evaluation",
    "Judge": "tools.judge", "JudgeError": "tools.judge", "load_judge": "tools.judge",
    "LinearGaussianModel": "tools.linear_gaussian",
    "class_histogram": "tools.quality", "digit_accuracy": "tools.quality", "frechet_distance": "tools.quality",
    "frechet_floor": "tools.quality",
    "quick_mode": "tools.settings",
    "EpochLog": "tools.progress",
}  # fmt: skip
#: Tools available as attributes on first use (``vae_tf.plotting`` is ``vae_tf.tools.plotting``).
_SUBMODULES = {**{name: f"tools.{name}" for name in (
    "data", "estimators", "evaluation", "judge", "latent", "linear_gaussian", "plotting", "progress", "quality",
    "settings", "widgets")}}


def __getattr__(name: str):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f".{_SUBMODULES[name]}", __name__)
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
    "EpochLog",
    "GumbelSoftmax",
    "GumbelSoftmaxVAE",
    "IWAE",
    "InputError",
    "KLWarmup",
    "Judge",
    "JudgeError",
    "LinearGaussianModel",
    "MNISTError",
    "MaskedConv2D",
    "PixelCNNPrior",
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
    "vq_bound",
]
