"""``vae-tf evaluate``: score a trained model on held-out images and write ``evaluation.json``.

What it measures, all per test image in nats: the negative ELBO (``beta = 1``) and its two
terms; for an unconditional model the importance-weighted NLL ``-L_K``
(:func:`vae_tf.iwae_log_likelihood`) and the active units; every value also per digit (by the
test labels, when the data have labels); and sample quality by the independent judge
(:func:`vae_tf.load_judge`): the class histogram of prior samples, per-digit accuracy of
digit-conditioned samples, and the Fréchet distance of samples to test images beside the test
set's own halves (the floor). The judge reads 28x28 grey digits: for other images it is skipped,
and the summary says why in one line (:func:`vae_tf.app.sources.judge_skip_reason`).
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ..tools.files import atomic_write_json
from .run import PROG, UsageError, say
from .trained import DESCRIPTIONS, Trained, load_trained, preprocess, writing_outputs

RESULTS_FILE = "evaluation.json"
ACTIVE_THRESHOLD = 0.01  # nats of mean KL per latent dimension
#: Test images the IWAE NLL is estimated on by default (the first of those scored): K = 1000 on all
#: 10,000 took 262 s on 2 CPU cores, on 1,000 about a tenth of that (--iwae-images asks for more).
IWAE_IMAGES = 1000


@dataclasses.dataclass(frozen=True)
class EvaluateRequest:
    """The options of ``vae-tf evaluate`` (see its ``--help``)."""

    path: Path
    iwae_samples: int = 1000
    test_size: int | None = None
    iwae_images: int = IWAE_IMAGES
    seed: int = 0
    data: str | None = None
    source: object = None  # the other data options: a vae_tf.app.sources.DataOptions
    preprocessing: str | None = None
    allow_preprocessing_mismatch: bool = False
    judge: bool = True


def evaluate_command(request: EvaluateRequest) -> dict:
    """Run ``vae-tf evaluate``: score, write ``evaluation.json`` beside the model, print the
    summary; return the results. Raises :class:`vae_tf.app.run.UsageError` for bad input."""
    from ..tools.data import subset

    start = time.perf_counter()
    trained = load_trained(request.path)
    pre = choose_preprocessing(trained, request)
    arrays, info = _load_images(trained, request)
    x_test, y_test = subset(*arrays[1], request.test_size, seed=request.seed)
    x = preprocess(x_test, pre["used"], seed=request.seed)
    results = {
        "model": trained.model_path.name,
        "model_class": type(trained.model).__name__,
        "data": _data_record(info, trained, len(x)),
        "preprocessing": pre,
        "seed": request.seed,
        **score_likelihood(trained.model, x, y_test, request, preprocessing=pre),
    }
    from .sources import data_arg, judge_skip_reason

    skipped = judge_skip_reason(info) if request.judge else None
    if skipped:
        results["judge_skipped"] = skipped
    elif request.judge:
        results["sample_quality"] = judge_samples(trained.model, arrays, x_test, request, data_arg(info))
    results["wall_time_s"] = round(time.perf_counter() - start, 2)
    with writing_outputs():
        out = atomic_write_json(trained.folder / RESULTS_FILE, results)
    for line in summary_lines(results, out):
        say(line)
    return results


def _load_images(trained: Trained, request: EvaluateRequest):
    """The data to score on (:func:`vae_tf.app.sources.load_source`; by default the run's own) as
    ``(arrays, info)``. Raises :class:`UsageError` when the model cannot take those images, or a
    digit-conditioned model gets images without labels."""
    import dataclasses

    from .sources import DataOptions, load_source, shape_text

    options = request.source or DataOptions()
    if request.data is not None:
        options = dataclasses.replace(options, data=request.data)
    arrays, info = load_source(options, trained.run.get("data"))
    model_shape = tuple(int(s) for s in trained.model.image_shape)
    if tuple(info["image_shape"]) != model_shape:
        raise UsageError(f"the model takes {shape_text(model_shape)} images but {info['source']} holds "
                         f"{shape_text(info['image_shape'])} ones; pass the data it was trained on (--data, --dataset "
                         "or --images with --image-size and --channels).")
    if trained.model.conditions_on_digits and not info["labels"]:
        raise UsageError(f"this digit-conditioned model is scored on labelled images; {info['source']} has no labels.")
    return arrays, info


def choose_preprocessing(trained: Trained, request: EvaluateRequest) -> dict:
    """``{"trained": ..., "used": ..., "source": ...}``: the preprocessing the run recorded
    (None for a bare model file) and the one to score with (``--preprocessing``, else the
    trained one, else grey levels). Raises :class:`UsageError` when they differ, unless
    ``allow_preprocessing_mismatch``."""
    trained_on, asked = trained.preprocessing, request.preprocessing
    used = asked or trained_on or "grey"
    if trained_on and used != trained_on and not request.allow_preprocessing_mismatch:
        raise UsageError(
            f"the model was trained on {DESCRIPTIONS[trained_on]} pixels but --preprocessing {used} asks for "
            f"{DESCRIPTIONS[used]}; scores across preprocessings are not comparable. Drop --preprocessing, or "
            "pass --allow-preprocessing-mismatch."
        )
    source = "metrics.json" if trained_on and not asked else ("--preprocessing" if asked else "default (no run record)")
    return {"trained": trained_on, "used": used, "description": DESCRIPTIONS[used], "source": source}


def _data_record(info: dict, trained: Trained, n: int) -> dict:
    recorded = (trained.run.get("data") or {}).get("sha256")
    return {
        "source": Path(info["source"]).name if info["path"] else info["source"],
        "sha256": info["sha256"],
        "n_test_used": n,
        "n_test_file": info["n_test_file"],
        "image_shape": info["image_shape"],
        "same_as_training_run": None if recorded is None else recorded == info["sha256"],
    }


# --------------------------------------------------------------------------- likelihood
def density_note(model, preprocessing: dict) -> str | None:
    """The note when the scores are no bound on ``-log p(x)``: a Bernoulli likelihood scored on
    grey levels. It says what this run did (``preprocessing`` as :func:`choose_preprocessing`
    returns it) and the command-line fix; None when the scores are log-densities."""
    if model.likelihood != "bernoulli" or preprocessing["used"] != "grey":
        return None
    trained = preprocessing["trained"]
    if trained is None:
        pixels = ("the test pixels are grey levels (the default for a bare model file; pass --preprocessing "
                  "threshold or static if it was trained on binarized pixels)")
    elif trained == "grey":
        pixels = "the run trained and is scored on grey levels (no --binarization)"
    else:
        pixels = (f"the test pixels are grey levels (--preprocessing grey), not what the run trained on "
                  f"({DESCRIPTIONS[trained]}; drop --preprocessing to score those)")
    return (f"{pixels}, but a Bernoulli likelihood is a normalised density only for binary pixels: on grey levels "
            "-ELBO and IWAE NLL are not a bound on -log p(x). For a true log-density, retrain with --likelihood "
            "continuous_bernoulli, or on binary pixels with --binarization dynamic (evaluate then scores binary pixels).")


def score_likelihood(model, x: np.ndarray, y: np.ndarray, request: EvaluateRequest,
                     preprocessing: dict | None = None) -> dict:
    """Negative ELBO and its terms, IWAE NLL and active units (unconditional models), as
    means and per digit. ``x``: preprocessed test images; ``y``: their labels;
    ``preprocessing``: what :func:`choose_preprocessing` chose (for :func:`density_note`)."""
    note = density_note(model, preprocessing) if preprocessing else None
    notes = [note] if note else []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        per_example = _elbo_terms(model, x, y, request.seed)
        if model.conditions_on_digits:
            notes.append("No IWAE NLL or active units: a digit-conditioned decoder sees the classifier's "
                         "prediction, a function of x, so it defines no likelihood of x alone.")
            active = None
        else:
            n_iwae = min(len(x), request.iwae_images)
            say(f"{PROG}: IWAE NLL with K = {request.iwae_samples} importance samples on {n_iwae:,} of the "
                f"{len(x):,} test images" + (" (--iwae-images for more)" if n_iwae < len(x) else ""), file=sys.stderr)
            iwae = iwae_nll(model, x[:n_iwae], request.iwae_samples, request.seed)
            from ..tools.evaluation import active_units

            active = active_units(model, x, threshold=ACTIVE_THRESHOLD)
    # The estimators warn with their own name first ("evaluate_elbo: ..."); one note per message;
    # the density warning speaks Python and guesses what training did: density_note says it here.
    from ..tools.evaluation import NotADensityWarning

    messages = {str(w.message).split(": ", 1)[-1] for w in caught if issubclass(w.category, UserWarning)
                and not (note and issubclass(w.category, NotADensityWarning))}  # density_note said it
    notes += sorted(messages)
    if not model.conditions_on_digits:
        per_example["iwae_nll"] = iwae  # on the first n_iwae images: its means below are over those
    means = {f"{k}_nats": float(np.mean(v)) for k, v in per_example.items()}
    by_digit = {} if y is None else {
        str(d): {f"{k}_nats": float(np.mean(v[y[: len(v)] == d])) for k, v in per_example.items()
                 if np.any(y[: len(v)] == d)} | {"n": int(np.sum(y == d))}
        for d in range(int(y.max()) + 1) if np.any(y == d)
    }
    notes.append("-ELBO draws one z per image with this command's seed, so it differs from the -ELBO that "
                 "training logged on the same images by Monte Carlo noise (a few hundredths of a nat).")
    return {
        "likelihood": model.likelihood,
        "iwae_samples": None if model.conditions_on_digits else request.iwae_samples,
        "iwae_images": None if model.conditions_on_digits else n_iwae,
        "test": means,
        "test_per_digit": by_digit,
        "active_units": active,
        "latent_dim": model.latent_dim,
        "active_threshold_nats": ACTIVE_THRESHOLD,
        "notes": notes,
    }


def _elbo_terms(model, x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Per-example ``neg_elbo``, ``reconstruction_loss`` and ``kl_loss`` (one z sample)."""
    if not model.conditions_on_digits:
        from ..tools.evaluation import evaluate_elbo

        terms = evaluate_elbo(model, x, seed=seed)
        return {"neg_elbo": -terms["elbo"], "reconstruction_loss": terms["reconstruction_loss"],
                "kl_loss": terms["kl_loss"]}
    from keras import ops

    parts = [model.loss_terms(ops.convert_to_tensor(x[i : i + 500]), ops.convert_to_tensor(y[i : i + 500]))
             for i in range(0, len(x), 500)]
    recon, kl = (np.concatenate([ops.convert_to_numpy(p[k]) for p in parts]).astype("float64")
                 for k in ("reconstruction_loss", "kl_loss"))
    return {"neg_elbo": recon + kl, "reconstruction_loss": recon, "kl_loss": kl}


def iwae_nll(model, x: np.ndarray, num_samples: int, seed: int, batch_size: int = 100) -> np.ndarray:
    """``-`` :func:`vae_tf.iwae_log_likelihood` per image (nats), with a progress bar on
    stderr; batch ``i`` is seeded by ``(seed, i)``."""
    import keras

    from ..tools.evaluation import iwae_log_likelihood

    out = np.empty(len(x), dtype="float64")
    bar = keras.utils.Progbar(len(x), verbose=1 if sys.stderr.isatty() else 2, unit_name="image")
    for i, start in enumerate(range(0, len(x), batch_size)):
        xb = x[start : start + batch_size]
        out[start : start + len(xb)] = -iwae_log_likelihood(
            model, xb, num_samples=num_samples, batch_size=batch_size, seed=seed * 1_000_003 + i
        )
        bar.update(start + len(xb))
    return out


# --------------------------------------------------------------------------- sample quality
def judge_samples(model, arrays, x_test: np.ndarray, request: EvaluateRequest, data_arg) -> dict:
    """Sample quality by the judge: as many prior samples as test images (at least 4)."""
    from ..tools.judge import JudgeError, load_judge
    from ..tools.quality import class_histogram, digit_accuracy, frechet_distance, frechet_floor

    try:
        judge = load_judge(data_arg, seed=0, verbose=2)  # logs (the CLI prints it) only when it trains
    except JudgeError as e:
        raise UsageError(f"{e} (or pass --no-judge)") from None
    n = max(len(x_test), 4)
    requested = np.arange(n) % model.num_classes if model.conditions_on_digits else None
    samples = model.sample(n, digits=requested, seed=request.seed)
    predicted = judge.predict(samples)
    histogram = class_histogram(predicted)
    result = {
        "judge_test_accuracy": judge.test_accuracy,
        "n_samples": n,
        "class_histogram": histogram,
        "missing_digits": [d for d, count in enumerate(histogram["counts"]) if count == 0],
        "frechet_distance": frechet_distance(judge, samples, x_test),
        "frechet_floor_test_halves": frechet_floor(judge, x_test, seed=request.seed),
        "frechet_note": "judge features; samples (pixel means) vs grey-level test images; the floor compares "
                        "two halves of those test images (smaller sets: biased upward)",
    }
    if requested is not None:
        result["digit_accuracy"] = digit_accuracy(predicted, requested)
    return result


# --------------------------------------------------------------------------- summary
def summary_lines(r: dict, out: Path) -> list[str]:
    """The one-screen summary of results ``r`` written to ``out``."""
    t, d, p = r["test"], r["data"], r["preprocessing"]
    lines = [
        f"{PROG}: evaluated {r['model_class']} ({r['model']}, {r['likelihood']} likelihood, latent_dim {r['latent_dim']})",
        f"  data: {d['source']} (sha256 {d['sha256'][:12]}), {d['n_test_used']:,} of {d['n_test_file']:,} test images"
        + {True: ", same file as training", False: ", NOT the training run's file", None: ""}[d["same_as_training_run"]],
        f"  pixels: {p['description']} (from {p['source']}; trained on {p['trained'] or 'unknown'})",
        f"  -ELBO {t['neg_elbo_nats']:.2f} nats = reconstruction {t['reconstruction_loss_nats']:.2f} + KL {t['kl_loss_nats']:.2f}",
    ]
    if "iwae_nll_nats" in t:
        lines.append(f"  IWAE NLL (K={r['iwae_samples']}, first {r['iwae_images']:,} of the images) {t['iwae_nll_nats']:.2f} nats; "
                     f"active units {r['active_units']} of {r['latent_dim']}")
    per = r["test_per_digit"]
    key = "iwae_nll_nats" if "iwae_nll_nats" in t else "neg_elbo_nats"
    if per:
        lines.append(f"  per label {key[:-5]}: " + " ".join(f"{k}:{v[key]:.1f}" for k, v in per.items()))
    if r.get("judge_skipped"):
        lines.append(f"  judge scores skipped: {r['judge_skipped']}")
    q = r.get("sample_quality")
    if q:
        h = q["class_histogram"]
        missing = [d for d, count in enumerate(h["counts"]) if count == 0]
        missing = f" (none recognised as {_digit_list(missing)})" if missing else ""
        lines.append(f"  judge (test accuracy {q['judge_test_accuracy']:.4f}) on {q['n_samples']} samples: "
                     f"{h['classes_covered']}/{len(h['counts'])} digits{missing}, entropy {h['entropy_nats']:.3f} of "
                     f"{h['max_entropy_nats']:.3f} nats")
        if "digit_accuracy" in q:
            lines.append(f"  conditioned samples recognised as the asked digit: {q['digit_accuracy']['accuracy']:.3f}")
        lines.append(f"  Frechet distance to test images {q['frechet_distance']:.2f} (test halves floor "
                     f"{q['frechet_floor_test_halves']:.2f})")
    lines += [f"  note: {n}" for n in r["notes"]]
    lines.append(f"{PROG}: wrote {out} ({r['wall_time_s']:.1f} s)")
    return lines


def _digit_list(digits: list[int]) -> str:
    """``[4]`` -> ``"4"``, ``[1, 4, 7]`` -> ``"1, 4 or 7"``."""
    names = [str(d) for d in digits]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
