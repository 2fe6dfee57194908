"""``specnorm score`` (score a finished run into ``scores.json``) and ``specnorm fetch-inception``."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import torch

from specnorm import config as cfgmod
from specnorm.metrics import inception
from specnorm.metrics.evaluator import Evaluator
from specnorm.rundir import GENERATORS, RunDir
from specnorm.vocab import PROTOCOLS


class ScoreError(RuntimeError):
    """A run directory cannot be scored; the message says why."""


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _load_generator(path: Path, cfg: cfgmod.CellConfig, device: torch.device) -> tuple[torch.nn.Module, dict]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    diffs = cfgmod.diff_for_resume(cfgmod.from_dict(payload["config"]), cfg)
    if diffs:
        raise ScoreError(f"{path} was written by another configuration than {path.parent / 'config.yaml'}: "
                         f"{'; '.join(diffs)}")
    from specnorm.models import build_cell

    G, _ = build_cell(cfg)  # the trainer's builder; the kept weights replace the init
    G.load_state_dict(payload["state_dict"])
    return G.to(device), payload


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None  # JSON has no NaN


def score_run(run: Path, protocol: str | None, resources: str | Path, device: torch.device,
              overrides: dict) -> dict:
    """Score ``generator_best.pt`` and ``generator_final.pt`` of ``run``; return the scores.json content.

    The protocol's own sample counts apply (a cell's smoke-run ``eval.n_*`` are ignored) unless
    ``overrides`` sets them. A diverged run is scored on whatever generator it kept.
    """
    if not run.is_dir():
        raise ScoreError(f"run directory {run} does not exist")
    rd = RunDir(run)
    cfg = cfgmod.load(rd.config)
    summary_path = rd.summary
    if not summary_path.is_file():
        raise ScoreError(f"{summary_path} not found: the run has not finished (run 'specnorm train' to completion)")
    summary, note = rd.read_summary()
    if summary is None:
        raise ScoreError(f"{note}: {summary_path} is damaged; rerun 'specnorm train' with the same config and --out")
    status = summary.get("status")
    counts: dict = {"n_gen": None, "n_real": None, "n_is": None, "is_splits": None, **overrides}
    ev_cfg = dataclasses.replace(cfg.eval, protocol=protocol or cfg.eval.protocol, **counts)
    eval_cfg = dataclasses.replace(cfg, eval=ev_cfg).validate()
    todo, notes = [], []
    for which in GENERATORS:
        path = rd.generator(which)
        if path.is_file():
            todo.append((which, path))
        elif which == "final" and status == "completed":
            raise ScoreError(f"{path} not found, but {summary_path} says the run completed")
        else:
            notes.append(f"no {path.name} (run status {status})")
    out: dict = {"run": str(run), "config_digest": cfg.digest(), "protocol": None, "scores": [], "status": status,
                 "notes": notes}
    if not todo:
        return out
    ev = Evaluator.from_config(eval_cfg, device, resources)
    out["protocol"] = ev.protocol_fields()
    done: tuple[dict, list[dict]] | None = None  # (state_dict, rows) of the generator scored last
    for which, path in todo:
        G, payload = _load_generator(path, cfg, device)
        state = payload["state_dict"]
        if done is not None and state.keys() == done[0].keys() and all(torch.equal(v, done[0][k])
                                                                       for k, v in state.items()):
            rows = done[1]  # the best generator is the final one: same weights, latents and scores
        else:
            rows = ev.evaluate(G, int(payload["iteration"]), 0.0)
        done = (state, rows)
        for row in rows:
            entry = {"which": which, "iteration": int(payload["iteration"]), "metric": row["metric"],
                     "label": row["label"], "value": _finite(row["value"])}
            entry.update({k: row[k] for k in ("protocol", "extractor", "extractor_sha256", "n_gen", "n_real",
                                              "reference", "resize", "seed")})
            out["scores"].append(entry)
        if which == "best":
            out["selection"] = payload.get("selection")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="specnorm score",
        description="Score the best and the final generator of a finished run into DIR/scores.json. "
                    "Uses the protocol's own sample counts (paper: FID 10k vs 5k, IS 50k; standard: 50k vs the "
                    "training set + KID) unless overridden here; the run's eval.n_* smoke settings are ignored.")
    p.add_argument("--run", required=True, type=Path, help="run directory (config.yaml, summary.json, generator_*.pt)")
    p.add_argument("--protocol", choices=PROTOCOLS, help="default: the run's eval.protocol")
    p.add_argument("--resources", default="resources", help="resources folder (Inception weights, fid_stats/)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--n-gen", type=int, help="generated images for FID/KID")
    p.add_argument("--n-real", type=int, help="real reference images (default: the protocol's)")
    p.add_argument("--n-is", type=int, help="generated images for IS")
    p.add_argument("--is-splits", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--inception", help="a local inception-2015-12-05.pt (air-gapped nodes)")
    p.add_argument("--out", type=Path, help="default: RUN/scores.json")
    a = p.parse_args(argv)
    overrides = {k: v for k, v in (("n_gen", a.n_gen), ("n_real", a.n_real), ("n_is", a.n_is),
                                   ("is_splits", a.is_splits), ("batch_size", a.batch_size),
                                   ("inception_path", a.inception)) if v is not None}
    try:
        result = score_run(a.run, a.protocol, a.resources, _device(a.device), overrides)
    except (ScoreError, cfgmod.ConfigError, inception.InceptionMissingError, inception.ChecksumMismatchError) as e:
        print(f"specnorm score: {e}", file=sys.stderr)
        return 2
    dest = RunDir(a.run).write_scores(result, a.out)
    for s in result["scores"]:
        print(f"{s['which']:>5} it {s['iteration']:>7}  {s['label']:<14} {s['value']}")
    print(f"wrote {dest} (status {result['status']})")
    return 0


def fetch_inception(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="specnorm fetch-inception",
        description=f"Put clean-fid's Inception weights ({inception.INCEPTION_FILE}) into RESOURCES/inception/, "
                    f"sha256-checked ({inception.INCEPTION_SHA256}): download them, or copy a file you provide.")
    p.add_argument("--from", dest="source", help="copy this local file instead of downloading (air-gapped)")
    p.add_argument("--resources", default="resources")
    p.add_argument("--url", default=inception.INCEPTION_URL)
    p.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    a = p.parse_args(argv)
    try:
        path = inception.fetch(a.resources, a.source, url=a.url, timeout=a.timeout)
    except (inception.InceptionMissingError, inception.ChecksumMismatchError) as e:
        print(f"specnorm fetch-inception: {e}", file=sys.stderr)
        return 2
    print(f"Inception weights ready: {path}")
    return 0
