"""Fused packs (docs/design.md#packs): K cells as one batched computation.

* Equivalence (docs/deviations.md T13): a fused cell follows its lone run as closely as the lone run
  follows itself after a float32-rounding perturbation of its weights: batched kernels sum in another
  order, and GAN training amplifies any rounding difference alike.
* Launches amortized, counted not timed: top-level ATen ops per iteration (torch.profiler).
* One graph per iteration (torch._dynamo.explain), serial and fused.
* Divergence, kills, signals and evaluation keep working per cell.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from specnorm import config
from specnorm.train import checkpoint
from specnorm.train import trainer as trainer_mod
from specnorm.train.engine import FusedEngine, SerialEngine, _fused, _single
from specnorm.train.pack import EXIT_STOPPED, train_pack
from specnorm.train.state import build_state

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from _trainbench import count_ops  # noqa: E402  (one op counter for the benchmarks and this test)

TINY = {
    "dataset": {"name": "digits"},
    "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
    "norm": {"mode": "sn"},
    "optim": {"g_lr": 2e-5, "d_lr": 2e-5},
    "train": {"iterations": 200, "d_batch": 8, "g_batch": 8},
    "log": {"analysis_batch": 4, "n_samples": 4, "progress": "none"},
    "eval": {"every": 0},
    "device": "cpu",
}


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) else v
    return out


EQUIVALENCE = {
    "cnn-sn-ndis1-hinge": {},
    "cnn-bsn-ndis1-wgan": {"norm": {"mode": "bsn"}, "loss": {"name": "wgan_gp"}},
    "cnn-snconv-ndis5-hinge": {"norm": {"mode": "sn_conv"}, "train": {"n_dis": 5}},
    "resnet-sn-ndis1-hinge": {"model": {"arch": "resnet", "mg": 1, "width": 1 / 64, "z_dim": 8},
                              "train": {"d_batch": 4, "g_batch": 6}},
}
SECOND = {"train": {"seed": 5}, "norm": {"scale": 1.5}, "optim": {"d_lr": 4e-5}}
"""The second cell of each pack differs in seed, scale and D's learning rate."""
CHECKS = (1, 5, 20, 50, 100, 150, 200)
FIRST = 1e-5
DRIFT = {"weights": 0.05, "sigma": 0.1, "loss": 0.3}
"""Bounds (docs/deviations.md T13): at iteration 1, before any update can amplify a difference, D's
loss and σ's agree to FIRST; over 200 iterations weights, σ's and losses stay within DRIFT (weights
and σ's relative, losses relative to max(|loss|, 1): hinge and WGAN losses pass through 0). Measured
worst of these packs: weights 1.4e-2, σ 2.4e-2, losses 0.12."""


@pytest.fixture
def images32(monkeypatch):
    """32×32 images for the tiny ResNet (mg 1), in place of the built-in 16×16 dataset."""
    fake = np.random.default_rng(0).integers(0, 256, size=(64, 3, 32, 32), dtype=np.uint8)
    monkeypatch.setattr("specnorm.train.state.load", lambda name, root, **kw: fake)


def _distance(a, b) -> float:
    """‖θ_a − θ_b‖ / ‖θ_a‖ over all of G's and D's parameters (the larger of the two models)."""
    out = []
    for m in ("G", "D"):
        x = torch.cat([p.detach().flatten() for p in getattr(a, m).parameters()])
        y = torch.cat([p.detach().flatten() for p in getattr(b, m).parameters()])
        out.append(float((x - y).norm() / x.norm()))
    return max(out)


def _numbers(logged: dict) -> dict[str, float]:
    out = {k: float(logged[k]) for k in ("loss_d", "loss_g")}
    out.update({f"sigma/{layer}": float(v["sigma"]) for layer, v in logged["sigmas"].items()})
    return out


def _spread(worst: dict, a, b, logged_a: dict, logged_b: dict) -> dict[str, float]:
    """Update ``worst`` with the distance of run b from run a (weights, losses and σ's, relative);
    return this iteration's."""
    now = {"weights": _distance(a, b)}
    ref = _numbers(logged_a)
    now.update({q: abs(x - ref[q]) / max(abs(ref[q]), 1.0 if q.startswith("loss") else 0.0)
                for q, x in _numbers(logged_b).items()})
    for q, d in now.items():
        worst[q] = max(worst.get(q, 0.0), d)
    return now


