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
