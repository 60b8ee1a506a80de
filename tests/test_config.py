"""Config layering, coercion and one-line errors: build_config, parse_overrides, load_yaml."""

import contextlib
import dataclasses
import re

import pytest

from rayrl.algorithms.impala.config import VECTOR_PRESET, ImpalaConfig
from rayrl.config import CommonConfig, build_config, load_yaml, parse_overrides
from rayrl.errors import RayrlError


@contextlib.contextmanager
def one_line_error(match: str):
    """``pytest.raises(RayrlError, match=...)`` that also checks the message is a single line."""
    with pytest.raises(RayrlError, match=match) as info:
        yield info
    assert "\n" not in str(info.value)


def write(tmp_path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_no_layers_gives_the_dataclass_defaults():
    assert build_config(ImpalaConfig) == ImpalaConfig()


def test_later_layers_win_and_untouched_keys_keep_earlier_values():
    config = build_config(ImpalaConfig, VECTOR_PRESET, {"lr": 2e-3, "num_workers": 3}, {"lr": 5e-4})
    assert config.lr == 5e-4
    assert config.num_workers == 3
    assert config.optimizer == VECTOR_PRESET["optimizer"] == "adam"
    assert config.gamma == ImpalaConfig().gamma


def test_unknown_key_suggests_the_closest_known_key():
    with one_line_error(r"unknown config key 'lrr' for ImpalaConfig; did you mean 'lr'\?"):
        build_config(ImpalaConfig, {"gamma": 0.9}, {"lrr": 1e-3})


def test_unknown_key_without_a_close_match_lists_the_known_keys():
    with one_line_error(r"unknown config key 'zzzzzz'.*known keys: .*num_workers"):
        build_config(CommonConfig, {"zzzzzz": 1})


@pytest.mark.parametrize(
    "key, value",
    [("num_workers", "x"), ("num_workers", 2.5), ("num_workers", True), ("lr", "fast"), ("lr", False),
     ("env", 3), ("hidden_sizes", 64), ("env_kwargs", [1, 2])],
)
def test_value_of_the_wrong_type_names_the_key(key, value):
    with one_line_error(re.escape(f"bad value for config key '{key}': {value!r} is not of type")):
        build_config(ImpalaConfig, {key: value})


@pytest.mark.parametrize(
    "cls, key, value",
    [(ImpalaConfig, "lr", -1e-3), (ImpalaConfig, "lr", 0), (CommonConfig, "num_workers", 0),
     (ImpalaConfig, "gamma", 1.5), (ImpalaConfig, "gamma", -0.1), (ImpalaConfig, "optimizer", "adagrad"),
     (ImpalaConfig, "rollout_length", 0), (CommonConfig, "learner_gpus", -0.5), (CommonConfig, "learner_gpus", -1)],
)
def test_out_of_range_value_names_the_key(cls, key, value):
    with one_line_error(f"bad value for config key '{key}'"):
        build_config(cls, {key: value})


def test_learner_gpus_is_a_count_or_null_for_one_when_the_cluster_has_one():
    assert build_config(CommonConfig, {}).learner_gpus is None
    assert build_config(CommonConfig, parse_overrides(["learner_gpus=null"])).learner_gpus is None
    assert build_config(CommonConfig, parse_overrides(["learner_gpus=0.25"])).learner_gpus == 0.25


@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_gamma_bounds_are_inclusive(gamma):
    assert build_config(ImpalaConfig, {"gamma": gamma}).gamma == gamma


def test_int_becomes_float_and_list_becomes_tuple():
    config = build_config(ImpalaConfig, {"lr": 1, "hidden_sizes": [32, 16]})
    assert config.lr == 1.0 and type(config.lr) is float
    assert config.hidden_sizes == (32, 16) and type(config.hidden_sizes) is tuple
    hash(config.hidden_sizes)  # hashable, unlike the list it came from


def test_numeric_string_becomes_float_for_float_keys():
    assert build_config(ImpalaConfig, {"lr": "3e-4"}).lr == 3e-4


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ImpalaConfig().lr = 1.0


@pytest.mark.parametrize(
    "pair, key, value",
    [("num_workers=4", "num_workers", 4), ("lr=0.001", "lr", 0.001), ("hidden_sizes=[32,32]", "hidden_sizes", [32, 32]),
     ("env=ALE/Pong-v5", "env", "ALE/Pong-v5"), ("env_kwargs={a: 1}", "env_kwargs", {"a": 1}),
     (" gamma =0.5", "gamma", 0.5), ("env=", "env", "")],
)
def test_parse_overrides_parses_values_as_yaml(pair, key, value):
    assert parse_overrides([pair]) == {key: value}


def test_parse_overrides_reads_exponent_notation_without_a_dot_as_a_float():
    assert parse_overrides(["lr=3e-4"]) == {"lr": 0.0003}


def test_overrides_in_exponent_notation_still_build_a_float_config():
    assert build_config(ImpalaConfig, parse_overrides(["lr=3e-4"])).lr == 3e-4


def test_later_overrides_of_the_same_key_win():
    assert parse_overrides(["lr=0.1", "num_workers=2", "lr=0.2"]) == {"lr": 0.2, "num_workers": 2}


@pytest.mark.parametrize("pair", ["lr", "=3", ""])
def test_malformed_override_is_a_one_line_error(pair):
    with one_line_error("bad override"):
        parse_overrides([pair])


def test_load_yaml_reads_a_mapping_that_builds_a_config(tmp_path):
    data = load_yaml(write(tmp_path, "lr: 0.002\nhidden_sizes: [8, 8]\nenv: Pendulum-v1\n"))
    assert data == {"lr": 0.002, "hidden_sizes": [8, 8], "env": "Pendulum-v1"}
    assert build_config(ImpalaConfig, data).hidden_sizes == (8, 8)


def test_load_yaml_of_an_empty_file_is_an_empty_mapping(tmp_path):
    assert load_yaml(write(tmp_path, "")) == {}


def test_load_yaml_missing_file_is_a_one_line_error(tmp_path):
    with one_line_error("config file not found"):
        load_yaml(str(tmp_path / "nope.yaml"))


def test_load_yaml_invalid_yaml_is_a_one_line_error(tmp_path):
    with one_line_error("is not valid YAML"):
        load_yaml(write(tmp_path, "lr: [1, 2\nnum_workers: {\n"))


@pytest.mark.parametrize("text", ["- lr\n- gamma\n", "just a string\n", "42\n"])
def test_load_yaml_non_mapping_is_a_one_line_error(tmp_path, text):
    with one_line_error("must hold a mapping"):
        load_yaml(write(tmp_path, text))


@pytest.mark.parametrize("text", ["[]\n", "0\n", "false\n"])
def test_load_yaml_falsy_non_mapping_is_a_one_line_error(tmp_path, text):
    with one_line_error("must hold a mapping"):
        load_yaml(write(tmp_path, text))


@pytest.mark.parametrize("kind", ["directory", "binary_file"])
def test_load_yaml_unreadable_path_is_a_one_line_error(tmp_path, kind):
    path = tmp_path / "config.yaml"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"\xff\xfe\x00lr: 1\n")
    with one_line_error("config file"):
        load_yaml(str(path))
