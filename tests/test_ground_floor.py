"""The torch-free ground floor: vocabulary, registries, one YAML reader, provenance."""

import subprocess
import sys

import pytest

from specnorm import catalog, vocab
from specnorm.io import read_yaml


def test_config_grid_report_import_without_torch():
    code = ("import specnorm.config, specnorm.grid, specnorm.report, specnorm.rundir, specnorm.catalog, sys; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')); "
            "assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("argv", [["plan", "--help"], ["plan", "--set", "paper", "--datasets", "cifar10", "stl10", "mnist"],
                                  ["cells", "--set", "demo"]])  # paper: without the datasets that need `sources:`
def test_plan_and_cells_commands_import_no_torch(argv):
    code = ("import runpy, sys; sys.argv = ['specnorm', *sys.argv[1:]]; from specnorm.cli import main\n"
            "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
            "assert 'torch' not in sys.modules, 'torch imported'\nsys.exit(rc or 0)")
    res = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]


def test_dataset_catalogue_says_builtin_once():
    builtin = [n for n, i in catalog.DATASETS.items() if i.builtin]
    assert builtin == [catalog.DEFAULT_DATASET]
    assert catalog.is_builtin(catalog.DEFAULT_DATASET) and not catalog.is_builtin("cifar10")
    assert not catalog.is_builtin("no-such-dataset")
    kinds = {n: i.source_kind for n, i in catalog.DATASETS.items()}
    assert kinds["cifar10"] == "download" and kinds["celeba"] == "manual" and kinds["imagenet"] == "manual"
    assert all(i.label and i.reader.startswith("specnorm.data.sources:") for i in catalog.DATASETS.values())
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        catalog.get_info("nope")


def test_the_one_auto_extractor_rule():
    for name, info in catalog.DATASETS.items():
        assert catalog.resolve_extractor("auto", name) == info.extractor
    assert catalog.resolve_extractor("auto", "cifar10") == "inception"
    assert catalog.resolve_extractor("auto", catalog.DEFAULT_DATASET) == "digits"
    assert catalog.resolve_extractor("inception", catalog.DEFAULT_DATASET) == "inception"
    with pytest.raises(KeyError, match="unknown extractor"):
        catalog.resolve_extractor("vgg", "cifar10")
    assert catalog.EXTRACTOR_CHOICES == ("auto", "inception", "digits")


def test_registries_accept_new_entries_by_name(monkeypatch):
    monkeypatch.setattr(catalog, "EXTRACTORS", dict(catalog.EXTRACTORS))
    monkeypatch.setattr(catalog, "DATASETS", dict(catalog.DATASETS))
    info = catalog.register_extractor(catalog.ExtractorInfo("toy", "builtins:dict", "a toy extractor"))
    assert catalog.get_extractor("toy") is info and info.build(a=1) == {"a": 1}  # imported by name on use
    ds = catalog.register_dataset(catalog.DatasetInfo("toy", 8, 1, 10, "toy", "none", extractor="toy"))
    assert catalog.get_info("toy") is ds and catalog.resolve_extractor("auto", "toy") == "toy"


def test_registered_builders_resolve():
    import importlib

    for info in [*catalog.EXTRACTORS.values()]:
        module, _, func = info.builder.partition(":")
        assert callable(getattr(importlib.import_module(module), func)), info.builder
    for info in catalog.DATASETS.values():
        module, _, func = info.reader.partition(":")
        assert callable(getattr(importlib.import_module(module), func)), info.reader


def test_vocabulary_matches_its_implementations():
    from specnorm.losses import LOSSES
    from specnorm.nn import Normalization

    assert tuple(LOSSES) == vocab.LOSSES
    assert catalog.norm_names() == ("none", "sn", "bsn", "sn_conv")
    for name in catalog.norm_names():  # every registered normalization names a Normalization class
        info = catalog.get_norm(name)
        assert info.impl is None if name == "none" else issubclass(info.load(), Normalization)
    assert [catalog.get_norm(m).label for m in catalog.norm_names()] == ["no-SN", "SN", "BSN", "SN_Conv"]


def test_metric_labels_never_call_another_network_inception():
    assert vocab.metric_label("fid", "inception-2015-12-05") == "FID"
    assert vocab.metric_label("is_std", "inception-2015-12-05") == "IS std"
    assert vocab.metric_label("is", "digits") == "digits-IS"


def test_one_seed_derivation():
    from specnorm.metrics.protocol import eval_seed

    assert vocab.stream_seed(3, "init") != vocab.stream_seed(3, "data") != vocab.stream_seed(4, "data")
    assert eval_seed(3, "kid") == vocab.stream_seed(3, "eval/kid")
    assert 0 <= vocab.stream_seed(2**40, "x") < 2**63


def test_read_yaml_names_the_file_and_the_problem(tmp_path):
    class Bad(ValueError):
        pass

    p = tmp_path / "c.yaml"
    with pytest.raises(Bad, match=r"cell config .*c\.yaml does not exist"):
        read_yaml(p, "cell config", Bad)
    p.write_text("a: [1, 2\n")
    with pytest.raises(Bad, match="is not valid YAML"):
        read_yaml(p, "cell config", Bad)
    with pytest.raises(Bad, match="is a folder"):
        read_yaml(tmp_path, "cell config", Bad)
    p.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(Bad, match="not a text file"):
        read_yaml(p, "cell config", Bad)
    p.write_text("a: 1\n")
    assert read_yaml(p, "cell config", Bad) == {"a": 1}


def test_provenance_without_torch(monkeypatch):
    from specnorm import provenance

    v = provenance.versions("numpy", "no-such-package-xyz")
    assert v["no-such-package-xyz"] == "not installed" and v["specnorm"] and v["python"]
    monkeypatch.setenv("SPECNORM_GIT_COMMIT", "abc123")
    assert provenance.git_commit() == "abc123"


def test_schema_ships_inside_the_package():
    from specnorm.grid import SCHEMA

    assert SCHEMA.is_file() and "specnorm" in SCHEMA.parts and "workflow" not in SCHEMA.parts


def test_variant_families_are_said_once_with_the_registry_labels():
    assert vocab.FAMILY_ORDER == ("SN", "BSN", "SN_Conv", "LeCun", "no-SN", "SN+γ(same)", "SN+γ(diff)")
    assert (vocab.SN, vocab.BSN, vocab.SN_CONV, vocab.NO_SN) == tuple(
        catalog.get_norm(m).label for m in ("sn", "bsn", "sn_conv", "none"))
    assert vocab.SCALED == {"SSN": vocab.SN, "BSSN": vocab.BSN}


def test_the_metric_table_gives_the_kept_generators_and_what_each_is_rescored_on():
    from specnorm import rundir

    knn = ("precision", "recall", "density", "coverage")
    assert vocab.METRICS == ("is", "fid", "kid", *knn) and vocab.MANIFOLD_METRICS == knn
    assert vocab.HIGHER_IS_BETTER == {"is": True, "fid": False, "kid": False, **dict.fromkeys(knn, True)}
    assert rundir.GENERATORS == ("best_is", "best_fid", "final")  # the k-NN metrics keep no generator of their own
    assert rundir.RESCORED_ON == {"is": "best_is", "is_std": "best_is", "fid": "best_fid", "kid": "best_fid",
                                  **dict.fromkeys(knn, "best_fid")}
