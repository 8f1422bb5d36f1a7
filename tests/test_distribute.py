"""tf.distribute: helpers in-process; training under MirroredStrategy (2 logical CPUs) and
MultiWorkerMirroredStrategy (2 workers on 127.0.0.1) in subprocesses, because TensorFlow's
device split must be set before it initialises and this process has already initialised it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae_tf import distribute

CHECKS = Path(__file__).with_name("distribute_checks.py")


def _env(**extra) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", **extra)
    env.pop(distribute.TF_CONFIG_VAR, None)
    env.update(extra)
    return env


def _result(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def _run_check(*args, timeout=400) -> dict:
    proc = subprocess.run(
        [sys.executable, str(CHECKS), *args], env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return _result(proc.stdout)


def _assert_terms_sum(logs: dict, weights: dict) -> None:
    if weights:
        assert logs["loss"] == pytest.approx(sum(w * logs[k] for k, w in weights.items()), rel=1e-5)


# ----------------------------------------------------------------- helpers, in-process
@pytest.fixture
def no_tf_config(monkeypatch):
    monkeypatch.delenv(distribute.TF_CONFIG_VAR, raising=False)


def _cluster(monkeypatch, kind: str, index: int, chief: bool = False) -> None:
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    if chief:
        cluster["chief"] = ["127.0.0.1:3"]
    config = {"cluster": cluster, "task": {"type": kind, "index": index}}
    monkeypatch.setenv(distribute.TF_CONFIG_VAR, json.dumps(config))


def test_strategy_names_and_errors(no_tf_config):
    assert distribute.strategy_from_name("none").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="choose one of"):
        distribute.strategy_from_name("horovod")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.strategy_from_name("multi-worker")
    with pytest.raises(ValueError, match="'mirrored' only"):
        distribute.strategy_from_name("multi-worker", logical_cpus=2)


def test_logical_cpus_after_initialisation_says_when_to_call():
    import tensorflow as tf

    tf.constant(1.0)  # TensorFlow is initialised in this process
    n = len(tf.config.list_logical_devices("CPU"))
    assert len(distribute.use_logical_cpus(n)) == n  # the split in effect: no-op
    with pytest.raises(RuntimeError, match="before any other TensorFlow work"):
        distribute.use_logical_cpus(n + 1)
    with pytest.raises(ValueError):
        distribute.use_logical_cpus(0)


def test_bad_tf_config_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(distribute.TF_CONFIG_VAR, "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        distribute.tf_config()
    monkeypatch.setenv(distribute.TF_CONFIG_VAR, '{"cluster": {}}')
    with pytest.raises(ValueError, match="'cluster' and 'task'"):
        distribute.tf_config()


@pytest.mark.parametrize(
    "kind, index, chief, expected",
    [("worker", 0, False, True), ("worker", 1, False, False), ("worker", 0, True, False), ("chief", 0, True, True)],
)
def test_chief_rule(monkeypatch, kind, index, chief, expected):
    _cluster(monkeypatch, kind, index, chief)
    assert distribute.is_chief() is expected
    assert distribute.task() == (kind, index)


def test_only_the_chief_keeps_its_file_and_each_worker_its_backup(monkeypatch, tmp_path, no_tf_config):
    assert distribute.is_chief() and distribute.backup_dir(tmp_path) == tmp_path
    for index in (0, 1):
        _cluster(monkeypatch, "worker", index)
        with distribute.chief_path(tmp_path / "model.keras") as target:
            target.write_text(f"worker {index}")
        assert distribute.backup_dir(tmp_path / "backup") == tmp_path / "backup" / f"worker-{index}"
    assert (tmp_path / "model.keras").read_text() == "worker 0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_global_batch_size(no_tf_config):
    assert distribute.global_batch_size(64) == 64
    with pytest.raises(ValueError, match="global batch"):
        distribute.global_batch_size(0)


def test_global_mean_on_one_device_is_the_mean(rng):
    values = rng.normal(size=7).astype("float32")
    assert float(distribute.global_mean(values)) == pytest.approx(float(np.mean(values)), rel=1e-6)


def test_compile_runs_one_step_per_execution_under_a_strategy():
    import tensorflow as tf

    import vae_tf

    def vae():
        return vae_tf.VAE(vae_tf.build_encoder(hidden_units=(8,)), vae_tf.build_decoder(hidden_units=(8,)))

    plain = vae()
    plain.compile()
    assert plain.steps_per_execution == vae_tf.models.DEFAULT_STEPS_PER_EXECUTION
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        inside = vae()
        inside.compile()
        built_inside = vae()
    assert inside.steps_per_execution == 1 and inside.jit_compile is False
    with pytest.warns(UserWarning, match="keras-team/keras#19246"):
        built_inside.compile(steps_per_execution=8)  # compiled outside the scope: still distributed
    assert built_inside.steps_per_execution == 1


# ----------------------------------------------------------------- MirroredStrategy, 2 logical CPUs
def test_two_replicas_equal_one_device():
    """One SGD step (8 examples) and an uneven epoch (8 + 5 examples, 3 + 2 per replica) on 2
    replicas give the weights and logged metrics of one device, from the same weights and
    noise. SGD: an aggregation error by a constant factor would be hidden by Adam/RMSprop."""
    result = _run_check("equivalence")
    assert result["replicas"] == 2
    for case in ("step", "uneven_epoch"):
        r = result[case]
        assert r["steps_per_execution"] == 1
        assert r["max_update"] > 1e-3  # the step moved the weights: the comparison can fail
        assert r["max_weight_diff"] < 1e-5, case
        for name, value in r["one_device"].items():
            assert r["two_replicas"][name] == pytest.approx(value, rel=1e-5), (case, name)
        _assert_terms_sum(r["two_replicas"], {"reconstruction_loss": 1.0, "kl_loss": 0.5})


def test_every_model_trains_evaluates_saves_and_loads_under_mirrored(tmp_path):
    result = _run_check("family", str(tmp_path))
    assert set(result) == {"VAE", "ConditionalVAE", "AuxiliaryClassifierVAE", "Autoencoder"}
    for name, r in result.items():
        assert r["replicas"] == 2 and r["steps_per_execution"] == 1, name
        assert r["loaded_class"] == name and r["loaded_weights_equal"], name
        assert np.isfinite(r["history"]["loss"]) and np.isfinite(r["evaluate"]["loss"]), name
        _assert_terms_sum(r["history"], r["loss_weights"])
        _assert_terms_sum(r["evaluate"], r["loss_weights"])
        assert set(r["loaded_evaluate"]) == set(r["evaluate"]), name


# ----------------------------------------------------------------- MultiWorkerMirroredStrategy
def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_localhost(tmp_path):
    import keras

    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    procs = []
    try:
        for index in range(2):
            config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            env = _env(**{distribute.TF_CONFIG_VAR: json.dumps(config)})
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(CHECKS), "worker", str(tmp_path)],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                )
            )
        outputs = [p.communicate(timeout=400)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    results = [_result(o) for o in outputs]
    assert [r["chief"] for r in results] == [True, False]
    assert all(r["replicas"] == 2 and r["steps_per_execution"] == 1 for r in results)
    assert results[0]["history"] == results[1]["history"]  # metrics all-reduced over workers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]  # the chief's only
    model = keras.models.load_model(tmp_path / "model.keras")
    assert type(model).__name__ == "VAE"
