"""``specnorm score`` on tiny fake run directories, and ``specnorm fetch-inception``."""

import copy
import json

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import pytest
import torch

from specnorm.models import build_cell

from metrics_helpers import digits_cfg
from specnorm.cli import main as specnorm_main
from specnorm.metrics import Evaluator, inception
from specnorm.train.checkpoint import save_generator

SMALL = ["--n-gen", "80", "--n-real", "150", "--n-is", "80", "--is-splits", "2", "--batch-size", "40"]


def make_run(tmp_path, status="completed", which=("best_is", "best_fid", "final"), same=False):
    """A run dir as the trainer leaves it (docs/outputs.md), with generators from ``build_models``."""
    cfg = digits_cfg()
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(cfg.to_yaml())
    (run / "summary.json").write_text(json.dumps({"status": status, "config_digest": cfg.digest()}))
    gens = {}
    G, _ = build_cell(cfg)
    for i, w in enumerate(which):
        if not same:
            with torch.no_grad():
                for p in G.parameters():
                    p.add_(0.01)
        metric = {"best_is": "is", "best_fid": "fid"}.get(w)
        sel = {"metric": metric, "iteration": 100 * (i + 1), "value": 1.0} if metric else None
        save_generator(run / f"generator_{w}.pt", {"state_dict": G.state_dict(), "iteration": 100 * (i + 1),
                                                   "selection": sel, "config": cfg.to_dict()})
        gens[w] = copy.deepcopy(G)
    return run, cfg, gens


def test_score_writes_each_best_for_its_own_metric_and_final_for_all(tmp_path, capsys):
    run, cfg, gens = make_run(tmp_path)
    res = tmp_path / "res"
    assert specnorm_main(["score", "--run", str(run), "--protocol", "paper", "--resources", str(res),
                          "--device", "cpu", *SMALL]) == 0
    out = json.loads((run / "scores.json").read_text())
    assert out["status"] == "completed" and out["config_digest"] == cfg.digest() and out["run"] == str(run)
    proto = out["protocol"]
    assert (proto["protocol"], proto["extractor"], proto["n_gen"], proto["n_real"], proto["n_is"]) == (
        "paper", "digits", 80, 150, 80)
    knn = ("precision", "recall", "density", "coverage")  # rescored on the FID-best generator, like KID
    assert [(s["which"], s["metric"]) for s in out["scores"]] == [
        ("best_is", "is"), ("best_is", "is_std"), ("best_fid", "fid"), *(("best_fid", m) for m in knn),
        ("final", "fid"), ("final", "is"), ("final", "is_std"), *(("final", m) for m in knn)]
    assert {(s["which"], s["generator"], s["iteration"]) for s in out["scores"]} == {
        ("best_is", "generator_best_is.pt", 100), ("best_fid", "generator_best_fid.pt", 200),
        ("final", "generator_final.pt", 300)}
    for s in out["scores"]:
        assert {"label", "extractor_sha256", "reference", "resize", "seed", "n_gen", "n_real"} <= set(s)
        assert s["precision"] == proto["precision"] == "fp32"
    assert out["best"] == {"is": {"iteration": 100, "value": 1.0}, "fid": {"iteration": 200, "value": 1.0}}
    assert "selection" not in out and out["notes"] == []
    assert "digits-FID" in capsys.readouterr().out
    # the same protocol in training gives the same number (same latents, same reference), per generator
    ev_cfg = digits_cfg(n_gen=80, n_real=150, n_is=80, is_splits=2, batch_size=40)
    ev = Evaluator.from_config(ev_cfg, torch.device("cpu"), res)
    value = {(s["which"], s["metric"]): s["value"] for s in out["scores"]}
    for which, metric in (("best_is", "is"), ("best_fid", "fid"), ("final", "fid"), ("final", "is"),
                          ("best_fid", "coverage"), ("final", "recall")):
        rows = ev.evaluate(gens[which], 100, 0.0)
        assert next(r["value"] for r in rows if r["metric"] == metric) == pytest.approx(value[which, metric],
                                                                                         rel=1e-9)
    assert value["best_is", "is"] != value["final", "is"] and value["best_fid", "fid"] != value["final", "fid"]


def test_a_best_generator_equal_to_the_final_one_gets_the_same_scores(tmp_path):
    run, _, _ = make_run(tmp_path, same=True)
    assert specnorm_main(["score", "--run", str(run), "--resources", str(tmp_path / "r"), "--device", "cpu",
                          *SMALL]) == 0
    scores = json.loads((run / "scores.json").read_text())["scores"]
    final = {s["metric"]: s["value"] for s in scores if s["which"] == "final"}
    best = {s["metric"]: s["value"] for s in scores if s["which"].startswith("best_")}
    assert best == final and set(best) == {"is", "is_std", "fid", "precision", "recall", "density", "coverage"}
    assert {s["iteration"] for s in scores if s["which"] == "final"} == {300}


def test_a_diverged_run_still_gets_scores_json(tmp_path):
    run, _, _ = make_run(tmp_path, status="diverged", which=())
    assert specnorm_main(["score", "--run", str(run), "--resources", str(tmp_path / "r"), "--device", "cpu"]) == 0
    out = json.loads((run / "scores.json").read_text())
    assert out["status"] == "diverged" and out["scores"] == [] and len(out["notes"]) == 3


def test_clear_errors_for_missing_run_or_files(tmp_path, capsys):
    assert specnorm_main(["score", "--run", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    run, _, _ = make_run(tmp_path, which=("best_is", "best_fid"))
    assert specnorm_main(["score", "--run", str(run), "--resources", str(tmp_path / "r"), "--device", "cpu"]) == 2
    assert "generator_final.pt not found" in capsys.readouterr().err
    (run / "summary.json").unlink()
    assert specnorm_main(["score", "--run", str(run)]) == 2
    assert "has not finished" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        specnorm_main(["score", "--help"])
    assert "--protocol" in capsys.readouterr().out


def test_fetch_inception_copies_a_checked_file(standin, tmp_path, capsys):
    res = tmp_path / "res"
    assert specnorm_main(["fetch-inception", "--from", str(standin), "--resources", str(res)]) == 0
    assert (res / "inception" / inception.INCEPTION_FILE).read_bytes() == standin.read_bytes()
    assert "ready" in capsys.readouterr().out


def test_fetch_inception_refuses_a_wrong_file(standin_file, tmp_path, capsys):
    path, _ = standin_file  # the real checksum stays in force
    assert specnorm_main(["fetch-inception", "--from", str(path), "--resources", str(tmp_path)]) == 2
    assert inception.INCEPTION_SHA256 in capsys.readouterr().err
    assert not (tmp_path / "inception" / inception.INCEPTION_FILE).exists()
