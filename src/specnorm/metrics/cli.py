"""``specnorm score`` (score a finished run into ``scores.json``) and ``specnorm fetch-inception``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from specnorm import config as cfgmod
from specnorm.io import describe_os_error
from specnorm.metrics import inception
from specnorm.metrics.evaluator import Evaluator
from specnorm.layout import RESOURCES, Resources, Results
from specnorm.rundir import BEST_GENERATORS, GENERATORS, RESCORED_ON, RunDir, RunDirBusy
from specnorm.scores import ScoreRecord
from specnorm.train.checkpoint import CheckpointError, load_generator
from specnorm.vocab import PROTOCOLS


class ScoreError(RuntimeError):
    """A run directory cannot be scored; the message says why."""


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _load_generator(path: Path, cfg: cfgmod.CellConfig, device: torch.device) -> tuple[torch.nn.Module, dict]:
    fix = (f"delete it and {path.parent / 'summary.json'}, then rerun 'specnorm train' with the same config and "
           "--out (it rewrites the kept generators from the last checkpoint)")
    try:
        payload = load_generator(path)  # its sha256 verified (docs/outputs.md)
    except CheckpointError as e:
        raise ScoreError(f"{e}; {fix}") from None
    try:
        written_by = cfgmod.from_dict(payload["config"])
    except cfgmod.ConfigError as e:
        raise ScoreError(f"{path} holds an invalid config ({e}); {fix}") from None
    diffs = cfgmod.diff_for_resume(written_by, cfg)
    if diffs:
        raise ScoreError(f"{path} was written by another configuration than {path.parent / 'config.yaml'}: "
                         f"{'; '.join(diffs)}")
    from specnorm.models import build_cell

    G, _ = build_cell(cfg)  # the trainer's builder; the kept weights replace the init
    G.load_state_dict(payload["state_dict"])
    return G.to(device), payload


SCORED_METRICS = {**{w: tuple(m for m, on in RESCORED_ON.items() if on == w) for w in BEST_GENERATORS.values()},
                  "final": None}
"""Metrics each kept generator is rescored for (None: all): a best generator for its own metric
(``RESCORED_ON``), the final one for all (docs/outputs.md)."""


def score_run(run: Path, protocol: str | None, resources: str | Path, device: torch.device,
              overrides: dict) -> dict:
    """Score the kept generators of ``run``; return the scores.json content: ``generator_best_is.pt``
    for IS, ``generator_best_fid.pt`` for FID (KID; precision, recall, density, coverage),
    ``generator_final.pt`` for all.

    The protocol's own sample counts apply (a cell's smoke-run ``eval.n_*`` are ignored) unless
    ``overrides`` sets them. A diverged run is scored on whatever generators it kept.
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
    loaded = {which: _load_generator(path, cfg, device) for which, path in todo}  # fail before any work
    ev = Evaluator.from_config(eval_cfg, device, resources)
    out["protocol"] = ev.protocol_fields()
    done: list[tuple[dict, list[ScoreRecord]]] = []  # (state_dict, records) of every generator scored so far
    for which, path in todo:
        G, payload = loaded[which]
        state, iteration = payload["state_dict"], int(payload["iteration"])
        records = next((r for s, r in done if state.keys() == s.keys() and all(torch.equal(v, s[k])
                                                                                for k, v in state.items())), None)
        if records is None:  # the same weights (IS and FID best together, or a best = the final) score alike
            records = ev.records(G)
            done.append((state, records))
        wanted = SCORED_METRICS[which]
        out["scores"] += [{**dataclasses.replace(record, which=which, iteration=iteration).json_row(),
                           "generator": path.name} for record in records if wanted is None or record.metric in wanted]
        if which != "final" and payload.get("selection"):
            sel = payload["selection"]
            out.setdefault("best", {})[sel["metric"]] = {"iteration": sel.get("iteration", payload["iteration"]),
                                                         "value": sel.get("value")}
    return out


