"""``specnorm score --real``: Table 1's Real-data row on the built-in dataset, with small counts."""

import json

from specnorm.catalog import DEFAULT_DATASET
from specnorm.cli import main as specnorm_main


def test_score_real_writes_the_scores_with_their_protocol(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["score", "--real", "--dataset", DEFAULT_DATASET, "--device", "cpu", "--n-gen", "300", "--n-real", "200",
            "--n-is", "400", "--is-splits", "4", "--resources", str(tmp_path / "res")]
    assert specnorm_main(argv) == 0, capsys.readouterr().err
    out = json.loads((tmp_path / "results" / "real" / f"{DEFAULT_DATASET}-paper.json").read_text())
    prot = out["protocol"]
    assert out["dataset"] == DEFAULT_DATASET and out["row"] == "Real data"
    assert (prot["protocol"], prot["n_gen"], prot["n_real"], prot["n_is"], prot["is_splits"], prot["seed"]) == (
        "paper", 300, 200, 400, 4, 0)
    assert len(prot["extractor_sha256"]) == 64 and prot["extractor"] and prot["resize"].startswith("float->")
    assert prot["reference"] == f"{DEFAULT_DATASET}-train-subset(200)"  # drawn by seed 0
    scores = {s["metric"]: s for s in out["scores"]}
    assert set(scores) == {"fid", "is", "is_std", "precision", "recall", "density", "coverage"}
    assert scores["recall"]["images"] == scores["fid"]["images"] and scores["recall"]["n_real"] == 200
    assert scores["fid"]["images"] == f"{DEFAULT_DATASET}-train-disjoint-subset(300,seed=0)"
    assert scores["fid"]["reference"] == prot["reference"] and scores["is"]["n_gen"] == 400
    assert 0 <= scores["fid"]["value"] < 5 and scores["is"]["value"] > 1  # real vs real: near 0; real IS: high
    # same seed, same numbers (the reference statistics now come from the cache)
    assert specnorm_main(argv) == 0
    again = json.loads((tmp_path / "results" / "real" / f"{DEFAULT_DATASET}-paper.json").read_text())
    assert again["scores"] == out["scores"]


def test_score_real_names_an_unknown_dataset(tmp_path, capsys):
    assert specnorm_main(["score", "--real", "--dataset", "nonesuch", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "nonesuch" in err and len(err.strip().splitlines()) == 1
