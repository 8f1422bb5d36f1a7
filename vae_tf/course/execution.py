"""Stored runs: a notebook executed top to bottom in full mode and stored with its outputs, and
TensorFlow's start-up logging taken out of them (the website's copies get the same cleaning).

``python -m vae_tf.course run NOTEBOOK ...`` runs :func:`execute_notebook`. nbclient is imported
only when a notebook is executed.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat

from .notebook_files import write_notebook
from .sync import ALL_IMAGES_ENV_VAR

#: TensorFlow's start-up logging on stderr: absl/glog lines of its C++ runtime
#: ("I0000 00:00:1795295504.300536   21136 port.cc:153] oneDNN custom operations are on...",
#: "E0000 ... cuda_platform.cc:52] failed call to cuInit: ..."), absl's notice before them, and
#: the second line of cpu_feature_guard's message. Machine-specific noise, not course content.
TF_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.-]+:\d+\] .*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.)$"
)


def without_tf_logs(nb):
    """``nb`` with TensorFlow's start-up log lines (:data:`TF_LOG_LINE`) removed from its stderr
    outputs, in place; an output left empty is dropped. Other stderr text (a warning the course
    shows) stays. The site's copy gets this; the stored notebooks keep their outputs."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = [line for line in out.text.splitlines(keepends=True) if not TF_LOG_LINE.match(line.rstrip("\n"))]
                if not "".join(lines).strip():
                    continue
                out.text = "".join(lines)
            kept.append(out)
        cell.outputs = kept
    return nb


def execute_notebook(path: str | Path, *, timeout: int = 3600) -> float:
    """Run the notebook at ``path`` top to bottom in a fresh ``python3`` kernel, from its folder,
    in full mode on the course training set (``VAE_TF_QUICK`` and ``VAE_TF_ALL_TRAINING_IMAGES``
    unset), and store it with its outputs, TensorFlow's start-up logs removed
    (:func:`without_tf_logs`). ``timeout``: seconds one cell may run. Returns the wall-clock
    seconds. Raises ``nbclient.exceptions.CellExecutionError`` (nothing is written) when a cell fails."""
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.pop(k) for k in ("VAE_TF_QUICK", ALL_IMAGES_ENV_VAR) if k in os.environ}
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.update(saved)
    seconds = time.perf_counter() - start
    write_notebook(without_tf_logs(nb), path)
    return seconds