@pytest.mark.parametrize("name", list(EQUIVALENCE))
def test_fused_cells_follow_their_lone_runs_to_rounding_amplified_by_training(name, request):
    """Two cells, fused and alone, 200 iterations (docs/deviations.md T13)."""
    if name.startswith("resnet"):
        request.getfixturevalue("images32")
    cfgs = [config.from_dict(merge(TINY, EQUIVALENCE[name])),
            config.from_dict(merge(merge(TINY, EQUIVALENCE[name]), SECOND))]
    cache: dict = {}
    lone = [build_state(c, torch.device("cpu"), cache) for c in cfgs]
    fused = [build_state(c, torch.device("cpu"), cache) for c in cfgs]
    serial, batched = SerialEngine(), FusedEngine()
    worst: list[dict] = [{}, {}]
    for it in range(1, 201):
        log = it in CHECKS
        alone = serial.step(lone, [log] * 2)
        packed = batched.step(fused, [log] * 2)
        if log:
            for k in range(2):
                now = _spread(worst[k], lone[k], fused[k], alone[k], packed[k])
                if it == 1:  # loss_d and σ's are measured before the first update: pure rounding
                    assert max(d for q, d in now.items() if q not in ("weights", "loss_g")) < FIRST, (name, k, now)
    for k in range(2):
        for q, d in worst[k].items():
            assert d < DRIFT[q.split("/")[0].split("_")[0]], (name, k, q, d)


# -- launches amortized, counted not timed ----------------------------------------------------------
def _bench_cfg(mode: str, seed: int = 0):
    return config.from_dict(merge(TINY, {"model": {"mg": 4, "width": 0.25}, "norm": {"mode": mode},
                                         "train": {"seed": seed, "d_batch": 16, "g_batch": 16}}))


class _Pack:
    def __init__(self, cfgs, engine):
        cache: dict = {}
        self.states = [build_state(c, torch.device("cpu"), cache) for c in cfgs]
        self.engine, self.log = engine, [False] * len(cfgs)

    def __call__(self):
        self.engine.step(self.states, self.log)


