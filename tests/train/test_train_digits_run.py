"""A short digits cell produces every output file of docs/outputs.md, with sane contents."""

import csv
import json
import math

from PIL import Image

from specnorm import config
from specnorm.train import checkpoint as ckpt
from specnorm.train import train


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_short_digits_run_writes_every_output(tmp_path):
    cfg = config.from_dict({
        "dataset": {"name": "digits"},
        "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
        "norm": {"mode": "sn_conv", "scale": 1.75},
        "train": {"iterations": 40, "d_batch": 16, "g_batch": 16},
        "log": {"every": 10, "analysis_every": 20, "analysis_batch": 8, "sample_every": 20, "n_samples": 16},
        "checkpoint": {"every": 20, "keep": 1},
        "eval": {"every": 20, "n_gen": 200, "n_real": 200, "n_is": 200, "is_splits": 2, "batch_size": 100},
        "device": "cpu",
    })
    out = tmp_path / "run"
    summary = train(cfg, out, resources=tmp_path / "resources")

    assert config.load(out / "config.yaml") == cfg
    assert summary["status"] == "completed" and summary["iterations_done"] == 40
    assert summary["config_digest"] == cfg.digest() and summary["it_per_s"] > 0
    assert set(summary["versions"]) >= {"python", "torch", "numpy", "specnorm"} and summary["device"].startswith("cpu")
    assert json.loads((out / "summary.json").read_text()) == summary

    log = _csv(out / "train_log.csv")
    assert [int(r["iteration"]) for r in log] == [10, 20, 30, 40]
    sig = [k for k in log[0] if k.startswith("sigma/")]
    assert len(sig) == 8 and all(k.replace("sigma/", "sigma_w/") in log[0] for k in sig[:7])  # 7 convs + linear
    for r in log:
        assert all(math.isfinite(float(r[k])) for k in ("loss_d", "loss_g", "d_real", "d_fake", *sig))
        assert 0 < float(r["grad_x_real_min"]) <= float(r["grad_x_real_mean"]) <= float(r["grad_x_real_max"])

    an = _csv(out / "analysis.csv")
    assert sorted({int(r["iteration"]) for r in an}) == [0, 20, 40] and len(an) == 3 * 8
    for r in an:
        assert float(r["grad_norm_raw"]) > 0 and float(r["grad_norm_eff"]) > 0 and float(r["var_eff"]) > 0
        assert float(r["bound_sn"]) == 1 / max(int(r["m"]), int(r["n"]))
        # App. L.3 on the accurate values: ||w_hat|| <= ||w_tilde|| for inputs large next to the kernel
        # (layers 0-3 see 16x16 and 8x8; at 4x4 and 2x2 zero padding drops taps and it can fail)
        if r["layer"] in ("layer0", "layer1", "layer2", "layer3"):
            assert float(r["sigma_conv"]) >= float(r["sigma_w"]) * (1 - 1e-6)

    metrics = _csv(out / "metrics.csv")
    assert {(int(r["iteration"]), r["metric"]) for r in metrics} >= {(20, "fid"), (20, "is"), (40, "fid"), (40, "is")}
    for r in metrics:
        assert r["extractor"] == "digits" and len(r["extractor_sha256"]) == 64 and r["protocol"] == "paper"
        assert math.isfinite(float(r["value"])) and r["seed"] == "0"
    fids = [float(r["value"]) for r in metrics if r["metric"] == "fid"]
    assert all(f >= 0 for f in fids)

    best = ckpt.load_generator(out / "generator_best_fid.pt")
    final = ckpt.load_generator(out / "generator_final.pt")
    assert best["selection"]["metric"] == "fid" and best["selection"]["value"] == min(fids)
    iss = [float(r["value"]) for r in metrics if r["metric"] == "is"]
    best_is = ckpt.load_generator(out / "generator_best_is.pt")
    assert best_is["selection"]["metric"] == "is" and best_is["selection"]["value"] == max(iss)
    assert final["iteration"] == 40 and final["config"] == cfg.to_dict()
    grids = sorted(p.name for p in (out / "samples").iterdir())
    assert grids == ["iter_0000020.png", "iter_0000040.png"]
    assert Image.open(out / "samples" / grids[-1]).size == (4 * 18 + 2, 4 * 18 + 2)
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["ckpt_0000040.pt"]
