"""Best = each metric's own best over the in-training evaluations (docs/outputs.md): runs whose IS
peaks at iteration 500 and whose FID is lowest at 1500 give IS's own max and FID's own min in
Table 1, the sweep tables, App. N and the claims' input, from scores.json or metrics.csv."""

import json

import pytest
from report_fixtures import make_run

from specnorm.report import aggregate as agg
from specnorm.report import claims, views
from specnorm.report.runs import collect
from specnorm.report.scores import run_scores

# (mode, s) -> (IS, FID) base; the seed adds 0.1·seed to IS and subtracts it from FID
LEVELS = {("sn", 1.0): (5.0, 30.0), ("sn", 1.4): (5.5, 25.0), ("bsn", 1.0): (6.0, 20.0), ("bsn", 1.4): (5.8, 22.0)}
IS_SHAPE = {500: 2.0, 1000: 0.5, 1500: 0.0, 2000: 0.3}  # IS best at 500, worst at FID's best
FID_SHAPE = {500: 10.0, 1000: 5.0, 1500: 0.0, 2000: 8.0}  # FID best at 1500
SEEDS = (0, 1, 2)


def quality(cfg, it):
    is_, fid = LEVELS[(cfg["norm"]["mode"], cfg["norm"]["scale"])]
    seed = cfg["train"]["seed"]
    return is_ + 0.1 * seed + IS_SHAPE[it], fid - 0.1 * seed + FID_SHAPE[it]


def _runs(tmp_path):
    runs_dir = tmp_path / "runs"
    for (mode, s) in LEVELS:
        for seed in SEEDS:
            make_run(runs_dir, f"{mode}-{s}-{seed}", mode=mode, scale=s, seed=seed, quality=quality,
                     scores_json=True, analysis=False, samples=False)
    return collect(runs_dir)[0]


def _cfg(mode, s, seed):
    return {"norm": {"mode": mode, "scale": s}, "train": {"seed": seed}}


def _mean(mode, s, metric, offset):
    vals = [quality(_cfg(mode, s, seed), 500 if metric == "is" else 1500)[metric == "fid"] + offset
            for seed in SEEDS]
    return sum(vals) / len(vals)


def _tables(runs):
    scores = run_scores(runs)
    gs = agg.group_scores(scores)
    settings = agg.table1_settings(runs)
    t1, _ = agg.table1(runs, scores, gs, settings)
    return scores, gs, settings, t1


def _t1(t1, metric, row):
    r = t1[(t1["metric"] == metric) & (t1["row"] == row) & (t1["which"] == "best")]
    assert len(r) == 1
    return r.iloc[0]


def test_every_table_uses_each_metrics_own_best(tmp_path):
    # per-metric scores.json: IS from generator_best_is (+0.05), FID from generator_best_fid (+0.5)
    is_off = 0.05
    scores, gs, settings, t1 = _tables(_runs(tmp_path))
    best = scores[scores["preferred"] & (scores["which"] == "best")]
    assert set(best[best["metric"] == "is"]["iteration"]) == {500}
    assert set(best[best["metric"] == "fid"]["iteration"]) == {1500}
    assert set(best[best["metric"] == "is"]["source"]) == {"scores.json"}
    assert set(best[best["metric"] == "fid"]["source"]) == {"scores.json"}
    assert set(best[best["metric"] == "fid"]["generator"]) == {"best_fid"}

    # Table 1 (SSN/BSSN scales chosen on the per-metric bests)
    assert _t1(t1, "is", "SN")["mean"] == pytest.approx(_mean("sn", 1.0, "is", is_off))
    assert _t1(t1, "is", "SSN")["scale"] == 1.4
    assert _t1(t1, "is", "SSN")["mean"] == pytest.approx(_mean("sn", 1.4, "is", is_off))
    assert _t1(t1, "is", "BSSN")["scale"] == 1.0
    assert _t1(t1, "fid", "BSN")["mean"] == pytest.approx(_mean("bsn", 1.0, "fid", 0.5))
    assert _t1(t1, "fid", "SSN")["mean"] == pytest.approx(_mean("sn", 1.4, "fid", 0.5))

    # sweeps (table and figure read the grouped best rows)
    g = gs[gs["which"] == "best"]
    for (mode, s) in LEVELS:
        fam = {"sn": "SN", "bsn": "BSN"}[mode]
        cell = g[(g["family"] == fam) & (g["scale"] == s)]
        assert cell[cell["metric"] == "is"]["mean"].iloc[0] == pytest.approx(_mean(mode, s, "is", is_off))
        assert cell[cell["metric"] == "fid"]["mean"].iloc[0] == pytest.approx(_mean(mode, s, "fid", 0.5))
    sweep = {t["title"].split()[0]: t for t in views.sweep_tables(gs, "digits")}
    row = next(r for r in sweep["digits-IS"]["rows"] if r["scale"] == "1.4")
    assert row["cells"][0].startswith(f"{_mean('sn', 1.4, 'is', is_off):.4g} ±")

    # App. N
    hp = agg.hparams(gs)
    hp_is = hp[(hp["metric"] == "is") & (hp["which"] == "best")].iloc[0]
    assert hp_is["sn_mean"] == pytest.approx(_mean("sn", 1.0, "is", is_off))
    assert hp_is["bsn_mean"] == pytest.approx(_mean("bsn", 1.0, "is", is_off))
    hp_fid = hp[(hp["metric"] == "fid") & (hp["which"] == "best")].iloc[0]
    assert hp_fid["sn_mean"] == pytest.approx(_mean("sn", 1.0, "fid", 0.5))

    # the claims' input: best IS per cell
    ci = claims._best_is(gs, "digits", settings)
    got = {(f, s): m for f, s, m in zip(ci["family"], ci["scale"], ci["mean"])}
    assert got[("SN", 1.0)] == pytest.approx(_mean("sn", 1.0, "is", is_off))
    assert got[("BSN", 1.4)] == pytest.approx(_mean("bsn", 1.4, "is", is_off))


def test_a_best_generators_scores_of_other_metrics_are_not_bests(tmp_path):
    """A scores.json entry of generator_best_fid for IS (not written by specnorm score, but possible
    by hand) is not taken as the best IS."""
    runs = _runs(tmp_path)
    for run in runs:
        data = json.loads((run.path / "scores.json").read_text())
        fid_entry = next(e for e in data["scores"] if e["which"] == "best_fid")
        data["scores"].append({**fid_entry, "metric": "is", "value": 100.0})
        (run.path / "scores.json").write_text(json.dumps(data))
    scores = run_scores(collect(tmp_path / "runs")[0])
    assert scores[(scores["metric"] == "is") & (scores["which"] == "best")]["value"].max() < 100.0


def test_the_methods_text_says_best_is_each_metrics_own(tmp_path):
    scores, _, _, _ = _tables(_runs(tmp_path))
    from specnorm.report.scores import protocol_text

    text = protocol_text(scores[scores["metric"] == "is"])
    assert "this metric's own best" in text and "selection metric" not in text
