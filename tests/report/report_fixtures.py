"""Synthetic run directories with exactly the files and columns of docs/outputs.md (no training).

``make_run(root, name, **cell)`` writes config.yaml, train_log.csv, metrics.csv, analysis.csv,
samples/, summary.json (and optionally scores.json) for one cell; ``make_demo(root)`` writes a small
digits grid (SN/BSN sweeps, SN_Conv, LeCun×s, no-SN, learned γ, 3 seeds, precision/recall/density/coverage
from :func:`default_knn`) for the report tests.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataclasses import replace

import numpy as np
import yaml
from PIL import Image

from specnorm.config import from_dict
from specnorm.rundir import METRIC_COLUMNS
from specnorm.scores import ProtocolKey, ScoreRecord

LAYERS = [("layer0", "conv", 8, 27, 3, 8, 3), ("layer1", "conv", 8, 128, 8, 8, 4), ("layer2", "conv", 16, 72, 8, 16, 3),
          ("layer3", "linear", 1, 256, None, None, None)]  # name, kind, m, n, c_in, c_out, k
PROTOCOL = {"protocol": "paper", "extractor": "digits", "extractor_sha256": "ab" * 32, "n_gen": 1000,
            "n_real": 1000, "resize": "none"}


def fixture_key(dataset: str, protocol: dict[str, Any] | None = None) -> ProtocolKey:
    """The protocol key of a synthetic run's scores: :data:`PROTOCOL` with ``protocol``'s changes."""
    return ProtocolKey.from_row({**PROTOCOL, "reference": f"{dataset}-train-subset(1000)", **(protocol or {})})


def cell_config(dataset: str = "digits", mode: str = "sn", scale: float = 1.0, seed: int = 0, gamma: str = "none",
                init: str = "official", iterations: int = 2000, g_lr: float = 2e-4, d_lr: float = 2e-4,
                beta1: float = 0.5, beta2: float = 0.999, n_dis: int = 1) -> dict[str, Any]:
    """A resolved cell config (every key) as the trainer writes it to config.yaml."""
    return from_dict({
        "dataset": {"name": dataset}, "model": {"arch": "cnn", "mg": 2, "width": 0.125, "z_dim": 32},
        "norm": {"mode": mode, "scale": scale, "gamma": gamma, "init": init},
        "loss": {"name": "wgan_gp" if gamma != "none" else "hinge"},
        "optim": {"g_lr": g_lr, "d_lr": d_lr, "beta1": beta1, "beta2": beta2},
        "train": {"iterations": iterations, "n_dis": n_dis, "seed": seed},
        "log": {"every": 100, "analysis_every": 500, "sample_every": 500},
        "eval": {"every": 500, "n_gen": 1000, "n_real": 1000, "n_is": 1000},
    }).to_dict()


def default_quality(cfg: dict[str, Any], it: int) -> tuple[float, float]:
    """(IS, FID) of a synthetic run at iteration ``it``: BSN > SN; SN peaks mid-run then drops, BSN rises;
    SN's scale sweep has modes at 0.8 and 2.0; SN_Conv is poor at s = 1 and fixed at 1.75;
    LeCun×s has modes at 0.2 and 1.2; the seed and iteration add a small deterministic offset."""
    mode, s, seed = cfg["norm"]["mode"], cfg["norm"]["scale"], cfg["train"]["seed"]
    frac = it / cfg["train"]["iterations"]
    noise = 0.02 * ((seed * 7919 + 3 * (it // 500)) % 5 - 2)  # per seed and evaluation: paired tests defined
    if mode == "bsn":
        top = 7.6 - 0.8 * abs(math.log(s))
        is_ = top * (0.6 + 0.4 * frac)
    elif mode == "sn":
        top = 7.0 + 0.5 * math.exp(-((s - 0.8) / 0.1) ** 2) + 0.5 * math.exp(-((s - 2.0) / 0.2) ** 2) - 0.3 * (s > 3)
        is_ = top * (0.6 + 0.8 * frac if frac <= 0.5 else 1.0 - 0.3 * (frac - 0.5))
    elif mode == "sn_conv":
        is_ = (4.0 if s < 1.5 else 7.0) * (0.6 + 0.4 * frac)
    elif cfg["norm"]["init"] == "lecun":
        top = 3.0 + 4 * math.exp(-((s - 0.2) / 0.05) ** 2) + 4 * math.exp(-((s - 1.2) / 0.2) ** 2)
        is_ = top * (0.6 + 0.4 * frac)
    else:
        is_ = 3.0 * (0.6 + 0.4 * frac)
    is_ += noise
    return is_, 60.0 - 6.0 * is_


def default_knn(cfg: dict[str, Any], it: int, is_: float) -> dict[str, float]:
    """Precision, recall, density, coverage of a synthetic evaluation with IS ``is_``: recall and coverage
    follow IS (a low IS is a collapse), precision and density stay high."""
    coverage = is_ / (is_ + 3.0)
    precision = 0.8 + 0.01 * (cfg["train"]["seed"] % 3)
    return {"precision": precision, "recall": 0.9 * coverage, "density": 1.1 * precision, "coverage": coverage}


def _knn_key(key: ProtocolKey, metric: str) -> ProtocolKey:
    """The key of a k-NN metric: the run's, its reference with the metric's k (``Protocol.key``)."""
    return replace(key, reference=f"{key.reference},k={3 if metric in ('precision', 'recall') else 5}")


def make_run(root: Path, name: str, *, state: str = "completed", scores_json: bool = False, analysis: bool = True,
             samples: bool = True, quality: Callable[[dict, int], tuple[float, float]] = default_quality,
             protocol: dict[str, Any] | None = None,
             knn: Callable[[dict, int, float], dict[str, float]] | None = None, **cell: Any) -> Path:
    """Write one run directory; ``state`` completed / diverged / running (no summary.json); ``knn``: the
    precision/recall/density/coverage of each evaluation (e.g. :func:`default_knn`; None: IS and FID only)."""
    cfg = cell_config(**cell)
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    iters, seed = cfg["train"]["iterations"], cfg["train"]["seed"]
    done = iters if state == "completed" else iters // 2
    key = fixture_key(cfg["dataset"]["name"], protocol)
    # metrics.csv (long), every eval.every iterations: score records in the run directory's columns
    with open(run / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for it in range(500, done + 1, 500):
            is_, fid = quality(cfg, it)
            for metric, value in (("fid", fid), ("is", is_), ("is_std", 0.05)):
                writer.writerow(ScoreRecord(metric, value, key, seed, it, it / 100).row())
            for metric, value in (knn(cfg, it, is_) if knn is not None else {}).items():
                writer.writerow(ScoreRecord(metric, value, _knn_key(key, metric), seed, it, it / 100).row())
    # train_log.csv (wide)
    mode, gamma = cfg["norm"]["mode"], cfg["norm"]["gamma"]
    cols = ["iteration", "wall_time", "loss_d", "loss_g", "d_real", "d_fake", "gp", "grad_x_real_mean",
            "grad_x_real_min", "grad_x_real_max", "grad_x_fake_mean", "grad_x_fake_min", "grad_x_fake_max"]
    cols += [f"sigma/{n}" for n, *_ in LAYERS] if mode != "none" else []
    cols += [f"gamma/{n}" for n, *_ in LAYERS] if gamma != "none" else []
    rows = [",".join(cols)]
    for it in range(100, done + 1, 100):
        vals = [it, it / 100, 1.5, 0.7, 0.4, -0.4, "", 0.5 + it / 1e4, 0.3, 0.8, 0.4, 0.2, 0.7]
        vals += [1.0] * (len(cols) - len(vals) - (len(LAYERS) if gamma != "none" else 0))
        vals += [1.0 + it / iters] * (len(LAYERS) if gamma != "none" else 0)
        rows.append(",".join(str(v) for v in vals))
    (run / "train_log.csv").write_text("\n".join(rows) + "\n")
    # analysis.csv (long)
    if analysis:
        head = ("iteration,layer,kind,m,n,grad_norm_raw,grad_norm_eff,var_eff,bound_sn,bound_bsn,sigma_w,sigma_conv,"
                "sigma_used")
        rows = [head]
        small = 0.1 if mode == "sn_conv" and cfg["norm"]["scale"] < 1.5 else 1.0
        small *= 1 + 0.01 * (seed % 3)  # seeds differ a little, so tests across seeds are defined
        for it in range(0, done + 1, 500):
            for i, (name_, kind, m, n, cin, cout, k) in enumerate(LAYERS):
                bound = 1 / max(m, n)
                bsn = 2 / (cin * k * k + cout * k * k) if kind == "conv" else float("nan")
                sw = 2.0 + i
                sc = sw * 1.3 if kind == "conv" else float("nan")
                used = float("nan") if mode == "none" else (sc if mode == "sn_conv" else sw)
                var = bound * (0.5 + 0.4 * it / iters) if mode != "none" else bound * (1 + it / 100)
                var *= 1 + 0.02 * (seed % 3) * it / iters  # seeds drift a little apart
                rows.append(f"{it},{name_},{kind},{m},{n},{small * (1 + i)},{small * (2 + i)},{var},{bound},{bsn},"
                            f"{sw},{sc},{used}")
        (run / "analysis.csv").write_text("\n".join(rows) + "\n")
    if samples:
        (run / "samples").mkdir()
        rng = np.random.default_rng(seed)
        for it in (500, done):
            img = rng.integers(0, 255, (120, 120, 3), dtype=np.uint8)
            Image.fromarray(img).save(run / "samples" / f"iter_{it:07d}.png")
    if state != "running":
        summary = {"status": state, "iterations": iters, "iterations_done": done,
                   "diverged_at": done if state == "diverged" else None,
                   "reason": "nan in loss_d" if state == "diverged" else None, "wall_time_s": done / 100,
                   "it_per_s": 100.0, "best": None, "final": {"iteration": done}, "config_digest": "x",
                   "versions": {"python": "3.11.7", "torch": "2.13.0", "numpy": "2.4.6", "specnorm": "0.1.0"},
                   "git_commit": "0123456789abcdef", "device": "cpu:x86_64 (2 threads)"}
        (run / "summary.json").write_text(json.dumps(summary))
    if scores_json:  # as specnorm score writes it: each metric's best generator for its metric, final for all
        evals = {it: quality(cfg, it) for it in range(500, done + 1, 500)}
        best_it = {"is": max(evals, key=lambda i: evals[i][0]), "fid": min(evals, key=lambda i: evals[i][1])}
        knns = tuple(knn(cfg, done, 1.0)) if knn is not None else ()  # rescored on the FID-best generator
        todo = [("best_is", best_it["is"], ("is",)), ("best_fid", best_it["fid"], ("fid", *knns)),
                ("final", done, ("fid", "is", *knns))]
        entries = []
        for which, it, metrics in todo:
            is_, fid = quality(cfg, it)
            knn_values = knn(cfg, it, is_) if knn is not None else {}
            for metric, value in (("fid", fid + 0.5), ("is", is_ + 0.05), *knn_values.items()):
                if metric in metrics:
                    record = ScoreRecord(metric, value, _knn_key(key, metric) if metric in knn_values else key, seed,
                                         it, which=which)
                    entries.append({**record.json_row(), "generator": f"generator_{which}.pt"})
        best = {m: {"iteration": it, "value": evals[it][m == "fid"]} for m, it in best_it.items()}
        (run / "scores.json").write_text(json.dumps({"run": name, "protocol": key.row(), "scores": entries,
                                                     "status": state, "best": best}))
    return run


DEMO_CELLS = (
    [("sn", s, "none", "official") for s in (0.6, 0.8, 1.0, 1.4, 2.0, 2.6)]
    + [("bsn", s, "none", "official") for s in (0.8, 1.0, 1.4)]
    + [("sn_conv", s, "none", "official") for s in (1.0, 1.75)]
    + [("none", s, "none", "lecun") for s in (0.1, 0.2, 0.5, 1.2, 2.0)]
    + [("none", 1.0, "none", "official"), ("sn", 1.0, "same", "official"), ("sn", 1.0, "diff", "official")]
)


def make_demo(root: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> Path:
    """A digits grid that exercises every section of the report; returns the runs folder."""
    runs = root / "runs"
    for mode, s, gamma, init in DEMO_CELLS:
        for seed in seeds:
            make_run(runs, f"digits-{mode}-{init}-{gamma}-s{s:g}-seed{seed}", mode=mode, scale=s, gamma=gamma,
                     init=init, seed=seed, knn=default_knn)
    # App. N: a second setting (n_dis 5) for SN and BSN
    for mode in ("sn", "bsn"):
        for seed in seeds:
            make_run(runs, f"digits-{mode}-ndis5-seed{seed}", mode=mode, seed=seed, n_dis=5, beta2=0.9,
                     knn=default_knn)
    return runs


def judge(runs_dir: Path) -> dict[str, Any]:
    """The claims checklist of the runs under ``runs_dir``, by claim key (one dataset per test grid)."""
    from specnorm.report import aggregate as agg
    from specnorm.report import claims
    from specnorm.report.runs import collect
    from specnorm.report.scores import run_scores

    runs = collect(runs_dir)[0]
    scores = run_scores(runs)
    gs = agg.group_scores(scores)
    settings = agg.table1_settings(runs)
    t1, _ = agg.table1(runs, scores, gs, settings)
    checked = claims.checklist(runs, gs, t1, agg.hparams(gs), settings)
    return {c.key: c for c in checked}