def _protocol_args(p: argparse.ArgumentParser, n_gen_help: str, n_is_help: str) -> None:
    """The options ``specnorm score`` and ``specnorm score --real`` share: where things are, and the
    protocol's sample counts."""
    p.add_argument("--resources", default=RESOURCES, help="resources folder (Inception weights, fid_stats/)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--n-gen", type=int, help=f"{n_gen_help} (default: the protocol's)")
    p.add_argument("--n-real", type=int, help="real reference images (default: the protocol's)")
    p.add_argument("--n-is", type=int, help=n_is_help)
    p.add_argument("--is-splits", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--inception", help="a local Inception weights file (air-gapped nodes)")


def _overrides(a: argparse.Namespace) -> dict:
    """The ``eval`` keys the options set (unset ones keep the protocol's values)."""
    pairs = (("n_gen", a.n_gen), ("n_real", a.n_real), ("n_is", a.n_is), ("is_splits", a.is_splits),
             ("batch_size", a.batch_size), ("inception_path", a.inception))
    return {k: v for k, v in pairs if v is not None}


def real_main(argv: list[str]) -> int:
    """``specnorm score --real --dataset NAME``: the Real-data row of Table 1 (:func:`score_real`)."""
    from specnorm.io import atomic_write_json

    p = argparse.ArgumentParser(
        prog="specnorm score --real",
        description="Score real training images like a generator (Table 1's Real-data row) into "
                    "results/real/<dataset>-<protocol>.json (docs/deviations.md P5).")
    p.add_argument("--real", action="store_true", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--protocol", choices=PROTOCOLS, default="paper")
    p.add_argument("--root", default=str(Resources().data), help="prepared datasets (unused by built-in ones)")
    p.add_argument("--seed", type=int, default=0, help="fixes the reference subset and the real samples")
    p.add_argument("--extractor", default="auto")
    _protocol_args(p, "real images scored for FID/KID", "real images for IS (default 50k, all if fewer)")
    p.add_argument("--also-counts", action="append", default=[], metavar="N_GEN,N_REAL,N_IS,IS_SPLITS",
                   help="also score a column with these counts (repeatable; an empty field keeps the protocol's; the "
                        "pipeline passes the cells' in-training eval.n_*)")
    p.add_argument("--out", type=Path, help="default: results/real/<dataset>-<protocol>.json")
    a = p.parse_args(argv)
    overrides = _overrides(a)
    try:
        columns = [{k: int(v) for k, v in zip(("n_gen", "n_real", "n_is", "is_splits"), c.split(","), strict=True)
                    if v.strip()} for c in a.also_counts]  # an empty field keeps the protocol's count
    except ValueError:
        print(f"specnorm score --real: --also-counts takes N_GEN,N_REAL,N_IS,IS_SPLITS, got {a.also_counts}",
              file=sys.stderr)
        return 2
    inception = overrides.pop("inception_path", None)
    from specnorm.metrics.real import score_real

    try:
        result = score_real(a.dataset, a.protocol, a.resources, _device(a.device), root=a.root, seed=a.seed,
                            extractor=a.extractor, inception_path=inception, overrides=overrides,
                            columns=columns)
    except (ScoreError, cfgmod.ConfigError, KeyError, ValueError, FileNotFoundError) as e:
        print(f"specnorm score --real: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    dest = a.out or Results().real(a.dataset, a.protocol)
    atomic_write_json(dest, result)
    for s in result["scores"]:
        print(f"real {s['label']:<16} {s['value']}")
    print(f"wrote {dest}")
    return 0


def main(argv: list[str] | None = None) -> int:
    if "--real" in (sys.argv[1:] if argv is None else argv):
        return real_main(list(sys.argv[1:] if argv is None else argv))
    p = argparse.ArgumentParser(
        prog="specnorm score",
        description="Score the kept generators of a finished run into DIR/scores.json: the best-IS one for IS, "
                    "the best-FID one for FID (and KID, precision, recall, density, coverage), the final one for all. "
                    "Uses the protocol's own sample counts (paper: FID 10k vs 5k, IS 50k; standard: 50k vs the "
                    "training set + KID) unless overridden here; the run's eval.n_* smoke settings are ignored.")
    p.add_argument("--run", required=True, type=Path, help="run directory (config.yaml, summary.json, generator_*.pt)")
    p.add_argument("--protocol", choices=PROTOCOLS, help="default: the run's eval.protocol")
    _protocol_args(p, "generated images for FID/KID", "generated images for IS")
    p.add_argument("--out", type=Path, help="default: RUN/scores.json")
    a = p.parse_args(argv)
    overrides = _overrides(a)
    if not a.run.is_dir():
        print(f"specnorm score: run directory {a.run} does not exist", file=sys.stderr)
        return 2
    try:
        with RunDir(a.run).exclusive():  # the one writer of the run directory (docs/outputs.md)
            try:
                result = score_run(a.run, a.protocol, a.resources, _device(a.device), overrides)
            except (ScoreError, cfgmod.ConfigError, inception.InceptionMissingError,
                    inception.ChecksumMismatchError) as e:
                print(f"specnorm score: {e}", file=sys.stderr)
                return 2
            dest = RunDir(a.run).write_scores(result, a.out)
    except RunDirBusy as e:
        print(f"specnorm score: {e}", file=sys.stderr)
        return 4
    except OSError as e:  # disk full, file-size limit (specnorm.io.WriteError)
        print(f"specnorm score: {describe_os_error(e)}", file=sys.stderr)
        return 5
    for s in result["scores"]:
        print(f"{s['which']:>8} it {s['iteration']:>7}  {s['label']:<16} {s['value']}")
    print(f"wrote {dest} (status {result['status']})")
    return 0


def fetch_inception(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="specnorm fetch-inception",
        description=f"Put clean-fid's Inception weights ({inception.INCEPTION_FILE}) into RESOURCES/inception/, "
                    f"sha256-checked ({inception.INCEPTION_SHA256}): download them, or copy a file you provide.")
    p.add_argument("--from", dest="source", help="copy this local file instead of downloading (air-gapped)")
    p.add_argument("--resources", default=RESOURCES)
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
