import json

import pytest
from report_fixtures import make_run

from specnorm.report.runs import read_run
from specnorm.report.scores import from_metrics_csv, run_scores
from specnorm.scores import ProtocolKey
from specnorm.vocab import metric_label


def _by(rows, which, metric):
    return next(r for r in rows if r["which"] == which and r["metric"] == metric)


def test_metrics_csv_best_over_evaluations_and_final_is_last(tmp_path):
    # default quality: SN's IS peaks at mid-training (iteration 1000) and drops after
    rows = from_metrics_csv(read_run(make_run(tmp_path, "sn")))
    best, final = _by(rows, "best", "is"), _by(rows, "final", "is")
    assert best["iteration"] == 1000 and final["iteration"] == 2000 and best["value"] > final["value"]
    assert _by(rows, "best", "fid")["iteration"] == 1000  # min FID
    assert {r["source"] for r in rows} == {"metrics.csv"}


def test_scores_json_preferred_within_a_signature(tmp_path):
    run = read_run(make_run(tmp_path, "sn", scores_json=True))
    df = run_scores([run])
    pref = df[df["preferred"]]
    assert set(pref["source"]) == {"scores.json"} and len(pref) == 4
    assert (~df[df["source"] == "metrics.csv"]["preferred"]).all()


def test_scores_json_of_another_protocol_does_not_replace_metrics_csv(tmp_path):
    path = make_run(tmp_path, "sn", scores_json=True)
    data = json.loads((path / "scores.json").read_text())
    for e in data["scores"]:
        e["protocol"], e["n_gen"] = "standard", 50000
    (path / "scores.json").write_text(json.dumps(data))
    df = run_scores([read_run(path)])
    assert df["preferred"].all() and df["key"].nunique() == 2


def test_running_runs_have_no_scores(tmp_path):
    assert run_scores([read_run(make_run(tmp_path, "r", state="running"))]).empty


def test_seeds_share_a_key_although_their_real_subsets_differ(tmp_path):
    df = run_scores([read_run(make_run(tmp_path, f"s{seed}", seed=seed)) for seed in (0, 1)])
    assert df["seed"].nunique() == 2  # the subset(1000) drawn with seed 0 vs with seed 1
    assert df[df["metric"] == "fid"]["key"].nunique() == 1
    assert "seed" not in df["key"].iloc[0].describe()


def test_the_description_names_every_protocol_field():
    sig = ProtocolKey.from_row({"protocol": "paper", "extractor": "inception", "extractor_sha256": "f" * 64,
                                "n_gen": 10000.0, "n_real": 5000, "reference": "cifar10-train-subset(5000)",
                                "resize": "tf1-bilinear"}).describe()
    for part in ("paper", "inception", "ffffffffffff", "n_gen 10000 ", "n_real 5000", "cifar10-train-subset(5000)",
                 "tf1-bilinear"):
        assert part in sig


@pytest.mark.parametrize("metric,extractor,label", [("is", "digits", "digits-IS"), ("fid", "digits", "digits-FID"),
                                                    ("fid", "inception-2015-12-05", "FID"), ("is", "inception", "IS")])
def test_metric_labels_never_call_the_digits_classifier_inception(metric, extractor, label):
    assert metric_label(metric, extractor) == label
