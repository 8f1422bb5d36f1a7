"""Numbers a notebook's prose states, checked against the notebook's own run.

A markdown cell that says "a held-out negative ELBO of 105.3 nats" is followed (in a hidden
checks cell, after the value exists) by::

    stated("105.3", test_neg_elbo)

A number that agrees prints nothing: the checks stay out of the reading flow (issue 34). The
tolerance is the sentence's own precision, half a unit of its last written digit (``"105.3"``:
±0.05), or the range it states (``"30 to 50 s"``). A disagreement prints one line where it
happens (``stated ✗ ...``, both numbers). The notebook's last cell calls :func:`stated_summary`,
which shows one line, "N numbers stated in the text, all match this run" or the ones that do not,
and stores every verdict in that output under :data:`RECORDS_MIME` (JSON Jupyter does not show).
``stated`` never raises on a mismatch: a learner's run on other hardware differs in the last
digits and the notebook must still run. The guarantee is on the *stored* notebook instead:
``tests/test_notebook_claims.py`` finds every number in every markdown cell
(:func:`numbers_in_markdown`) and fails unless the stored summary holds an agreeing verdict for
it from a full (not quick) run, or the cell lists it as given: ``<!-- given: 0.5; 1,000 -->`` (an
HTML comment, invisible when rendered) for numbers that are settings, constants or literature
values rather than results of the run.

In quick mode (:func:`vae_tf.quick_mode`) the run is too short to reproduce the prose, and with
all training images (``$VAE_TF_ALL_TRAINING_IMAGES``, the first cell's ``ALL_TRAINING_IMAGES``) it
trains on other data: nothing is compared and the summary says so. A value that misses the
sentence's precision by less than 2 % is counted as "close" (what another CPU, a GPU or other
library versions give) in the summary, not printed as a mismatch.
"""

from __future__ import annotations

import inspect
import math
import re

__all__ = ["RECORDS_MIME", "STATED_CLOSE", "STATED_OK", "STATED_MISMATCH", "given_numbers", "numbers_in_markdown",
           "stated", "stated_records", "stated_summary", "tolerance_of"]

STATED_OK = "stated ✓"
STATED_MISMATCH = "stated ✗"
STATED_CLOSE = "stated ≈"
#: How far (relative) a value may miss its tolerance and still read as round-off of another machine.
CLOSE_FRACTION = 0.02
#: The mimetype under which :func:`stated_summary` stores every verdict of the run (JSON).
RECORDS_MIME = "application/vnd.vae-tf.stated+json"
#: The verdicts of this kernel's ``stated`` calls, keyed by call site and text (a re-run cell replaces its own).
_RECORDS: dict[tuple, dict] = {}

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


def _verdict(text: str, measured: float, tol: float | None) -> dict:
    """The record of one check: the text, this run's value, the tolerance and the verdict
    (``"ok"``, ``"close"``, ``"mismatch"`` or ``"not compared"`` with the reason)."""
    from ..tools.settings import env_flag, quick_mode

    value = _value(text)
    span = _RANGE.search(text)
    if span is not None:  # "5 to 10 minutes": the range itself is the claim
        low, high = float(span.group(1)), float(span.group(2))
        value, precision = (low + high) / 2, (high - low) / 2
    else:
        precision = tolerance_of(text)
    # The sentence's precision is the tolerance; ``tol`` may only narrow it.
    tol = precision if tol is None else min(float(tol), precision)
    record = {"text": text, "measured": float(f"{measured:.6g}"), "tolerance": tol}
    if quick_mode():
        return {**record, "verdict": "not compared", "why": "quick mode"}
    if env_flag("VAE_TF_ALL_TRAINING_IMAGES"):
        return {**record, "verdict": "not compared", "why": "all training images"}
    miss = abs(measured - value)
    if miss <= tol + 1e-12 * max(1.0, abs(value)):
        return {**record, "verdict": "ok"}
    if miss <= tol + CLOSE_FRACTION * abs(value):
        return {**record, "verdict": "close"}
    return {**record, "verdict": "mismatch"}


def stated(text: str, measured: float, *, tol: float | None = None) -> None:
    """Check a number the prose states against the value this run measured.

    Silent when they agree; prints one ``stated ✗`` line when they do not. Every verdict is kept
    for :func:`stated_summary`.

    Args:
        text: the number exactly as a markdown cell writes it (``"105.3"``, ``"97.5 %"``,
            ``"24,345"``, ``"71 s"``, ``"7 of 10"`` compares the first number; a range such as
            ``"5 to 10 minutes"`` or ``"30-50 s"`` agrees when the value lies inside it).
        measured: this run's value, in the unit the text uses (percent for ``"%"``, seconds
            for ``"s"``).
        tol: a tighter tolerance than the text's precision (half a unit of its last digit, or
            its range); a wider one is not honoured: write the sentence at the precision the
            run supports, or state a range.

    Returns ``None``, so that a call ending a cell leaves no ``Out[]`` value in the lesson.

    Raises:
        ValueError: ``text`` holds no number, or ``measured`` is not a finite number.
    """
    measured = float(measured)
    if not math.isfinite(measured):
        raise ValueError(f"stated({text!r}): the measured value is {measured}, not a finite number.")
    text = " ".join(text.split())
    record = _verdict(text, measured, tol)
    caller = inspect.currentframe().f_back
    _RECORDS[(caller.f_code.co_filename, caller.f_lineno, text)] = record
    if record["verdict"] == "mismatch":
        print(f'{STATED_MISMATCH} "{text}": this run measured {record["measured"]:g} (tolerance ±{record["tolerance"]:g}). '
              "The prose describes the stored run on 2 CPU cores; other hardware and library versions differ slightly.")


def stated_records() -> list[dict]:
    """The verdicts of this kernel's :func:`stated` calls so far, in call order (one per call site and text)."""
    return list(_RECORDS.values())


def summary_line(records: list[dict]) -> str:
    """One line on ``records``: all agree, or which do not (the texts and this run's values)."""
    n = len(records)
    skipped = [r for r in records if r["verdict"] == "not compared"]
    if skipped:
        return (f"{n} numbers stated in the text, not compared: this is a {skipped[0]['why']} run "
                "and the prose describes the full run on the course's data.")
    close = [r for r in records if r["verdict"] == "close"]
    wrong = [r for r in records if r["verdict"] == "mismatch"]
    if not close and not wrong:
        return f"{n} numbers stated in the text, all match this run."
    parts = [f"{n} numbers stated in the text, {n - len(close) - len(wrong)} match this run"]
    if close:
        parts.append(f"{len(close)} within 2 % (another machine's round-off: "
                     + "; ".join(f'"{r["text"]}" {r["measured"]:g}' for r in close) + ")")
    if wrong:
        parts.append(f"{len(wrong)} differ ("
                     + "; ".join(f'"{r["text"]}" {r["measured"]:g}' for r in wrong) + ")")
    return ", ".join(parts) + "."


def stated_summary() -> None:
    """Show the notebook's one-line verdict on its stated numbers (:func:`summary_line`), with
    every record stored under :data:`RECORDS_MIME` for the tests; printed where IPython is absent."""
    records = stated_records()
    line = summary_line(records)
    try:
        from IPython.display import display
    except ImportError:
        print(line)
        return
    display({"text/plain": line, RECORDS_MIME: {"records": records}}, raw=True)
