"""The output directory of a run: claimed with an OS lock, checked, and cleaned of stale temps.

A run owns its ``--out`` through ``fcntl.flock`` on ``DIR/.lock`` (the file holds the owner's
pid). The lock belongs to the open file, so it dies with the process however it ends (SIGKILL
included) and no stale lock is ever left to clear by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ..tools.files import remove_stale_temps

LOCK_FILE = ".lock"
CHECKPOINT_DIR = "checkpoint"
OUTPUT_FILES = (
    "model.keras",
    "history.json",
    "metrics.json",
    "latent.png",
    "manifold.png",
    "reconstructions.png",
    "samples.png",
    "training_curves.png",
)


class OutDirError(ValueError):
    """``--out`` cannot be used: a file, not writable, in use by another run, or holding a run."""


def _lock(out: Path) -> int:
    """Open and lock ``out/.lock`` without waiting; write our pid into it; return the fd."""
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise OutDirError(
            f"--out {str(out)!r} is in use by another vae-tf run (process {holder}); wait for it to end, "
            "or choose another --out."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _make_writable_dir(out: Path) -> bool:
    """Create ``out`` if needed; returns True if it was created here. Raises :class:`OutDirError`."""
    if out.exists() and not out.is_dir():
        raise OutDirError(f"--out {str(out)!r} is an existing file, not a directory.")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutDirError(f"--out {str(out)!r} is not a writable directory ({e.strerror or e}).") from None
    return created


def _clear_or_refuse(out: Path, resume: bool, overwrite: bool) -> None:
    """A new run needs an empty run slot: refuse one that holds a run unless ``overwrite``."""
    if resume:
        return
    existing = [n for n in (*OUTPUT_FILES, f"{CHECKPOINT_DIR}/state.json") if (out / n).exists()]
    if existing and not overwrite:
        raise OutDirError(
            f"--out {str(out)!r} already holds a run ({', '.join(existing)}); pass --resume to continue it, "
            "--overwrite to start over, or choose another --out."
        )
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)
    ckpt = out / CHECKPOINT_DIR
    if ckpt.is_dir():
        for p in [*ckpt.glob("epoch-*.keras"), ckpt / "state.json"]:
            p.unlink(missing_ok=True)


@contextlib.contextmanager
def claimed(out: str | os.PathLike, *, resume: bool, overwrite: bool) -> Iterator[Path]:
    """Own the output directory ``out`` for the block: create it, lock it (another run in it is
    an :class:`OutDirError`), refuse or clear an old run, and delete temp files of killed writes.
    On leaving, the lock is released; a directory created here that holds nothing but the lock
    (the run never wrote anything) is removed."""
    out = Path(out).expanduser()
    created = _make_writable_dir(out)
    fd = None
    try:
        fd = _lock(out)
        _clear_or_refuse(out, resume, overwrite)
        for d in (out, out / CHECKPOINT_DIR):
            remove_stale_temps(d)
        yield out
    finally:
        if fd is not None and created and {p.name for p in out.iterdir()} <= {LOCK_FILE}:
            (out / LOCK_FILE).unlink(missing_ok=True)
            out.rmdir()
        if fd is not None:
            os.close(fd)
