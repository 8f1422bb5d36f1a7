"""The layout shows the design (issue 23): a small core, the family on it, the application wing
and the course tooling beside it, and public Keras/TensorFlow only.

* the core (``vae``, ``layers``, ``losses``, ``architectures`` and what they import) and the
  family (``conditional``, ``auxiliary``, ``iwae``, ``autoencoders``) import neither
  ``vae_tf.app`` nor ``vae_tf.course``;
* no module imports another module's underscore names;
* ``import vae_tf`` changes no environment variable, registers nothing at exit, and loads
  neither the app wing nor the course tooling nor a module that imports matplotlib;
* no ``keras.src``, no private Keras or TensorFlow attribute, no ``os._exit`` in ``vae_tf/``;
* the files a student reads for the plain VAE stay short.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vae_tf"
CORE = ("vae", "layers", "losses", "architectures")
FAMILY = ("conditional", "auxiliary", "iwae", "autoencoders", "gumbel", "vqvae")
STUDENT_FILES = ("vae.py", "layers.py", "losses.py", "architectures.py")


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``[(absolute module, [imported names])]`` for every import in ``path``."""
    here = _module_of(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [a.name for a in node.names]
            found.append((module, names))
            found += [(f"{module}.{n}", []) for n in names]  # "from . import files" imports vae_tf.files
    return found


def _internal_closure(start: list[str]) -> set[str]:
    """The vae_tf modules that ``start`` imports, directly or not (function-level imports included)."""
    seen, todo = set(), list(start)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = ROOT / (module.replace(".", "/") + ".py")
        if not path.is_file():
            path = ROOT / module.replace(".", "/") / "__init__.py"
        if not path.is_file():
            continue
        seen.add(module)
        todo += [m for m, _ in _imports(path) if m.startswith("vae_tf")]
    return seen


def test_the_core_and_the_family_import_neither_the_app_nor_the_course():
    reached = _internal_closure([f"vae_tf.{m}" for m in (*CORE, *FAMILY)])
    wing = sorted(m for m in reached if m.startswith(("vae_tf.app", "vae_tf.course")))
    assert not wing, f"the core and the family reach {wing}"
    assert "vae_tf.vae" in reached and "vae_tf.losses" in reached  # the scan follows imports


def test_no_module_imports_another_modules_underscore_names():
    bad = [f"{p.relative_to(ROOT)}: from {m} import {n}" for p in sorted(PACKAGE.rglob("*.py"))
           for m, names in _imports(p) if m.startswith("vae_tf") for n in names if n.startswith("_") and n != "__version__"]
    assert not bad, bad


PRIVATE = [
    (re.compile(r"\bkeras\.src\b"), "keras.src"),
    (re.compile(r"os\._exit"), "os._exit"),
    (re.compile(r"_use_cached_eval_dataset|_flatten_layers|model_supports_jit"), "a private Keras name"),
    (re.compile(r"def make_(train|test)_function"), "an override of a Keras internal"),
    (re.compile(r"tf_xla_persistent_cache_directory|TF_XLA_FLAGS|atexit"), "an undocumented flag or exit hook"),
    (re.compile(r"sys\.argv"), "sys.argv sniffing"),
]


def test_the_package_uses_public_keras_and_tensorflow_only():
    hits = [f"{p.relative_to(ROOT)}:{i}: {what}: {line.strip()}" for p in sorted(PACKAGE.rglob("*.py"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            for pattern, what in PRIVATE if pattern.search(line) and not (what == "sys.argv sniffing" and "app/" in str(p))]
    assert not hits, hits


def test_importing_vae_tf_has_no_side_effects_and_stays_light(tmp_path):
    script = """
import atexit, json, os, sys
import keras  # TensorFlow's own start-up (its exit hooks and flags are its own)
before_env = dict(os.environ)
calls, register = [], atexit.register
atexit.register = lambda *a, **k: calls.append(a) or register(*a, **k)
import vae_tf
print(json.dumps({
    "env_changed": sorted(k for k in set(before_env) | set(os.environ) if before_env.get(k) != os.environ.get(k)),
    "atexit": len(calls),
    "modules": sorted(m for m in sys.modules if m.startswith("vae_tf")),
    "registered": sorted(k for k in keras.saving.get_custom_objects() if k.startswith("vae_tf>")),
}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["env_changed"] == [] and result["atexit"] == 0, result
    loaded = [m for m in result["modules"] if m.startswith("vae_tf")]
    assert not [m for m in loaded if m.startswith(("vae_tf.app", "vae_tf.course"))], loaded
    # Keras itself may import matplotlib; no module `import vae_tf` loads imports it at its top level
    for module in loaded:
        path = ROOT / (module.replace(".", "/") + ".py")
        path = path if path.is_file() else ROOT / module.replace(".", "/") / "__init__.py"
        top = [n for n in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = [a.name for n in top for a in n.names] + [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.startswith("matplotlib")], module
    for name in ("VAE", "ConditionalVAE", "AuxiliaryClassifierVAE", "IWAE", "Autoencoder", "Sampling",
                 "ReplicaLossScaleOptimizer", "GumbelSoftmaxVAE", "GumbelSoftmax", "VQVAE", "VectorQuantizer"):
        assert f"vae_tf>{name}" in result["registered"], name  # load_model finds every saved model's class


def test_the_files_a_student_reads_for_the_plain_vae_are_short():
    lines = {name: len((PACKAGE / name).read_text(encoding="utf-8").splitlines()) for name in STUDENT_FILES}
    assert sum(lines.values()) <= 720, lines


def test_the_whole_loss_is_in_train_step_near_the_top_of_vae_py():
    source = (PACKAGE / "vae.py").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(source) if "def train_step(" in line)
    end = next(i for i in range(start + 1, len(source)) if source[i].startswith("    def "))
    body = "\n".join(source[start:end])
    assert end <= 120, f"train_step ends at line {end}"
    for piece in ("self.encoder(", "self.sampling(", "self.decoder(", "reconstruction_log_likelihood(",
                  "kl_divergence(", "self.beta * kl_loss", "tape.gradient(", "self.optimizer.apply("):
        assert piece in body, piece
    calls = set(re.findall(r"self\.(_\w+)\(", body))
    assert not calls, f"train_step calls private hooks {calls}"


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("0*.ipynb")), ids=lambda p: p.name[:2])
def test_notebooks_use_no_private_name_of_the_package(notebook):
    code = "\n".join("".join(c["source"]) for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
                     if c["cell_type"] == "code")
    private = sorted(set(re.findall(r"\b(?:vae|model|vae_tf|acvae|cvae|vae_mlp|conv_vae)\.(_[a-z]\w*)", code)))
    assert not private, private
