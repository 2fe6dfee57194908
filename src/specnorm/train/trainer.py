"""One grid cell's run: resume, cadences (log, analysis, samples, metrics, checkpoints), divergence
as a result, and the run directory of ``docs/outputs.md``. The iterations themselves are run by the
pack driver's engine (:mod:`specnorm.train.pack`, :mod:`specnorm.train.engine`); a lone run is a pack
of one.

Order of work at the end of iteration k (all of it is redone identically after a resume from an
earlier checkpoint): train_log row → analysis rows → metrics → sample grid → checkpoint k. So a
checkpoint at k always follows every output of iterations ≤ k, and a resume from k rolls the CSVs
back to rows ≤ k before continuing.

Beside the files, each output is shown: the TensorBoard event file is a view of the same rows
(:mod:`specnorm.train.events`, rebuilt from the rolled-back CSVs at every start, flushed before each
checkpoint), and the console says every evaluation's scores, every checkpoint and, last, the run's
status and best scores (:mod:`specnorm.train.progress`).
"""

from __future__ import annotations

import io
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from specnorm import config as cfgmod
from specnorm.config import CellConfig
from specnorm.io import atomic_write
from specnorm.nn import gammas, normalized_layers
from specnorm.provenance import git_commit, versions
from specnorm.rundir import ANALYSIS_COLUMNS, BEST_GENERATORS, METRIC_COLUMNS, TRAIN_LOG_FIXED, RunDir
from specnorm.train import checkpoint as ckpt
from specnorm.train.events import EventLog
from specnorm.train.logs import CsvLog
from specnorm.train.progress import Progress, best_text
from specnorm.train.state import RunState, build_state, resolve_device
from specnorm.vocab import HIGHER_IS_BETTER, METRICS


class ResumeRefused(RuntimeError):
    """The output directory holds a run of a different configuration."""


def train_log_columns(st: RunState) -> list[str]:
    cols = list(TRAIN_LOG_FIXED)
    for name, _, norm in normalized_layers(st.D):
        cols += [f"{key}/{name}" for key in ("sigma", *norm.logs)]
        if norm.gamma is not None:
            cols.append(f"gamma/{name}")
    return cols


DEFAULT_THREADS = 1
"""torch's CPU threads when neither ``--threads`` nor ``SPECNORM_THREADS`` sets them: one, since
several OpenMP threads per process on shared cores spin-wait for each other (docs/performance.md)."""


def cpu_threads(requested: str | int | None = None) -> int:
    """A training process's torch CPU threads: ``requested`` (``specnorm train --threads``), else the
    environment's ``SPECNORM_THREADS`` (the workflow sets it per job), else :data:`DEFAULT_THREADS`.
    ValueError, naming the source, for anything but a positive integer."""
    for source, value in (("--threads", requested), ("SPECNORM_THREADS", os.environ.get("SPECNORM_THREADS"))):
        if value is None or str(value).strip() == "":
            continue
        try:
            n = int(str(value).strip())
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"{source} must be a positive whole number of CPU threads, not {str(value)!r}")
        return n
    return DEFAULT_THREADS


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def _set_precision(cfg: CellConfig) -> None:
    """fp32: TF32 off for convolutions and matmuls (the official numerics); tf32: on; bf16: TF32 off
    (autocast to bfloat16 is applied by the step itself, docs/deviations.md T10)."""
    tf32 = cfg.train.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def save_sample_grid(G: torch.nn.Module, z: torch.Tensor, path: Path) -> bytes:
    """10×10 grid of G(z) in eval mode, min-max normalized over the whole grid (official vis); its PNG
    bytes are returned (for the event file)."""
    from PIL import Image

    was_training = G.training
    G.eval()
    with torch.no_grad():
        x = G(z).float().cpu()
    G.train(was_training)
    x = (x - x.min()) / (x.max() - x.min() + 1e-12)
    n, c, h, w = x.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = torch.ones(c, rows * (h + 2) + 2, cols * (w + 2) + 2)
    for i in range(n):
        r, q = divmod(i, cols)
        grid[:, 2 + r * (h + 2): 2 + r * (h + 2) + h, 2 + q * (w + 2): 2 + q * (w + 2) + w] = x[i]
    arr = (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr[:, :, 0] if c == 1 else arr).save(buf, format="PNG")
    png = buf.getvalue()
    atomic_write(path, lambda f: f.write(png), durable=False)  # cheap to lose, never half-read
    return png


