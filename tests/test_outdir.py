"""The output directory of ``vae-tf train`` (vae_tf.app.outdir): a ``filelock`` lock that refuses a
second run and names the first one's process, stale temporary files removed under the lock, and
no directory left behind by a run that wrote nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from vae_tf.app.outdir import LOCK_FILE, OWNER_FILE, OutDirError, claimed


def test_a_claimed_directory_is_refused_to_a_second_claim_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    with claimed(out, resume=False, overwrite=False):
        assert (out / OWNER_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(OutDirError, match=rf"in use by another vae-tf run \(process {os.getpid()}\)"):
            with claimed(out, resume=False, overwrite=False):
                pass
        (out / "history.json").write_text("{}")  # the run wrote something: the directory stays
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, "history.json"]  # the owner file goes
    with claimed(out, resume=True, overwrite=False):  # released: the next run gets it
        pass


def test_another_process_holding_the_lock_is_named_and_its_end_frees_the_directory(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from vae_tf.app.outdir import claimed
            with claimed({str(out)!r}, resume=False, overwrite=False):
                print("held", flush=True)
                sys.stdin.readline()
            """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutDirError, match=rf"\(process {holder.pid}\)"):
            with claimed(out, resume=False, overwrite=False):
                pass
    finally:
        holder.kill()  # like SIGKILL mid-run: the OS lock dies with the process
        holder.wait()
    with claimed(out, resume=True, overwrite=False) as got:
        assert got == out


def test_temps_in_a_claimed_directory_are_stale_whatever_process_id_they_name(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "kill", lambda *a: pytest.fail("no process is probed"))
    out = tmp_path / "run"
    (out / "checkpoint").mkdir(parents=True)
    temps = [out / f".model.keras.{os.getppid()}.tmp.keras", out / "checkpoint" / ".state.json.1.tmp"]
    for p in temps:
        p.write_text("partial")
    with claimed(out, resume=True, overwrite=False):
        assert not any(p.exists() for p in temps)


def test_a_directory_created_for_a_run_that_wrote_nothing_is_removed(tmp_path):
    out = tmp_path / "never"
    with claimed(out, resume=False, overwrite=False):
        assert out.is_dir()
    assert not out.exists()
