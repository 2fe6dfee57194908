"""Cell-config validation: finite numbers, stated bounds, strict YAML, one identity digest."""

import pytest

from specnorm import config
from specnorm.config import ConfigError
from specnorm.grid import identity_config

TINY = {"model": {"mg": 2}}


@pytest.mark.parametrize("section,key,value", [
    ("norm", "scale", ".inf"), ("optim", "d_lr", ".inf"), ("model", "width", ".inf"),
    ("optim", "g_lr", "-.inf"), ("loss", "gp_weight", ".nan"),
])
def test_non_finite_numbers_are_refused(tmp_path, section, key, value):
    path = tmp_path / "cell.yaml"
    path.write_text(f"{section}:\n  {key}: {value}\n")
    with pytest.raises(ConfigError, match=rf"'{section}\.{key}': must be a finite number"):
        config.load(path)


@pytest.mark.parametrize("bad,key,bound", [
    ({"train": {"d_batch": 100_000_000, "g_batch": 100_000_000}}, "train.d_batch", "65,536"),
    ({"train": {"iterations": 2_000_000_000}}, "train.iterations", "1,000,000,000"),
    ({"model": {"mg": 2, "width": 65.0}}, "model.width", "64"),
    ({"model": {"mg": 2, "z_dim": 5000}}, "model.z_dim", "4,096"),
    ({"log": {"n_samples": 20_000}}, "log.n_samples", "10,000"),
    ({"eval": {"batch_size": 10**6}}, "eval.batch_size", "65,536"),
])
def test_absurd_sizes_are_refused_with_the_bound(bad, key, bound):
    with pytest.raises(ConfigError, match=rf"'{key}'.*{bound}"):
        config.from_dict(bad)


def test_a_float_iteration_count_is_not_an_integer(tmp_path):
    path = tmp_path / "cell.yaml"
    path.write_text("train:\n  iterations: 1e20\n")
    with pytest.raises(ConfigError, match="'train.iterations': must be an integer"):
        config.load(path)


def test_duplicate_yaml_keys_are_refused_naming_key_and_line(tmp_path):
    path = tmp_path / "cell.yaml"
    path.write_text("norm:\n  mode: sn\n  scale: 1.0\n  mode: bsn\n")
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert "duplicate key 'mode'" in str(e.value) and "line 4" in str(e.value) and "line 2" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("device", ["cudaXYZ", "gpu", "cuda:x", "cpu0"])
def test_malformed_devices_are_refused(device):
    with pytest.raises(ConfigError, match="'device'"):
        config.from_dict({**TINY, "device": device})


def test_identity_digest_ignores_execution_keys_only():
    a = config.from_dict({**TINY, "device": "cpu", "log": {"progress": "lines"}, "dataset": {"root": "/x"}})
    b = config.from_dict({**TINY, "device": "auto"})
    assert a.digest() != b.digest() and a.identity_digest() == b.identity_digest()
    assert identity_config(a) == a.identity() == b.identity()
    assert config.from_dict({**TINY, "norm": {"scale": 2.0}}).identity_digest() != b.identity_digest()


# -- issue 21: hostile values end in one short line, bounds say what they protect -----------------
def _bomb_config(levels: int = 9) -> str:
    """A cell config whose dataset name is a 'billion laughs' (9⁹ strings from a few hundred bytes)."""
    items = ["&a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    items += [f"&a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "dataset:\n  name: [" + ", ".join(items) + "]\n"


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))


def test_an_alias_bomb_ends_fast_in_one_line_with_bounded_memory(tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb_config())
    assert len(path.read_bytes()) < 450
    res = subprocess.run([sys.executable, "-m", "specnorm.cli", "train", "--config", str(path), "--out",
                          str(tmp_path / "run")], capture_output=True, text=True, timeout=120,
                         preexec_fn=_limit_memory, env=dict(os.environ, SPECNORM_THREADS="1"))
    lines = res.stderr.splitlines()
    assert res.returncode == 2 and len(lines) == 1 and len(lines[0]) < 400, res.stderr[-2000:]
    assert "aliases" in lines[0] and str(path) in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("data,key", [
    ({"dataset": {"name": "x" * 5_000_000}}, "dataset.name"),
    ({"model": {"arch": ["cnn"] * 1_000_000}}, "model.arch"),
    ({"norm": {"mode": "y" * 100_000}}, "norm.mode"),
    ({"train": {"iterations": "1" * 100_000}}, "train.iterations"),
    ({"eval": {"n_gen": [[0] * 1000] * 1000}}, "eval.n_gen"),
])
def test_an_error_shows_a_huge_value_truncated(data, key):
    with pytest.raises(ConfigError) as e:
        config.from_dict(data)
    msg = str(e.value)
    assert f"'{key}'" in msg and "…" in msg and len(msg) < 400 and "\n" not in msg


def test_a_huge_unknown_key_is_shown_truncated():
    with pytest.raises(ConfigError) as e:
        config.from_dict({"model": {"k" * 1_000_000: 1}})
    assert "unknown key" in str(e.value) and len(str(e.value)) < 400


@pytest.mark.parametrize("text,expected", [
    ("? [a, b]\n: 1\n", "a sequence"),
    ("1: 2\na: 3\n", "config key '1': unknown key"),
    ("model:\n  null: 4\n", "config key 'model.None': unknown key"),
])
def test_keys_that_are_not_names_are_one_line_errors(tmp_path, text, expected):
    path = tmp_path / "cell.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert expected in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("width", [1e-300, 0.01, 1 / 65])
def test_a_width_below_one_sixty_fourth_is_refused_with_the_reason(width):
    with pytest.raises(ConfigError) as e:
        config.from_dict({"model": {"mg": 2, "width": width}})
    assert "'model.width'" in str(e.value) and "1/64" in str(e.value) and "one channel" in str(e.value)


def test_the_narrowest_width_accepted_keeps_one_channel_per_narrowest_layer():
    assert config.from_dict({"model": {"mg": 2, "width": 1 / 64}}).model.width == config.MIN_WIDTH == 1 / 64


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "null\n", "~\n", "{}\n", "---\n"])
def test_an_empty_or_null_config_is_refused(tmp_path, text):
    path = tmp_path / "cell.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert f"{path}" in str(e.value) and "no settings" in str(e.value)


@pytest.mark.parametrize("key", ["n_gen", "n_is"])
def test_an_evaluation_sample_count_beyond_the_bound_is_refused_with_the_reason(key):
    with pytest.raises(ConfigError) as e:
        config.from_dict({"eval": {key: 10_000_000}})
    assert f"'eval.{key}'" in str(e.value) and "100,000" in str(e.value) and "50,000" in str(e.value)
    assert config.from_dict({"eval": {key: 100_000}})
