"""The output directory of a run: claimed with a file lock, checked, and cleaned of stale temps.

A run owns its ``--out`` through ``filelock.FileLock`` on ``DIR/.lock`` (an OS lock on Linux,
macOS and Windows, so it dies with the process however it ends, SIGKILL included) and writes its
process id to ``DIR/.owner`` for the message another run gets. Holding the lock means that no
other run writes into the directory, so every temporary file found there is a killed writer's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import filelock

from ..tools.files import atomic_write_text, remove_stale_temps

LOCK_FILE, OWNER_FILE = ".lock", ".owner"
CHECKPOINT_DIR = "checkpoint"
HISTORY_CSV = "history.csv"
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


def _lock(out: Path) -> filelock.BaseFileLock:
    """Take ``out/.lock`` without waiting and write our pid to ``out/.owner``; return the lock."""
    lock = filelock.FileLock(str(out / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        try:
            holder = (out / OWNER_FILE).read_text(encoding="utf-8").strip() or "unknown"
        except OSError:
            holder = "unknown"
        raise OutDirError(
            f"--out {str(out)!r} is in use by another vae-tf run (process {holder}); wait for it to end, "
            "or choose another --out."
        ) from None
    try:
        atomic_write_text(out / OWNER_FILE, f"{os.getpid()}\n")
    except OSError as e:
        lock.release()
        raise OutDirError(f"--out {str(out)!r} is not a writable directory ({e.strerror or e}).") from None
    return lock


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
    for name in (*OUTPUT_FILES, HISTORY_CSV):
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
    lock = _lock(out)
    try:
        _clear_or_refuse(out, resume, overwrite)
        for d in (out, out / CHECKPOINT_DIR):
            remove_stale_temps(d)  # we hold the lock: no other run writes here
        yield out
    finally:
        (out / OWNER_FILE).unlink(missing_ok=True)
        empty = created and {p.name for p in out.iterdir()} <= {LOCK_FILE}
        lock.release()
        if empty:
            with contextlib.suppress(OSError):  # e.g. a run that started in it meanwhile
                (out / LOCK_FILE).unlink(missing_ok=True)
                out.rmdir()
