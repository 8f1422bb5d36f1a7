"""A persistent cache of XLA's compiled programs, shared by every process of one user.

XLA compiles each training step the first time it runs (one program per model and batch shape):
about 1-3 s each on a 2-core CPU, paid again by every new process, although a student re-runs the
same notebook or ``vae-tf train --quick`` all day. TensorFlow can keep the compiled programs on
disk (``TF_XLA_FLAGS=--tf_xla_persistent_cache_directory=DIR``) and load them in later processes.
Used as is, that cache is fragile: TensorFlow writes an entry in place, so a process that reads
it while another one is still writing it fails, and so does a run whose cache directory is not
writable; its entries are also not keyed by TensorFlow's version.

:func:`enable` (called by ``import vae_tf``, before any XLA compile) makes it safe:

* the shared cache is ``<vae_tf cache>/xla/tf-<TensorFlow version>-<CPU>`` (see
  :func:`vae_tf.settings.resolve_cache_dir`), where ``<CPU>`` names the processor's instruction
  set: a program compiled on one machine is never loaded on another (a home directory shared by
  a cluster's nodes), where it could stop the process with an illegal instruction;
* TensorFlow reads and writes a private directory of this process, filled with hard links to the
  shared entries (no copy);
* at exit :func:`publish` links the entries this process compiled into the shared cache, each
  appearing at once and complete (``os.link`` is atomic), then removes the private directory.
  Private directories of processes that died are removed by the next :func:`enable`;
* the shared cache keeps at most :data:`MAX_BYTES` (512 MiB), the oldest entries go first.

A cached program is the program XLA would compile (TensorFlow checks that its HLO matches
exactly), so the numbers are unchanged; only the first epoch is faster.

The cache is **off unless** ``VAE_TF_XLA_CACHE=1``: TensorFlow 2.21 logs three error lines for
every program it loads (it first tries to parse the entry as text, then warns that the CPU
features ``+prefer-no-scatter``/``+prefer-no-gather``, tuning hints rather than instructions, do
not match the host "which could lead to SIGILL"). Both are harmless here, but they would fill a
notebook's outputs and alarm a student on every run. A ``--tf_xla_persistent_cache_directory``
already in ``$TF_XLA_FLAGS`` is left alone. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from .settings import env_flag, resolve_cache_dir

#: Environment variable that turns the cache on (``1``, ``true``, ``yes``, ``on``).
ENV_VAR = "VAE_TF_XLA_CACHE"
_FLAG = "--tf_xla_persistent_cache_directory"
_PRIVATE_PREFIX = "private-"
#: Names this process's private directory, so that a child process (which inherits
#: ``$TF_XLA_FLAGS``) recognizes the flag as its parent's and makes its own.
_PRIVATE_VAR = "VAE_TF_XLA_CACHE_PRIVATE"

#: The shared cache's size limit: :func:`publish` removes the oldest entries above it (a
#: program of the models here is 0.5-2 MB).
MAX_BYTES = 512 * 2**20

#: ``(private, shared)`` directories of this process once :func:`enable` ran, else None.
_session: tuple[Path, Path] | None = None


def shared_dir() -> Path | None:
    """The shared cache directory for the installed TensorFlow on this CPU, or None (cache not
    turned on, or no TensorFlow distribution found)."""
    if not env_flag(ENV_VAR):
        return None
    try:
        version = metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        try:
            version = metadata.version("tensorflow-cpu")
        except metadata.PackageNotFoundError:
            return None
    return resolve_cache_dir() / "xla" / f"tf-{version}-{cpu_key()}"


def cpu_key() -> str:
    """A short name for this processor's instruction set: 12 hex digits of a hash of the machine
    type and the CPU feature flags (``/proc/cpuinfo`` on Linux, else the processor's name)."""
    features = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):  # x86, ARM
                    features = " ".join(sorted(line.split(":", 1)[1].split()))
                    break
    except OSError:
        pass
    if features is None:  # not Linux (platform.processor() may run `uname -p`: only when needed)
        features = platform.processor()
    return hashlib.sha256(f"{platform.machine()}|{features}".encode()).hexdigest()[:12]


def enable() -> Path | None:
    """Point TensorFlow's XLA cache at a private directory holding links to the shared entries,
    and publish this process's new entries at exit. TensorFlow reads ``$TF_XLA_FLAGS`` at the
    process's first XLA compile: after that this has no effect (and does no harm). Returns the
    private directory, or None when the cache stays off (not turned on, ``$TF_XLA_FLAGS`` naming
    its own cache, or the cache not writable)."""
    global _session
    if _session is not None:
        return _session[0]
    # A child process inherits its parent's flag: it gets its own private directory instead.
    flags = os.environ.get("TF_XLA_FLAGS", "")
    inherited = os.environ.pop(_PRIVATE_VAR, None)
    if inherited:
        flags = " ".join(f for f in flags.split() if f != f"{_FLAG}={inherited}")
        os.environ["TF_XLA_FLAGS"] = flags
    if _FLAG in flags:  # the user's own cache
        return None
    shared = shared_dir()
    if shared is None:
        return None
    try:
        shared.mkdir(parents=True, exist_ok=True)
        _remove_dead_private_dirs(shared.parent)
        private = Path(tempfile.mkdtemp(prefix=f"{_PRIVATE_PREFIX}{os.getpid()}-", dir=shared.parent))
    except OSError:  # read-only home, full disk, ...: run without the cache
        return None
    try:
        for entry in shared.iterdir():
            if entry.is_file():
                _link_or_copy(entry, private / entry.name)
    except OSError:
        shutil.rmtree(private, ignore_errors=True)
        return None
    os.environ["TF_XLA_FLAGS"] = f"{flags} {_FLAG}={private}".strip()
    os.environ[_PRIVATE_VAR] = str(private)
    _session = (private, shared)
    atexit.register(publish)
    return private


def publish() -> int:
    """Link the entries this process compiled into the shared cache and remove the private
    directory; return how many entries were added. Safe to call more than once; never raises
    (a failure only loses cache entries)."""
    global _session
    if _session is None:
        return 0
    private, shared = _session
    _session = None
    added = 0
    try:
        for entry in private.iterdir():
            if entry.is_file():
                try:
                    os.link(entry, shared / entry.name)  # atomic: the entry appears complete or not at all
                    added += 1
                except FileExistsError:  # another process published the same program
                    pass
    except OSError:
        pass
    shutil.rmtree(private, ignore_errors=True)
    _prune(shared)
    return added


def _prune(shared: Path) -> None:
    """Remove the oldest entries (by modification time) until the cache holds at most
    :data:`MAX_BYTES`. A process that linked a removed entry keeps its own link; one that starts
    later compiles that program again."""
    try:
        entries = sorted(((e.stat(), e) for e in shared.iterdir() if e.is_file()), key=lambda se: se[0].st_mtime)
    except OSError:
        return
    total = sum(s.st_size for s, _ in entries)
    for s, entry in entries:
        if total <= MAX_BYTES:
            break
        entry.unlink(missing_ok=True)
        total -= s.st_size


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)


def _remove_dead_private_dirs(parent: Path) -> None:
    """Remove private directories whose process no longer runs (it was killed before
    :func:`publish`)."""
    from .files import _pid_alive

    for d in parent.glob(f"{_PRIVATE_PREFIX}*"):
        pid = d.name[len(_PRIVATE_PREFIX):].split("-", 1)[0]
        if d.is_dir() and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
