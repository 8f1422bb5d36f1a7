"""The persistent cache of XLA programs (``vae_tf.xla_cache``, issue 16): each process reads
links to the shared entries from a private directory and publishes what it compiled at exit; a
child process gets its own directory; the cache can be turned off; and a process that loads the
cached programs computes exactly the numbers of the process that compiled them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vae_tf import xla_cache

ROOT = Path(__file__).resolve().parent.parent
FLAG = "--tf_xla_persistent_cache_directory"


@pytest.fixture
def before_tensorflow(monkeypatch, tmp_path):
    """A process state as ``import vae_tf`` meets it: no session, the cache in
    ``tmp_path/cache``, one unrelated XLA flag of the user's."""
    monkeypatch.setenv("VAE_TF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_auto_jit=0")
    monkeypatch.setenv(xla_cache.ENV_VAR, "1")  # the cache is opt-in
    monkeypatch.delenv(xla_cache._PRIVATE_VAR, raising=False)
    monkeypatch.setattr(xla_cache, "_session", None)
    monkeypatch.setattr(xla_cache.atexit, "register", lambda fn: None)  # this test's session only
    return tmp_path


def test_a_process_reads_links_to_the_shared_entries_and_publishes_its_new_ones(before_tensorflow):
    shared = xla_cache.shared_dir()
    assert shared.parent == before_tensorflow / "cache" / "xla" and shared.name.startswith("tf-")
    assert shared.name.endswith(f"-{xla_cache.cpu_key()}")  # never loaded on another processor
    shared.mkdir(parents=True)
    (shared / "old.pb").write_bytes(b"old")

    private = xla_cache.enable()
    assert private.parent == shared.parent and private.name.startswith(f"private-{os.getpid()}-")
    assert os.path.samefile(private / "old.pb", shared / "old.pb")  # a link, not a copy
    assert os.environ["TF_XLA_FLAGS"].split() == ["--tf_xla_auto_jit=0", f"{FLAG}={private}"]
    assert xla_cache.enable() == private  # once per process

    (private / "new.pb").write_bytes(b"new")  # what TensorFlow writes after a compile
    assert xla_cache.publish() == 1
    assert (shared / "new.pb").read_bytes() == b"new" and (shared / "old.pb").read_bytes() == b"old"
    assert not private.exists()
    assert xla_cache.publish() == 0


def test_a_child_process_gets_its_own_private_directory(before_tensorflow, monkeypatch):
    parent = xla_cache.enable()
    monkeypatch.setattr(xla_cache, "_session", None)  # a child: the parent's environment, a fresh module
    child = xla_cache.enable()
    flags = os.environ["TF_XLA_FLAGS"].split()
    assert child != parent and flags == ["--tf_xla_auto_jit=0", f"{FLAG}={child}"]


def test_the_cache_stays_off_unless_turned_on_and_when_owned_by_the_user_or_unwritable(before_tensorflow, monkeypatch):
    for off in (None, "", "0", "off"):  # off by default: TensorFlow logs error lines per loaded program
        if off is None:
            monkeypatch.delenv(xla_cache.ENV_VAR)
        else:
            monkeypatch.setenv(xla_cache.ENV_VAR, off)
        assert xla_cache.enable() is None and os.environ["TF_XLA_FLAGS"] == "--tf_xla_auto_jit=0"
    monkeypatch.setenv(xla_cache.ENV_VAR, "1")

    monkeypatch.setenv("TF_XLA_FLAGS", f"{FLAG}=/my/cache")
    assert xla_cache.enable() is None and os.environ["TF_XLA_FLAGS"] == f"{FLAG}=/my/cache"
    monkeypatch.setenv("TF_XLA_FLAGS", "")

    monkeypatch.setenv("VAE_TF_CACHE_DIR", "/proc/not-writable")
    assert xla_cache.enable() is None and os.environ["TF_XLA_FLAGS"] == ""


def test_the_shared_cache_keeps_to_its_size_limit_dropping_the_oldest_entries(before_tensorflow, monkeypatch):
    shared = xla_cache.shared_dir()
    shared.mkdir(parents=True)
    for i, name in enumerate(("oldest.pb", "older.pb")):
        (shared / name).write_bytes(b"x" * 100)
        os.utime(shared / name, (1_000_000 + i, 1_000_000 + i))
    monkeypatch.setattr(xla_cache, "MAX_BYTES", 250)
    private = xla_cache.enable()
    (private / "new.pb").write_bytes(b"x" * 100)  # 300 bytes in all: one entry must go
    assert xla_cache.publish() == 1
    assert sorted(p.name for p in shared.iterdir()) == ["new.pb", "older.pb"]


def test_private_directories_of_dead_processes_are_removed(before_tensorflow):
    parent = xla_cache.shared_dir().parent
    dead, alive = parent / "private-999999999-x", parent / f"private-{os.getpid()}-y"
    for d in (dead, alive):
        d.mkdir(parents=True)
        (d / "entry.pb").write_bytes(b"partial")
    xla_cache.enable()
    assert not dead.exists() and alive.exists()


SCRIPT = """
import json, sys
import keras, numpy as np  # TensorFlow starts before vae_tf: the cache still applies
import vae_tf
x = (np.random.default_rng(0).random((256, 28, 28, 1)) > 0.5).astype("float32")
keras.utils.set_random_seed(0)
vae = vae_tf.VAE(vae_tf.build_encoder(latent_dim=2, seed=0), vae_tf.build_decoder(latent_dim=2), seed=0)
vae.compile(optimizer="adam", jit_compile=True)
losses = vae.fit(x, batch_size=100, epochs=2, verbose=0, shuffle=False).history["loss"]
print(json.dumps({"losses": losses, "published": vae_tf.xla_cache.publish()}))
"""


def test_a_later_process_loads_the_compiled_programs_and_gets_the_same_numbers(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_XLA_FLAGS", xla_cache._PRIVATE_VAR)}
    env.update(VAE_TF_CACHE_DIR=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    env[xla_cache.ENV_VAR] = "1"

    def run() -> dict:
        proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    shared = next((tmp_path / "cache" / "xla").glob("tf-*"))
    entries = sorted(p.name for p in shared.iterdir())
    assert first["published"] == len(entries) >= 2  # the training step at batch 100 and at 56
    assert second["published"] == 0  # it loaded every program instead of compiling it
    assert second["losses"] == first["losses"]
    assert [p.name for p in shared.parent.iterdir()] == [shared.name]  # no private directory left


def test_the_cpu_key_names_the_instruction_set(monkeypatch):
    key = xla_cache.cpu_key()
    assert len(key) == 12 and int(key, 16) >= 0 and xla_cache.cpu_key() == key
    monkeypatch.setattr(xla_cache.platform, "machine", lambda: "another-architecture")
    assert xla_cache.cpu_key() != key