def _weights_finite(st: RunState) -> torch.Tensor:
    return torch.stack([torch.isfinite(p).all() for m in (st.G, st.D) for p in m.parameters()]).all()


class Trainer:
    """One cell's training run in ``out_dir`` (see ``docs/outputs.md``)."""

    def __init__(self, cfg: CellConfig, out_dir: str | Path, *, resources: str | Path = "resources") -> None:
        self.cfg = cfg
        self.out = Path(out_dir)
        self.run_dir = RunDir(self.out)
        self.resources = Path(resources)
        self.ckpt_dir = self.run_dir.checkpoints
        self.engine = "serial"  # which pack engine ran it (set by the pack driver; recorded in summary.json)
        self.name = ""  # the cell's name on the console lines (set by the pack driver for a pack of several)

    # -- lifecycle (driven by specnorm.train.pack.run_pack) -------------------------------------
    def open(self, data_cache: dict | None = None) -> dict | None:
        """Prepare to train: the summary of an already finished run, or None once the state is
        built (fresh, or restored from the newest valid checkpoint) and the logs are rolled back.
        ``data_cache`` shares a dataset's device copy between the cells of a pack."""
        cfg, out, rd = self.cfg, self.out, self.run_dir
        done = self._check_existing()
        if done is not None:
            print(f"run in {out} already finished ({done['status']}); nothing to do", flush=True)
            return done
        torch.set_num_threads(cpu_threads())
        _set_precision(cfg)
        self.device = device = resolve_device(cfg.device)
        self.st = st = build_state(cfg, device, data_cache=data_cache)
        resumed = self._restore(st)
        self.logs = {
            "train": CsvLog(rd.train_log, train_log_columns(st)),
            "analysis": CsvLog(rd.analysis, list(ANALYSIS_COLUMNS)),
            "metrics": CsvLog(rd.metrics, list(METRIC_COLUMNS)),
        }
        for log in self.logs.values():
            log.rollback(st.iteration if resumed else -1)
        self.evaluator = self._evaluator(device, data_cache)
        if not resumed:
            rd.write_config(cfg.to_yaml())
        self.events = EventLog.open(rd, st.iteration if resumed else None)  # a view of the rolled-back CSVs
        self._prog = Progress(cfg.log, cfg.train.iterations, st.iteration, name=self.name)
        if not resumed and cfg.log.analysis_every:
            self._analysis(st, 0)
        # the device's "first non-finite loss" flag, mirrored to host memory without a sync
        self._nonfinite_host = torch.zeros((), dtype=torch.long, pin_memory=device.type == "cuda")
        self._start_it, self._t0, self._base_wall = st.iteration, time.perf_counter(), st.wall_time
        self.status, self.diverged_at, self.reason = "completed", None, None
        return None

    def _check_existing(self) -> dict | None:
        """Refuse a directory of another config; return the summary of a finished run."""
        cfg_path = self.run_dir.config
        if cfg_path.exists():
            try:
                old = cfgmod.load(cfg_path)
            except cfgmod.ConfigError as e:
                raise ResumeRefused(f"{self.out} holds an unreadable config ({e}); use another --out") from None
            diffs = cfgmod.diff_for_resume(old, self.cfg)
            if diffs:
                raise ResumeRefused(
                    f"{self.out} holds a run of a different configuration; refusing to resume. "
                    f"Differing keys: {'; '.join(diffs)}. Use another --out, or delete the directory to start over."
                )
        s = self.run_dir.finished()
        if s is None:
            return None
        # identity, not the full config: an execution-only key (device, progress...) may differ
        return s if s.get("identity_digest") == self.cfg.identity_digest() else None

    def _clean_partial_writes(self) -> None:
        """Remove temp files (``.<name>.*.part``) of atomic writes a kill interrupted (this run's own)."""
        for folder in (self.out, self.ckpt_dir):
            if folder.is_dir():
                for tmp in folder.glob(".*.part"):
                    if tmp.is_file():
                        tmp.unlink(missing_ok=True)

    def _restore(self, st: RunState) -> bool:
        self._clean_partial_writes()
        self._best_pending: set[str] = set()  # metrics whose generator_best_<m>.pt awaits the next checkpoint
        data = ckpt.load_latest(self.ckpt_dir, map_location=st.device, move_aside=True)
        self.threads = ckpt.thread_history(data, torch.get_num_threads())  # recorded; a change warns
        if data is None:
            self._write_best(st)  # best generators of a killed run have no checkpoint: remove them
            return False
        diffs = cfgmod.diff_for_resume(cfgmod.from_dict(data["config"]), self.cfg)
        if diffs:
            raise ResumeRefused(f"checkpoint in {self.ckpt_dir} is of a different configuration: {'; '.join(diffs)}")
        st.load_state_dict({**data["run"], "rng": data["rng"]})
        self._write_best(st)  # the best generators and summary.best always name the same weights
        print(f"resuming from {ckpt.path_for(self.ckpt_dir, st.iteration)} at iteration {st.iteration}", flush=True)
        return True

    def _evaluator(self, device: torch.device, cache: dict | None = None):
        if not self.cfg.eval.every:
            return None
        from specnorm.metrics import Evaluator

        return Evaluator.from_config(self.cfg, device, self.resources, cache=cache)

    # -- the loop --------------------------------------------------------------------------
    @property
    def remaining(self) -> bool:
        """Whether the cell has iterations left (after a divergence it has none)."""
        return self.status == "completed" and self.st.iteration < self.cfg.train.iterations

    @property
    def log_due(self) -> bool:
        """Whether the next iteration is a logging one (it keeps what train_log.csv needs)."""
        every = self.cfg.log.every
        return bool(every) and (self.st.iteration + 1) % every == 0

    def after_iteration(self, logged: dict) -> None:
        """Book the iteration the engine just ran (``logged``: its logged device tensors) and do the
        outputs due after it (the module docstring's order). A divergence found at a sync point ends
        the cell (``status`` diverged); the pack goes on."""
        st, cfg = self.st, self.cfg
        log_now = self.log_due
        it, total = st.iteration + 1, cfg.train.iterations
        an, ev, sm, ck = cfg.log.analysis_every, cfg.eval.every, cfg.log.sample_every, cfg.checkpoint.every
        st.iteration = it
        if log_now:
            st.last = logged
        self._prog.update(it)
        # A non-finite loss is seen at most an iteration or two late (an asynchronous copy of the
        # device flag), not only at the next sync point; the flag holds the exact first iteration.
        seen_bad = bool(self._nonfinite_host.item())
        self._nonfinite_host.copy_(st.first_nonfinite, non_blocking=True)
        if not (seen_bad or log_now or (an and it % an == 0) or (ev and it % ev == 0) or (sm and it % sm == 0)
                or it % ck == 0 or it == total):
            return
        st.wall_time = self._wall()
        bad = self._divergence(st)
        if bad is not None:
            self.status, (self.diverged_at, self.reason) = "diverged", bad
            return
        if log_now:
            self._prog.note(self._log_row(st, it))
        if an and it % an == 0:
            self._analysis(st, it)
        if ev and it % ev == 0:
            self._evaluate(st, it)
        if sm and it % sm == 0:
            self.events.image(it, st.wall_time, save_sample_grid(st.G, st.fixed_z, self.run_dir.sample(it)))
        if it % ck == 0 or it == total:
            self._checkpoint(st)

    def checkpoint_on_stop(self) -> int:
        """After a stop signal: checkpoint the iteration the cell is at (unless its cadence just
        did), without a divergence check (that is the next sync's, as in an uninterrupted run)."""
        st = self.st
        if st.iteration % self.cfg.checkpoint.every:
            st.wall_time = self._wall()
            self._checkpoint(st)
        return st.iteration

    def close(self) -> None:
        self._prog.close()
        self.events.close()

    def finish(self) -> dict:
        """Write the final outputs and ``summary.json`` (completed or diverged)."""
        self._prog.close()
        self.st.wall_time = self._wall()
        summary = self._finish(self.st, self.device, self.status, self.diverged_at, self.reason, self._start_it,
                               time.perf_counter() - self._t0)
        self.close()
        return summary

    def _wall(self) -> float:
        return self._base_wall + time.perf_counter() - self._t0

    def _divergence(self, st: RunState) -> tuple[int, str] | None:
        """NaN/inf in a loss (tracked on the device per iteration) or in a weight (checked here)."""
        first, bad_weight = torch.stack([st.first_nonfinite, (~_weights_finite(st)).long()]).tolist()  # one sync
        if first:
            return first, "non-finite loss"
        if bad_weight:
            return st.iteration, "non-finite weight"
        return None

    # -- cadence work ------------------------------------------------------------------------
    def _log_row(self, st: RunState, it: int) -> dict:
        """The train_log.csv row of the logging iteration ``it`` from its logged device tensors (one
        transfer to the host)."""
        last = st.last
        named = {k: last[k] for k in ("loss_d", "loss_g", "d_real", "d_fake", "gp") if last.get(k) is not None}
        for which in ("real", "fake"):
            s = last[f"slopes_{which}"]
            named.update({f"grad_x_{which}_mean": s.mean(), f"grad_x_{which}_min": s.min(),
                          f"grad_x_{which}_max": s.max()})
        for layer, values in last["sigmas"].items():
            named.update({f"{key}/{layer}": v for key, v in values.items()})
        numbers = torch.stack([v.float().reshape(()) for v in named.values()]).tolist()
        row = {"iteration": it, "wall_time": round(st.wall_time, 3), "gp": None, **dict(zip(named, numbers))}
        for name, g in gammas(st.D):
            row[f"gamma/{name}"] = g
        self.logs["train"].append([row])
        self.events.train_row(row)
        return row

    def _analysis(self, st: RunState, it: int) -> None:
        from specnorm.analysis.quantities import layer_analysis

        rows = [{"iteration": it, **{k: r.get(k) for k in ANALYSIS_COLUMNS[1:]}}
                for r in layer_analysis(st.D, st.analysis_x)]
        self.logs["analysis"].append(rows)
        self.events.analysis(it, st.wall_time, rows)

    def _evaluate(self, st: RunState, it: int) -> None:
        rows = self.evaluator.evaluate(st.G, it, round(st.wall_time, 3))
        rows = [{k: r.get(k) for k in METRIC_COLUMNS} for r in rows]
        self.logs["metrics"].append(rows)
        self.events.scores(it, st.wall_time, rows)
        self._prog.evaluation(it, rows)
        st.metric_history.extend(rows)
        improved = []
        for metric in METRICS:  # each metric's own best (docs/outputs.md): IS highest, FID/KID lowest
            value = next((float(r["value"]) for r in rows if r["metric"] == metric), None)
            old = st.best.get(metric)
            if value is not None and np.isfinite(value) and (
                    old is None or (value > old["value"] if HIGHER_IS_BETTER[metric] else value < old["value"])):
                st.best[metric] = {"iteration": it, "value": value}
                improved.append(metric)
        kept = [m for m in improved if m in BEST_GENERATORS]
        if kept:
            weights = {k: v.detach().to("cpu", copy=True) for k, v in st.G.state_dict().items()}
            for m in kept:  # IS and FID best at the same evaluation share one copy
                st.best_G[m] = weights
            self._best_pending.update(kept)  # written with the next checkpoint (or at the end)

    def _save_generator(self, st: RunState, metric: str | None) -> None:
        """``generator_final.pt`` from the current G (``metric`` None); ``generator_best_<metric>.pt``
        from the kept best state of ``metric``, with ``selection`` = that metric's best."""
        if metric is None:  # a copy: in a fused pack G's tensors are views of the pack's stacks
            state = {k: v.detach().to("cpu", copy=True) for k, v in st.G.state_dict().items()}
            which, iteration, selection = "final", st.iteration, None
        else:
            which, state, iteration = BEST_GENERATORS[metric], st.best_G[metric], st.best[metric]["iteration"]
            selection = {"metric": metric, **st.best[metric]}
        ckpt.save_generator(self.run_dir.generator(which), {
            "state_dict": state, "iteration": iteration, "selection": selection,
            "config": self.cfg.to_dict(),
        })

    def _write_best(self, st: RunState, metrics: set[str] | None = None) -> None:
        """Make ``generator_best_<m>.pt`` hold ``st.best_G[m]`` (none: no file) for ``metrics`` (None:
        every kept metric), after the checkpoint that holds them: the files and ``summary.best`` always
        name the same weights (docs/outputs.md)."""
        for metric in BEST_GENERATORS if metrics is None else sorted(metrics):
            if metric in st.best and metric in st.best_G:
                self._save_generator(st, metric)
            else:
                self.run_dir.generator(BEST_GENERATORS[metric]).unlink(missing_ok=True)
        self._best_pending = set()

    def _checkpoint(self, st: RunState) -> None:
        for log in self.logs.values():  # the rows ≤ k must be durable before checkpoint k vouches for them
            log.sync()
        self.events.flush()  # events are rebuilt from those rows on resume; flushed for a live TensorBoard
        run = st.state_dict()
        payload = {
            "format": ckpt.FORMAT, "iteration": st.iteration, "config": self.cfg.to_dict(),
            "rng": run.pop("rng"), "run": run, "engine": self.engine, "threads": self.threads,
        }
        path = ckpt.save(self.ckpt_dir, st.iteration, payload, self.cfg.checkpoint.keep)
        self._prog.checkpoint(st.iteration, path)
        if self._best_pending:
            self._write_best(st, self._best_pending)

    def _finish(self, st, device, status, diverged_at, reason, start_it, session_s) -> dict:
        cfg = self.cfg
        if self._best_pending:  # a divergence ended the run after a best improvement
            self._write_best(st, self._best_pending)
        if status == "completed":
            self._save_generator(st, None)
            self.events.image(st.iteration, st.wall_time,
                              save_sample_grid(st.G, st.fixed_z, self.run_dir.sample(st.iteration)))
        done_now = st.iteration - start_it
        summary = {
            "status": status,
            "iterations": cfg.train.iterations,
            "iterations_done": st.iteration if status == "completed" else (diverged_at or st.iteration),
            "diverged_at": diverged_at,
            "reason": reason,
            "wall_time_s": round(st.wall_time, 3),
            "it_per_s": round(done_now / session_s, 3) if session_s > 0 and done_now else None,
            "best": {m: dict(st.best[m]) for m in METRICS if m in st.best},
            "final": {"iteration": st.iteration} if status == "completed" else None,
            "config_digest": cfg.digest(),
            "identity_digest": cfg.identity_digest(),
            "versions": versions("torch", "numpy"),
            "git_commit": git_commit(),
            "device": device_description(device),
            "engine": self.engine,
            "threads": self.threads,
        }
        self.run_dir.write_summary(summary)
        msg = f"run {status} at iteration {summary['iterations_done']}" + (f" ({reason})" if reason else "")
        self._prog.say(f"{msg}; {best_text(st.best, st.metric_history, bool(cfg.eval.every))}")  # the last line
        return summary
