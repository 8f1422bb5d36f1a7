"""Files that are never half written: every write goes to a temporary file beside the target
and is moved over it with ``os.replace`` (atomic on POSIX and Windows), so a reader, or a run
killed at any moment, sees the old file or the complete new one.

Temporary files are named ``.NAME.PID.tmpSUFFIX``; :func:`remove_stale_temps` deletes those left
by a process that was killed (SIGKILL) mid-write. Whether a temporary file is stale is the
caller's knowledge, not a probe of its process (``os.kill(pid, 0)`` is no probe on Windows, where
it sends CTRL_C_EVENT): in a directory whose lock the caller holds, no one else writes, so every
temporary file is stale; in a shared folder, one older than any write takes is.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp(\.[A-Za-z0-9]+)?$")


def temp_path(path: Path, suffix: str = "") -> Path:
    """The temporary file used while writing ``path`` (same directory, this process's pid)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], suffix: str = "") -> Path:
    """Call ``write(tmp)`` to produce the file at a temporary path, then ``os.replace`` it onto
    ``path``. ``suffix`` is for writers that insist on an extension (``.keras``, ``.png``).
    On any error the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    tmp = temp_path(path, suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, flushed to disk before the rename."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    return atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """:func:`atomic_write_text` of ``data`` as indented JSON (NaN/Inf are refused)."""
    return atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def atomic_save_model(model, path: str | os.PathLike) -> Path:
    """``model.save`` (a ``.keras`` file, optimizer state included) written atomically."""
    return atomic_write(path, model.save, suffix=".keras")  # Keras insists on the .keras suffix


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save a Matplotlib figure as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight"), suffix=".png")
    finally:
        plt.close(fig)


def remove_stale_temps(directory: str | os.PathLike, *, older_than_s: float = 0.0) -> list[Path]:
    """Delete the temporary files (``.NAME.PID.tmpSUFFIX``) in ``directory`` last modified more
    than ``older_than_s`` seconds ago and return their paths (none if ``directory`` does not
    exist). Pass 0 for a directory whose lock the caller holds (every temp there is a killed
    writer's); in a folder other processes write to, an age no write takes (module doc)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    now, removed = time.time(), []
    for p in directory.iterdir():
        with contextlib.suppress(FileNotFoundError):  # another cleaner or its writer got there first
            if _TEMP.match(p.name) and p.is_file() and (older_than_s <= 0 or now - p.stat().st_mtime >= older_than_s):
                p.unlink()
                removed.append(p)
    return removed
