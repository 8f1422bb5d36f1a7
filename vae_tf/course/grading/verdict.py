"""What a check returns (:class:`Verdict`), and what every check shares: calling a student's piece,
comparing numbers with ``vae_tf``'s, naming the first known mistake that matches."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf
from keras import ops

MISSING, CORRECT, WRONG = "missing", "correct", "wrong"
SYMBOLS = {CORRECT: "✓", WRONG: "✗", MISSING: "…"}
#: Relative tolerance of a comparison: the largest difference over the largest value (float32 sums).
RTOL = 1e-5


@dataclass(frozen=True)
class Verdict:
    """One piece's grade: ``status`` is ``"missing"`` (a stub), ``"correct"`` or ``"wrong"``;
    ``message`` says what is right, or names the mistake and its fix (one or two sentences)."""

    piece: str
    status: str
    message: str

    def __str__(self) -> str:
        return f"{SYMBOLS[self.status]} {self.piece}: {self.message}"


class Finished(Exception):
    """Raised inside a check to end it with :attr:`verdict` (a stub, an error, a mistake found)."""

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.message)
        self.verdict = verdict


def wrong(piece: str, message: str) -> Finished:
    """A :class:`Finished` that ends the check of ``piece`` with a "wrong" verdict."""
    return Finished(Verdict(piece, WRONG, message))


#: Frames of these packages are not the student's: an error is reported where the student's code called them.
_LIBRARIES = ("keras", "tensorflow", "numpy", "optree", "vae_tf.course.grading")


def _raiser(error: BaseException) -> str:
    """The qualified name of the innermost function of the student's in ``error``'s traceback ("" if none)."""
    tb, name = error.__traceback__, ""
    while tb is not None:
        module, code = tb.tb_frame.f_globals.get("__name__", ""), tb.tb_frame.f_code
        if not any(module == lib or module.startswith(lib + ".") for lib in _LIBRARIES):
            name = getattr(code, "co_qualname", code.co_name)
        tb = tb.tb_next
    return name


def _first_line(error: BaseException) -> str:
    """The error's own message in one line of at most 200 characters, without what Keras and
    TensorFlow wrap around it (the layer's arguments, the device and op names)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m|\{\{.*?\}\}|\[Op:.*$", "", line).strip() for line in str(error).splitlines()]
    skip = ("Exception encountered when calling", "Arguments received", "•")
    lines = [line for line in lines if line and not line.startswith(skip)]
    return (lines[0] if lines else type(error).__name__)[:200]


def call(piece: str, stub: str, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``; raises :class:`Finished` with "missing" if it raises
    ``NotImplementedError`` or returns ``None``/``...`` (``stub``: the name the student writes),
    and with "wrong" (the error's type and message) if it raises anything else."""
    try:
        out = fn(*args, **kwargs)
    except NotImplementedError as error:
        raiser = _raiser(error)
        same = not raiser or raiser.split(".")[-1] == stub.split(".")[-1]
        where = "" if same else f": it calls {raiser}, which is not"
        raise Finished(Verdict(piece, MISSING, f"not written yet{where} (NotImplementedError)")) from None
    except Exception as error:  # a student's code can raise anything: report it, do not crash the grader
        where = _raiser(error) or stub
        raise wrong(piece, f"{stub} raised {type(error).__name__} in {where}: {_first_line(error)}") from None
    if out is None or out is Ellipsis:
        raise Finished(Verdict(piece, MISSING, f"not written yet ({stub} returns {out!r})"))
    return out


def name_of(fn) -> str:
    """The name a student gave ``fn`` (``"<lambda>"`` for a lambda)."""
    return getattr(fn, "__name__", type(fn).__name__)


def numpy(value) -> np.ndarray:
    """``value`` (a tensor, an array or a number) as a float64 NumPy array."""
    return np.asarray(ops.convert_to_numpy(value), dtype=np.float64)


def close(got, want, rtol: float = RTOL) -> bool:
    """True when ``got`` has ``want``'s shape, is finite, and differs from it by at most
    ``rtol`` times ``want``'s largest absolute value."""
    got, want = numpy(got), numpy(want)
    if got.shape != want.shape or not np.all(np.isfinite(got)):
        return False
    return bool(np.max(np.abs(got - want), initial=0.0) <= rtol * max(np.max(np.abs(want), initial=0.0), 1e-12))


def relative_error(got, want) -> float:
    """The largest ``|got - want|`` over the largest ``|want|``."""
    got, want = numpy(got), numpy(want)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-12))


def known_mistake(got, mistakes: Sequence[tuple[str, object]], rtol: float = RTOL) -> str | None:
    """The message of the first ``(message, value)`` in ``mistakes`` whose value ``got`` equals, or None."""
    return next((message for message, value in mistakes if close(got, value, rtol)), None)


def check_shape(piece: str, name: str, got: np.ndarray, want: tuple, hints: dict) -> None:
    """Raises :class:`Finished` ("wrong") unless ``got`` has shape ``want`` and finite values;
    ``hints`` maps a wrong shape to the message for it (``"scalar"`` for shape ``()``)."""
    if got.shape != want:
        hint = hints.get("scalar" if got.shape == () else got.shape, f"expected shape {want}, one number per image")
        raise wrong(piece, f"{name} returns shape {got.shape}: {hint}")
    if not np.all(np.isfinite(got)):
        hint = hints.get("nan", "check each log and division for a value that can be 0 or negative.")
        raise wrong(piece, f"{name} returns NaN or inf: {hint}")


def values_and_gradients(piece: str, stub: str, fn: Callable, inputs: tuple) -> tuple:
    """``fn(*inputs)`` as NumPy and the gradients of its sum w.r.t. each input (None where none flows).
    Raises :class:`Finished` for a stub or an error (:func:`~.verdict.call`)."""
    inputs = list(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        out = call(piece, stub, fn, *inputs)
        try:
            total = ops.sum(ops.cast(ops.convert_to_tensor(out), "float32"))
        except Exception:  # a list of tensors, a string, ...: not one tensor
            raise wrong(piece, f"{stub} returns a {type(out).__name__}, not one tensor: return the result of "
                               "keras.ops operations.") from None
    return numpy(out), tape.gradient(total, inputs)


def check_gradients(piece: str, gradients, expected, names: tuple) -> None:
    """Raises :class:`Finished` ("wrong") unless each gradient equals ``expected``'s."""
    for name, got, want in zip(names, gradients, expected):
        if got is None:
            raise wrong(piece, f"the values are right, but no gradient reaches {name}: compute with keras.ops on "
                               "the tensors you get (ops.exp, ops.sum), not NumPy or Python floats, and without "
                               "stop_gradient.")
        if not close(got, want):
            raise wrong(piece, f"the values are right, but the gradient w.r.t. {name} is off by "
                               f"{relative_error(got, want):.2g} (relative): is part of the formula a constant or "
                               "wrapped in stop_gradient?")
