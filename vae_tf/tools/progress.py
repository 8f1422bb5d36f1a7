"""Short training logs for notebooks: one line every few epochs instead of one (or a progress bar) per epoch."""

from __future__ import annotations

import time
from collections.abc import Sequence

import keras


class EpochLog(keras.callbacks.Callback):
    """Prints one line after epoch 1, every ``every``-th epoch and the last one: the epoch, the
    seconds since training began, and the logs named in ``keys`` (default: every log), e.g.
    ``"  epoch 5/15 (12 s): loss 161.2, val_loss 158.9"``. Use it with ``fit(..., verbose=0)``;
    a 15-epoch training then prints 4 lines.

    Args:
        every: print every ``every``-th epoch (an int >= 1).
        keys: the logs to show, in this order; names missing from an epoch's logs are skipped.
        label: printed before the epoch (e.g. the model's name).

    Raises ``ValueError`` for ``every < 1``.
    """

    def __init__(self, every: int = 5, keys: Sequence[str] | None = None, label: str = ""):
        super().__init__()
        if int(every) != every or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}.")
        self.every, self.keys, self.label = int(every), None if keys is None else tuple(keys), label

    def on_train_begin(self, logs=None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        total = self.params.get("epochs") or epoch + 1
        if not (epoch == 0 or (epoch + 1) % self.every == 0 or epoch + 1 == total):
            return
        logs = logs or {}
        names = [k for k in (self.keys or logs) if k in logs]
        values = ", ".join(f"{k} {float(logs[k]):.4g}" for k in names)
        label = f"{self.label} " if self.label else ""
        print(f"  {label}epoch {epoch + 1}/{total} ({time.perf_counter() - self.start:.0f} s): {values}")
