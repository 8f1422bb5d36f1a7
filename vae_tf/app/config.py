"""The run configuration of ``vae-tf train``: one frozen dataclass that knows its defaults, its
``--quick`` variant, what may not change on ``--resume``, and how to check itself.

Each field's rule (type, allowed values, the words of the error) is in its ``metadata``; the
command line's option parsers and :meth:`RunConfig.from_dict` (a checkpoint's ``state.json``)
both use it, so a value is judged the same way wherever it comes from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ..core.architectures import ARCHITECTURES
from ..core.losses import LIKELIHOODS
from ..tools.data import BINARIZATIONS
from .training import LR_SCHEDULES


class ConfigError(ValueError):
    """A configuration value of the wrong type or out of range; the message says which."""


def _rule(kind: type, ok: Callable[[Any], bool], what: str, *, optional: bool = False, choices=None) -> dict:
    return {"kind": kind, "ok": ok, "what": what, "optional": optional, "choices": choices}


def _field(default, **rule):
    return dataclasses.field(default=default, metadata=_rule(**rule))


_any = lambda v: True  # noqa: E731


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Settings of one training run (the defaults train the 2-D-latent MLP VAE for 30 epochs).

    ``train_size``/``test_size`` of ``None`` mean all images. Build one with :meth:`defaults`,
    :meth:`from_options` (command-line values) or :meth:`from_dict` (a checkpoint); every
    constructor ends with :meth:`validate`, which raises :class:`ConfigError`.
    """

    arch: str = _field("mlp", kind=str, ok=_any, what=f"one of {ARCHITECTURES}", choices=ARCHITECTURES)
    latent_dim: int = _field(2, kind=int, ok=lambda v: v >= 1, what="an integer >= 1")
    epochs: int = _field(30, kind=int, ok=lambda v: v >= 1, what="an integer >= 1")
    batch_size: int = _field(128, kind=int, ok=lambda v: v >= 1, what="an integer >= 1")
    learning_rate: float = _field(1e-3, kind=float, ok=lambda v: v > 0, what="a number > 0")
    beta: float = _field(1.0, kind=float, ok=lambda v: v >= 0, what="a number >= 0")
    kl_warmup: int = _field(0, kind=int, ok=lambda v: v >= 0, what="an integer >= 0")
    early_stopping: int = _field(0, kind=int, ok=lambda v: v >= 0, what="an integer >= 0")
    lr_schedule: str = _field("constant", kind=str, ok=_any, what=f"one of {LR_SCHEDULES}", choices=LR_SCHEDULES)
    likelihood: str = _field("bernoulli", kind=str, ok=_any, what=f"one of {LIKELIHOODS}", choices=LIKELIHOODS)
    sigma: float = _field(0.1, kind=float, ok=lambda v: v > 0, what="a number > 0")
    binarization: str | None = _field(None, kind=str, ok=_any, what=f"one of {BINARIZATIONS}", optional=True,
                                      choices=BINARIZATIONS)
    conditional: bool = _field(False, kind=bool, ok=_any, what="true or false")
    seed: int = _field(0, kind=int, ok=lambda v: v >= 0, what="an integer >= 0")
    train_size: int | None = _field(None, kind=int, ok=lambda v: v >= 2, what="an integer >= 2", optional=True)
    test_size: int | None = _field(None, kind=int, ok=lambda v: v >= 1, what="an integer >= 1", optional=True)
    val_fraction: float = _field(0.1, kind=float, ok=lambda v: 0 < v < 1, what="a number in (0, 1)")
    mixed_precision: bool = _field(False, kind=bool, ok=_any, what="true or false")
    quick: bool = _field(False, kind=bool, ok=_any, what="true or false")

    #: What ``quick=True`` changes (a small fast run); explicit options override it.
    QUICK: ClassVar[Mapping[str, Any]] = {"epochs": 2, "train_size": 2000, "test_size": 1000}
    #: The only settings a resumed run may change (a larger ``epochs`` trains a run further).
    MAY_CHANGE_ON_RESUME: ClassVar[tuple[str, ...]] = ("epochs",)
    #: Fields added after checkpoints were first written, and the value older checkpoints imply.
    ADDED_LATER: ClassVar[Mapping[str, Any]] = {"mixed_precision": False, "binarization": None, "kl_warmup": 0,
                                                "early_stopping": 0, "lr_schedule": "constant"}

    # ------------------------------------------------------------------ constructors
    @classmethod
    def names(cls) -> tuple[str, ...]:
        """All field names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def fixed_on_resume(cls) -> tuple[str, ...]:
        """Fields a ``--resume`` takes from the checkpoint; giving another value is an error."""
        return tuple(n for n in cls.names() if n not in cls.MAY_CHANGE_ON_RESUME)

    @classmethod
    def defaults(cls, quick: bool = False) -> RunConfig:
        """The full-run defaults, or the ``--quick`` ones."""
        return cls(**cls.QUICK, quick=True) if quick else cls()

    @classmethod
    def from_options(cls, options: Mapping[str, Any], quick: bool = False) -> RunConfig:
        """:meth:`defaults` (``quick`` or not) updated with ``options`` (explicitly given values)."""
        return dataclasses.replace(cls.defaults(quick), **options).validate()

    @classmethod
    def from_dict(cls, data: Any) -> RunConfig:
        """A config saved by :meth:`to_dict`. Raises :class:`ConfigError` for a non-dict, missing
        or unknown keys, and values of the wrong type or range."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"the run config must be a JSON object, got {type(data).__name__}.")
        data = {**cls.ADDED_LATER, **data}
        missing = [n for n in cls.names() if n not in data]
        unknown = sorted(set(data) - set(cls.names()))
        if missing or unknown:
            raise ConfigError(f"the run config lacks {missing} / has unknown keys {unknown}.")
        return cls(**data).validate()

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    # ------------------------------------------------------------------ checks
    def validate(self) -> RunConfig:
        """Return ``self`` if every field passes its rule; else raise :class:`ConfigError`."""
        for f in dataclasses.fields(self):
            check_value(f.name, getattr(self, f.name))
        return self

    def resumed_with(self, options: Mapping[str, Any]) -> RunConfig:
        """This (checkpointed) config continued with the explicitly given ``options``: values of
        :meth:`fixed_on_resume` fields must equal the saved ones, and ``epochs`` too under a
        learning-rate schedule (it decays over the run's epochs); else :class:`ConfigError`."""
        diffs = [
            f"--{k.replace('_', '-')} {v!r} (checkpoint: {getattr(self, k)!r})"
            for k, v in options.items()
            if k in self.fixed_on_resume() and v != getattr(self, k)
        ]
        if self.lr_schedule != "constant" and options.get("epochs", self.epochs) != self.epochs:
            diffs.append(f"--epochs {options['epochs']!r} (checkpoint: {self.epochs!r}; the {self.lr_schedule} "
                         "learning-rate schedule decays over the run's epochs)")
        if diffs:
            raise ConfigError(
                "--resume continues the checkpointed run, which has other settings: " + "; ".join(diffs)
                + ". Drop those flags to resume it, or start a new run in another --out."
            )
        return dataclasses.replace(self, **{k: options[k] for k in self.MAY_CHANGE_ON_RESUME if k in options})


def rule(name: str) -> Mapping[str, Any]:
    """The rule of field ``name``: ``kind``, ``ok``, ``what``, ``optional``, ``choices``."""
    return next(f.metadata for f in dataclasses.fields(RunConfig) if f.name == name)


def check_value(name: str, value: Any) -> Any:
    """Return ``value`` if it is a valid ``name``; else raise :class:`ConfigError` saying what
    was expected (``True`` is not an integer; integers are accepted as floats)."""
    r = rule(name)
    if value is None and r["optional"]:
        return value
    kind = r["kind"]
    good_type = isinstance(value, bool) if kind is bool else (
        not isinstance(value, bool) and isinstance(value, (int, float) if kind is float else kind)
    )
    good = good_type and (kind is not float or math.isfinite(value)) and r["ok"](value)
    if not good or (r["choices"] is not None and value not in r["choices"]):
        raise ConfigError(f"{name} must be {r['what']}, got {value!r}.")
    return value
