"""``specnorm prepare`` command line."""

import json

import pytest

from specnorm.cli import main as specnorm_main
from specnorm.data.cli import main


def test_prepare_prints_the_manifest(tmp_path, capsys):
    assert main(["--dataset", "digits", "--root", str(tmp_path)]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["name"] == "digits" and manifest["shape"] == [1797, 3, 16, 16]
    assert (tmp_path / "digits" / "images.npy").is_file()
    assert specnorm_main(["prepare", "--dataset", "digits", "--root", str(tmp_path)]) == 0  # dispatched, idempotent
    assert json.loads(capsys.readouterr().out) == manifest


def test_missing_source_is_an_error_exit(tmp_path, capsys):
    assert main(["--dataset", "cifar10", "--root", str(tmp_path), "--no-download"]) == 1
    err = capsys.readouterr().err
    assert "cifar-10-python.tar.gz" in err and "--no-download" in err


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--source" in capsys.readouterr().out
