"""Numbers a notebook's prose states, checked against the notebook's own run.

A markdown cell that says "a held-out negative ELBO of 105.3 nats" is followed (in a code cell,
after the value exists) by::

    stated("105.3", test_neg_elbo)

which prints one line: ``stated ✓ "105.3" (this run: 105.27, tolerance ±0.05)`` when the run
agrees, or ``stated ✗ ...`` with both numbers when it does not. It never raises: a learner's
run on other hardware differs in the last digits and the notebook must still run. The guarantee
is on the *stored* notebook instead: ``tests/test_notebook_claims.py`` finds every number in
every markdown cell (:func:`numbers_in_markdown`) and fails unless the stored outputs hold a
``stated ✓`` line for it, from a full (not quick) run, or the cell lists it as given:
``<!-- given: 0.5; 1,000 -->`` (an HTML comment, invisible when rendered) for numbers that are
settings, constants or literature values rather than results of the run.

In quick mode (:func:`vae_tf.quick_mode`) the run is too short to reproduce the prose, and with
all training images (``$VAE_TF_ALL_TRAINING_IMAGES``, the first cell's ``ALL_TRAINING_IMAGES``) it
trains on other data, so the line says so and shows this run's value without a verdict. A value
within 2 % of the prose that misses its tolerance is reported as ``stated ≈`` (what another CPU,
a GPU or other library versions give), not as ``stated ✗``.
"""

from __future__ import annotations

import math
import re

__all__ = ["STATED_CLOSE", "STATED_OK", "STATED_MISMATCH", "given_numbers", "numbers_in_markdown", "stated", "tolerance_of"]

STATED_OK = "stated ✓"
STATED_MISMATCH = "stated ✗"
STATED_CLOSE = "stated ≈"
#: How far (relative) a value may miss its tolerance and still read as round-off of another machine.
CLOSE_FRACTION = 0.02

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
#: What counts as a stated number in prose: decimals, thousands with commas, percentages,
#: numbers with a unit of loss/time/ratio, and counts "N of M".
_TOKEN = re.compile(
    r"(?<![\w.,])(?:"
    r"\d+ (?:of|out of) \d+"
    r"|(?:" + _NUMBER + r") ?%"
    r"|(?:" + _NUMBER + r") ?(?:nats?|s|seconds?|ms|min|minutes?|h|hours?|x|×)(?![\w])(?! ?\d)"
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?"
    r"|\d+\.\d+"
    r")"
)
#: A range the prose states ("5 to 10 minutes", "30-50 s"): :func:`stated` checks the value is inside.
_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:-|–|to)\s*(\d+(?:\.\d+)?)")
_GIVEN = re.compile(r"<!--\s*given:(.*?)-->", re.S)
_IGNORED = [
    re.compile(r"<!--.*?-->", re.S),  # HTML comments (the given lists)
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"https?://\S+"),  # bare URLs
    re.compile(r"```.*?```", re.S),  # code blocks
    re.compile(r"`[^`\n]*`"),  # inline code: identifiers and settings, not results
]


def normalize(token: str) -> str:
    """A number token as written, with internal whitespace removed (``"97.5 %"`` -> ``"97.5%"``)."""
    return re.sub(r"\s+", "", token)


def numbers_in_markdown(text: str) -> list[str]:
    """The stated-number tokens of a markdown cell, normalised, in order (see :data:`_TOKEN`);
    HTML comments, link targets, URLs and code are left out."""
    for pattern in _IGNORED:
        text = pattern.sub(" ", text)
    return [normalize(m.group(0)) for m in _TOKEN.finditer(text)]


def given_numbers(text: str) -> set[str]:
    """The tokens a cell declares as given (``<!-- given: a; b -->``), normalised."""
    return {normalize(t) for block in _GIVEN.findall(text) for t in block.split(";") if t.strip()}


def _value(text: str) -> float:
    match = re.search(_NUMBER, text)
    if match is None:
        raise ValueError(f"stated: {text!r} holds no number; pass the number as the prose writes it, e.g. '105.3'.")
    return float(match.group(0).replace(",", ""))


def tolerance_of(text: str) -> float:
    """Half a unit in the last digit that ``text`` writes: ``"105.3"`` -> 0.05, ``"24,345"`` -> 0.5."""
    number = re.search(_NUMBER, text).group(0).replace(",", "")
    decimals = len(number.split(".")[1]) if "." in number else 0
    return 0.5 * 10.0**-decimals


def stated(text: str, measured: float, *, tol: float | None = None) -> None:
    """Check a number the prose states against the value this run measured, and print the verdict.

    Args:
        text: the number exactly as a markdown cell writes it (``"105.3"``, ``"97.5 %"``,
            ``"24,345"``, ``"71 s"``, ``"7 of 10"`` compares the first number; a range such as
            ``"5 to 10 minutes"`` or ``"30-50 s"`` agrees when the value lies inside it).
        measured: this run's value, in the unit the text uses (percent for ``"%"``, seconds
            for ``"s"``).
        tol: the largest difference that still agrees; default :func:`tolerance_of` (the
            measurement rounds to the text). Give a wider one for "about" numbers; state
            runtimes as ranges. Ignored for a range.

    Returns ``None``, so that a call ending a cell leaves no ``Out[]`` value in the lesson.

    Raises:
        ValueError: ``text`` holds no number, or ``measured`` is not a finite number.
    """
    from ..tools.settings import env_flag, quick_mode

    value, measured = _value(text), float(measured)
    if not math.isfinite(measured):
        raise ValueError(f"stated({text!r}): the measured value is {measured}, not a finite number.")
    span = _RANGE.search(text)
    if span is not None:  # "5 to 10 minutes": the range itself is the claim
        low, high = float(span.group(1)), float(span.group(2))
        value, tol = (low + high) / 2, (high - low) / 2
    tol = tolerance_of(text) if tol is None else float(tol)
    shown, text = f"{measured:.6g}", " ".join(text.split())
    if quick_mode():
        print(f'stated (quick mode, not compared) "{text}": this run {shown}; the prose describes the full run')
    elif env_flag("VAE_TF_ALL_TRAINING_IMAGES"):
        print(f'stated (all training images, not compared) "{text}": this run {shown}; the prose describes '
              "the course's 24,345")
    elif abs(measured - value) <= tol + 1e-12 * max(1.0, abs(value)):
        print(f'{STATED_OK} "{text}" (this run: {shown}, tolerance ±{tol:g})')
    elif abs(measured - value) <= tol + CLOSE_FRACTION * abs(value):
        print(f'{STATED_CLOSE} "{text}": this run measured {shown}, within {CLOSE_FRACTION:.0%} (the tolerance of '
              f"±{tol:g} holds on the stored run's machine; another CPU, a GPU or other library versions round differently)")
    else:
        print(
            f'{STATED_MISMATCH} "{text}": this run measured {shown} (tolerance ±{tol:g}). The prose '
            "describes the stored run on 2 CPU cores; other hardware and library versions differ slightly."
        )