@pytest.fixture(scope="module")
def op_counts(tmp_path_factory):
    fake = np.random.default_rng(1).integers(0, 256, size=(64, 3, 32, 32), dtype=np.uint8)
    import specnorm.train.state as state_mod

    real, state_mod.load = state_mod.load, lambda *a, **k: fake
    torch._C._functorch._set_vmap_fallback_warning_enabled(True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            counts = {(mode, k): count_ops(_Pack([_bench_cfg(mode, s) for s in range(k)],
                                                 FusedEngine() if k > 1 else SerialEngine()), torch.device("cpu"), 1)["aten"]
                      for mode in ("sn", "bsn", "sn_conv") for k in (1, 8)}
    finally:
        state_mod.load = real
        torch._C._functorch._set_vmap_fallback_warning_enabled(False)
    return counts, [str(w.message) for w in caught]


def test_a_fused_pack_of_8_issues_at_most_125_percent_of_the_ops_of_a_lone_cell(op_counts):
    counts, caught = op_counts
    for mode in ("sn", "bsn", "sn_conv"):
        assert counts[(mode, 8)] <= 1.25 * counts[(mode, 1)], (mode, counts)
    # no op falls back to a per-cell loop under vmap (that would hide K launches in one top-level op)
    assert not [m for m in caught if "batching rule" in m], caught


def test_bsn_costs_at_most_130_percent_of_sn_in_ops(op_counts):
    counts, _ = op_counts
    for k in (1, 8):
        assert counts[("bsn", k)] <= 1.3 * counts[("sn", k)], counts


# -- one graph per iteration -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sn", "bsn", "sn_conv"])
@pytest.mark.parametrize("engine", ["serial", "fused"])
def test_one_iteration_is_one_graph_without_breaks(mode, engine):
    cfgs = [config.from_dict(merge(TINY, {"norm": {"mode": mode}, "train": {"seed": s, "n_dis": 2}})) for s in (0, 1)]
    cache: dict = {}
    cells = [build_state(c, torch.device("cpu"), cache) for c in cfgs]
    for log in (False, True):
        torch._dynamo.reset()
        if engine == "serial":
            plan = cells[0].plan.template()
            explained = torch._dynamo.explain(_single(plan, log))(cells[0].T, cells[0].images.data, None)
        else:
            eng = FusedEngine()
            eng.step(cells, [False, False])  # stacks the cells
            explained = torch._dynamo.explain(_fused(eng.plan(cells), log, False))(eng._stack, cells[0].images.data, None)
        assert (explained.graph_count, explained.graph_break_count) == (1, 0), (mode, engine, log, explained.break_reasons)


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_a_fused_pack_trains_in_every_precision(precision):
    """bf16 autocast under vmap: G's batch norms run in float32 (one dtype for the batched kernel)."""
    cfgs = [config.from_dict(merge(TINY, {"train": {"seed": s, "precision": precision}})) for s in (0, 1)]
    cache: dict = {}
    lone, fused = ([build_state(c, torch.device("cpu"), cache) for c in cfgs] for _ in range(2))
    serial, batched = SerialEngine(), FusedEngine()  # each engine applies the cells' precision itself
    for _ in range(3):
        alone = serial.step(lone, [True, True])
        packed = batched.step(fused, [True, True])
    for a, b in zip(alone, packed):
        assert torch.isfinite(b["loss_d"]) and float(b["loss_d"]) == pytest.approx(float(a["loss_d"]), rel=0.05)


# -- divergence, kills, signals, evaluation --------------------------------------------------------------
RUN = merge(TINY, {"optim": {"g_lr": 1e-4, "d_lr": 1e-4}, "train": {"iterations": 24},
                   "log": {"every": 4, "analysis_every": 12, "sample_every": 12}, "checkpoint": {"every": 8, "keep": 2}})


def test_a_diverging_cell_of_a_fused_pack_stops_alone(tmp_path, monkeypatch):
    a, b = config.from_dict(RUN), config.from_dict(merge(RUN, {"train": {"seed": 1}}))
    real = trainer_mod.Trainer._divergence

    def diverge_a(self, st):
        if self.out.name == "a" and st.iteration >= 12:
            return st.iteration, "non-finite loss"
        return real(self, st)

    monkeypatch.setattr(trainer_mod.Trainer, "_divergence", diverge_a)
    res = train_pack([a, b], [tmp_path / "a", tmp_path / "b"], engine="fused")
    assert res[0]["status"] == "diverged" and res[0]["diverged_at"] == 12
    assert res[1]["status"] == "completed" and res[1]["iterations_done"] == 24
    assert {r["engine"] for r in res} == {"fused"}
    final = checkpoint.load_generator(tmp_path / "b" / "generator_final.pt")
    assert all(torch.isfinite(v).all() for v in final["state_dict"].values() if v.is_floating_point())


def _outputs(run: Path) -> dict:
    out = {name: (run / name).read_text().splitlines() for name in ("train_log.csv", "analysis.csv")}
    out["train_log.csv"] = [",".join(c for i, c in enumerate(r.split(",")) if i != 1) for r in out["train_log.csv"]]
    out["summary"] = {k: v for k, v in json.loads((run / "summary.json").read_text()).items()
                      if k not in ("wall_time_s", "it_per_s", "git_commit", "threads")}
    return out


def _cmd(tmp_path: Path, cells: list[dict], outs: list[Path]) -> list[str]:
    paths = []
    for i, c in enumerate(cells):
        p = tmp_path / f"cell{i}.yaml"
        p.write_text(yaml.safe_dump(c))
        paths.append(str(p))
    return [sys.executable, "-m", "specnorm.cli", "train", "--engine", "fused", "--config", *paths, "--out",
            *map(str, outs)]


LONG = [merge(RUN, {"train": {"iterations": 60}, "checkpoint": {"every": 10}, "log": {"every": 2}}),
        merge(RUN, {"train": {"iterations": 60, "seed": 7}, "norm": {"scale": 1.3}, "checkpoint": {"every": 10},
                    "log": {"every": 2}})]
ENV = {**os.environ, "SPECNORM_THREADS": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    base = tmp_path_factory.mktemp("fused_uninterrupted")
    outs = [base / "a", base / "b"]
    res = subprocess.run(_cmd(base, LONG, outs), env=ENV, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    return [_outputs(o) for o in outs]


def _wait_for_rows(path: Path, proc: subprocess.Popen, n: int, timeout: float = 600) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) > n:
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended early with {proc.returncode}")
        time.sleep(0.05)
    pytest.fail("no progress")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_or_stopped_fused_pack_resumes_to_what_an_uninterrupted_one_writes(sig, tmp_path, uninterrupted):
    outs = [tmp_path / "a", tmp_path / "b"]
    cmd = _cmd(tmp_path, LONG, outs)
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_rows(outs[1] / "train_log.csv", proc, 7)  # past iteration 12: after the first checkpoint
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=300)
    if sig == signal.SIGTERM:
        assert proc.returncode == EXIT_STOPPED and "checkpoints written:" in stdout, stderr[-2000:]
    res = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    for out, ref in zip(outs, uninterrupted):
        assert _outputs(out) == ref


def test_a_fused_pack_evaluates_every_cell_with_its_own_protocol(tmp_path):
    ev = {"every": 12, "n_gen": 40, "n_real": 60, "n_is": 40, "is_splits": 2, "batch_size": 20}
    a, b = config.from_dict(merge(RUN, {"eval": ev})), config.from_dict(merge(RUN, {"eval": ev, "train": {"seed": 3}}))
    res = train_pack([a, b], [tmp_path / "a", tmp_path / "b"], resources=tmp_path / "resources", engine="fused")
    assert [r["status"] for r in res] == ["completed"] * 2
    from specnorm.rundir import RunDir

    for name, seed in (("a", 0), ("b", 3)):
        rows, _ = RunDir(tmp_path / name).read_csv("metrics.csv")
        assert sorted(set(rows["iteration"])) == [12, 24] and set(rows["seed"]) == {seed}
        assert rows["value"].notna().all()
