"""KL warm-up: the KL term's weight rising from 0 during the first epochs of training.

Bowman et al. (2016, "Generating Sentences from a Continuous Space") and Sønderby et al. (2016,
"Ladder Variational Autoencoders") start a VAE as an autoencoder and let the KL term in slowly,
the classic remedy for posterior collapse (notebook 05): the decoder learns to use the code before
the KL term pushes ``q(z|x)`` onto the prior. Epoch ``e`` (counted from 0) trains on
``reconstruction_loss + beta * min(1, e / epochs) * kl_loss``, nats per image.
"""

from __future__ import annotations

import keras

from ..core.inputs import check_count


class KLWarmup(keras.callbacks.Callback):
    """Set ``model.beta`` to ``beta * min(1, epoch / epochs)`` before each epoch (0 in the first,
    ``beta`` from epoch ``epochs`` on) and back to ``beta`` when training ends.

    The compiled training and test steps read ``beta`` when they are traced, so each change
    rebuilds them with Keras's public ``make_train_function(force=True)`` and
    ``make_test_function(force=True)`` (one retrace per warm-up epoch; with XLA a recompile).
    The logged ``loss`` is then ``reconstruction_loss + kl_weight * kl_loss`` exactly, and each
    epoch's weight is logged as ``kl_weight`` (list this callback before ``CSVLogger`` and
    checkpoint callbacks). A fit resumed with ``initial_epoch=e`` gets epoch ``e``'s weight.

    Args:
        epochs: warm-up epochs, an integer >= 1.
        beta: the weight reached; None: the model's ``beta`` when training begins.

    Raises:
        InputError: ``epochs`` is not an integer >= 1.
    """

    def __init__(self, epochs: int, beta: float | None = None):
        super().__init__()
        self.epochs = check_count(epochs, name="epochs")
        self.beta = None if beta is None else float(beta)
        self.target = self.beta

    def weight(self, epoch: int) -> float:
        """The KL weight of epoch ``epoch`` (from 0)."""
        return self.target * min(1.0, epoch / self.epochs)

    def on_train_begin(self, logs=None) -> None:
        self.target = float(self.model.beta) if self.beta is None else self.beta

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        weight = self.weight(epoch)
        if weight != self.model.beta:
            self.model.beta = weight
            self.model.make_train_function(force=True)
            self.model.make_test_function(force=True)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if logs is not None:
            logs["kl_weight"] = float(self.model.beta)

    def on_train_end(self, logs=None) -> None:
        if self.model.beta != self.target:
            self.model.beta = self.target
            self.model.make_train_function(force=True)
            self.model.make_test_function(force=True)
