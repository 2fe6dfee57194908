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
    assert scores["fid"]["column"]["n_gen"] == 300 and scores["fid"]["column"]["reference"] == prot["reference"]
    # same seed, same numbers (the reference statistics now come from the cache)
    assert specnorm_main(argv) == 0
    again = json.loads((tmp_path / "results" / "real" / f"{DEFAULT_DATASET}-paper.json").read_text())
    assert again["scores"] == out["scores"]


def test_score_real_names_an_unknown_dataset(tmp_path, capsys):
    assert specnorm_main(["score", "--real", "--dataset", "nonesuch", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "nonesuch" in err and len(err.strip().splitlines()) == 1


def test_a_whole_set_reference_is_split_and_every_column_is_scored(tmp_path, monkeypatch, capsys):
    """The digits set (1,797) is smaller than the paper's 5k reference: the reference is the whole set,
    so one seeded half is scored against the other (never the set against itself, FID ≈ 0); the
    ``--also-counts`` column (500 vs 500, IS on 500) is scored too, each against its own column key."""
    monkeypatch.chdir(tmp_path)
    argv = ["score", "--real", "--dataset", DEFAULT_DATASET, "--device", "cpu", "--n-gen", "2000", "--n-is", "600",
            "--is-splits", "3", "--also-counts", "500,500,500,5", "--resources", str(tmp_path / "res")]
    assert specnorm_main(argv) == 0, capsys.readouterr().err
    out = json.loads((tmp_path / "results" / "real" / f"{DEFAULT_DATASET}-paper.json").read_text())
    by = {(s["metric"], s["column"]["n_gen"]): s for s in out["scores"]}
    whole = by[("fid", 2000)]
    assert whole["column"]["reference"] == f"{DEFAULT_DATASET}-train(1797)" and whole["column"]["n_real"] == 1797
    assert whole["reference"] == f"{DEFAULT_DATASET}-train-split(899,seed=0)" and whole["n_real"] == 899
    assert whole["n_gen"] == 898 and whole["images"] == f"{DEFAULT_DATASET}-train-split-complement(898,seed=0)"
    small = by[("fid", 500)]
    assert small["column"]["n_real"] == 500 and small["n_real"] == 500 and small["n_gen"] == 500
    assert by[("is", 500)]["n_gen"] == 500 and by[("is", 600)]["n_gen"] == 600
    assert all(s["value"] > 1e-3 for s in out["scores"] if s["metric"] in ("fid", "is"))
    assert [c["n_gen"] for c in out["columns"]] == [898, 500]
    # the k-NN metrics compare the same scored half with the other half, never with a set holding it
    recall = by[("recall", 2000)]
    assert recall["reference"] == f"{DEFAULT_DATASET}-train-split(899,seed=0),k=3" and recall["n_real"] == 899
    assert by[("coverage", 2000)]["reference"].endswith(",k=5") and recall["n_gen"] == 898
    assert by[("precision", 2000)]["value"] < 1.0  # a scored image inside the reference would be its own neighbour
