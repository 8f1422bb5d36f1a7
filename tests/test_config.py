"""The run configuration (``vae_tf.app.config.RunConfig``) and the option parser built on its rules."""

import dataclasses

import pytest

from vae_tf.app import cli
from vae_tf.core.architectures import ARCHITECTURES
from vae_tf.app.config import ConfigError, RunConfig, check_value
from vae_tf.core.losses import LIKELIHOODS


def test_defaults_quick_variant_and_what_is_fixed_on_resume():
    full, quick = RunConfig.defaults(), RunConfig.defaults(quick=True)
    assert (full.arch, full.latent_dim, full.epochs, full.train_size, full.quick) == ("mlp", 2, 30, None, False)
    assert (quick.epochs, quick.train_size, quick.test_size, quick.quick) == (2, 2000, 1000, True)
    assert dataclasses.replace(quick, epochs=30, train_size=None, test_size=None, quick=False) == full
    assert RunConfig.from_options({"epochs": 5}, quick=True).epochs == 5  # explicit options win
    fixed = RunConfig.fixed_on_resume()
    assert "epochs" not in fixed and {"mixed_precision", "quick", "seed", "arch"} <= set(fixed)
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.epochs = 3


def test_round_trip_and_a_checkpoint_from_before_mixed_precision():
    config = RunConfig.from_options({"arch": "conv", "latent_dim": 16, "mixed_precision": True})
    assert RunConfig.from_dict(config.to_dict()) == config
    old = {k: v for k, v in RunConfig().to_dict().items() if k != "mixed_precision"}
    assert RunConfig.from_dict(old).mixed_precision is False


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("latent_dim", "2", "latent_dim must be an integer >= 1, got '2'"),
        ("epochs", True, "epochs must be an integer >= 1, got True"),
        ("epochs", 0, "epochs must be an integer >= 1, got 0"),
        ("seed", -1, "seed must be an integer >= 0"),
        ("beta", float("nan"), "beta must be a number >= 0"),
        ("learning_rate", None, "learning_rate must be a number > 0, got None"),
        ("val_fraction", 1, "val_fraction must be a number in (0, 1)"),
        ("conditional", 1, "conditional must be true or false, got 1"),
        ("arch", "resnet", "arch must be one of ('mlp', 'conv')"),
        ("train_size", 1, "train_size must be an integer >= 2"),
    ],
)
def test_wrong_types_and_ranges_are_refused(key, value, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        RunConfig.from_dict({**RunConfig().to_dict(), key: value})


def test_from_dict_refuses_missing_and_unknown_keys_and_non_objects():
    with pytest.raises(ConfigError, match="lacks"):
        RunConfig.from_dict({"arch": "mlp"})
    with pytest.raises(ConfigError, match=r"unknown keys \['colour'\]"):
        RunConfig.from_dict({**RunConfig().to_dict(), "colour": "red"})
    with pytest.raises(ConfigError, match="JSON object"):
        RunConfig.from_dict([1, 2])
    assert check_value("train_size", None) is None and check_value("learning_rate", 1) == 1


def test_resumed_with_allows_only_epochs_to_change():
    saved = RunConfig.defaults(quick=True)
    assert saved.resumed_with({"epochs": 7, "seed": 0}).epochs == 7
    with pytest.raises(ConfigError, match=r"--latent-dim 3 \(checkpoint: 2\); --mixed-precision True"):
        saved.resumed_with({"latent_dim": 3, "mixed_precision": True})


def test_parser_choices_and_checks_come_from_the_package():
    train = cli.build_parser()._subparsers._group_actions[0].choices["train"]
    actions = {a.dest: a for a in train._actions}
    assert tuple(actions["arch"].choices) == ARCHITECTURES and tuple(actions["likelihood"].choices) == LIKELIHOODS
    args = cli.build_parser().parse_args(["train", "--latent-dim", "4", "--mixed-precision", "--beta", "0.5"])
    request = cli.request_from_args(args)
    assert request.options == {"latent_dim": 4, "mixed_precision": True, "beta": 0.5}
    assert RunConfig.from_options(request.options).latent_dim == 4
