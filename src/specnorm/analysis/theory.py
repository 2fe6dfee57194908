"""``specnorm theory``: seeded Monte-Carlo checks of Thm. 2 (§4), Thm. 3 (§5.1) and Prop. 1 (§3).

Writes one CSV row per check (``THEORY_COLUMNS``) and prints an aligned table with PASS/FAIL per row and a
one-line summary; exit code 0 iff every bound holds.

* ``thm2``: one row per distinct SN matrix shape m × n of the real discriminators (CNN D at 32/48/64,
  ResNet D 3×3 and 1×1 convs, MLP D; ``layers`` lists who uses it) and per entry distribution.
  ``estimate`` = Var(a_ij/‖A‖_sp), ``bound`` = 1/max(m,n), ``ratio`` = Var·max(m,n) (must be ≤ 1).
  ``lower_order`` = Var·max(m,n)·log(min(m,n)) for Gaussian entries where the lower bound applies:
  Thm. 2 says it is ≥ a constant L independent of (m, n). L is not given in the main text, so the
  check is that it stays above ``LOWER_FLOOR`` on every shape (it does not drift to 0).
* ``thm3``: one row per distinct conv kernel c_out × c_in × k × k; ``bound`` = 2/(c_in k² + c_out k²),
  ``lower_order`` = Var·(c_in k² log c_out + c_out k² log c_in). Kernels outside the hypothesis
  k² ≥ max(c_out/c_in, c_in/c_out) (e.g. the 3 → 64 first convs) are reported as ``INFO``, not checked.
* ``prop1``: random bias-free MLP D and CNN D (32×32; ``--quick``: narrow, 16×16) with every layer at
  spectral norm 1; per layer ``estimate`` = max over inputs of ‖∇_{w_t}D(x)‖_F/‖x‖ (``bound`` 1),
  plus a ``total`` row with max ‖∇_θD(x)‖/‖x‖ (``bound`` √L).

Sample sizes: ``--samples`` matrices per shape, capped so that each (shape, distribution) draws about
``ENTRY_BUDGET`` entries (at least ``MIN_SAMPLES`` matrices): the per-matrix estimator concentrates
as the matrices grow, and the 1024 × 9216 ResNet kernels would otherwise dominate the run time.
Every row has its own generator seeded from (``--seed``, row key), so rows do not depend on each
other or on ``--quick``; the same seed gives an identical CSV (for a fixed ``--threads``: the float32
convolutions of Prop. 1 may differ in the last digits across thread counts). The default run takes
about 20 s of one CPU core.
"""

from __future__ import annotations

import argparse
import csv
import math
import zlib
from pathlib import Path

import torch

from specnorm.analysis.gradient_bound import prop1_ratios
from specnorm.analysis.shapes import LayerShape, all_d_layers, cnn_d_layers, mlp_d_layers
from specnorm.analysis.variance import (
    DISTS,
    bsn_applies,
    bsn_bound,
    bsn_lower_order,
    bsn_variance,
    sn_bound,
    sn_lower_order,
    sn_variance,
)
from specnorm.layout import Results

THEORY_COLUMNS = (
    "check", "shape", "dist", "samples", "estimate", "estimate_se", "bound", "ratio", "lower_order", "status",
    "layers",
)
UPPER_TOL = 1e-9
"""Relative float slack on ``ratio ≤ 1`` (for 1 × n matrices Var·n is exactly 1 in exact arithmetic)."""
LOWER_FLOOR = 0.1
"""Documented floor for ``lower_order`` (our choice; the constant L of Thms. 2–3 is not in the main text)."""
MIN_SAMPLES = 2
DEFAULT_SAMPLES, QUICK_SAMPLES = 200, 20
ENTRY_BUDGET, QUICK_ENTRY_BUDGET = 2**21, 2**18
DEFAULT_INPUTS, QUICK_INPUTS = 16, 4
QUICK_MAX_ENTRIES = 2**17
"""``--quick`` keeps only the shapes with at most this many weights."""
QUICK_CNN_CHANNELS = (8, 8, 16, 16, 32, 32, 64)
QUICK_MLP_WIDTHS = (784, 64, 64, 64, 64, 1)
DEFAULT_OUT = Results().default_theory


def _generator(seed: int, key: str) -> torch.Generator:
    """A generator for one row, seeded from the run seed and the row's key."""
    return torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(key.encode())) % 2**63)


def _n_samples(entries: int, samples: int, budget: int) -> int:
    return min(samples, max(MIN_SAMPLES, budget // entries))


def _status(ratio: float, lower: float, applies: bool = True) -> str:
    if not applies:
        return "INFO"
    ok = ratio <= 1 + UPPER_TOL and (math.isnan(lower) or lower >= LOWER_FLOOR)
    return "PASS" if ok else "FAIL"


def _group(layers: list[LayerShape], key) -> dict[tuple, list[str]]:
    """Distinct shapes (in first-use order) → labels of the layers that have them."""
    groups: dict[tuple, list[str]] = {}
    for sh in layers:
        groups.setdefault(key(sh), []).append(sh.label)
    return groups


def _row(
    check: str, shape: str, dist: str, samples: int, estimate: float, se: float, bound: float, lower: float,
    layers: list[str], applies: bool = True,
) -> dict:
    """One CSV row; ``ratio`` = estimate/bound and the status follow from the values."""
    ratio = estimate / bound
    return dict(
        check=check, shape=shape, dist=dist, samples=samples, estimate=estimate, estimate_se=se, bound=bound,
        ratio=ratio, lower_order=lower, status=_status(ratio, lower, applies), layers=" ".join(layers),
    )


def thm2_rows(layers: list[LayerShape], samples: int, budget: int, seed: int) -> list[dict]:
    """Thm. 2 on every distinct m × n of ``layers``, Gaussian and uniform entries."""
    rows = []
    for (m, n), labels in _group(layers, lambda sh: (sh.m, sh.n)).items():
        for dist in DISTS:
            shape = f"{m}x{n}"
            gen = _generator(seed, f"thm2:{shape}:{dist}")
            est = sn_variance(m, n, dist, _n_samples(m * n, samples, budget), gen)
            lower = sn_lower_order(est.var, m, n) if dist == "gaussian" else math.nan
            rows.append(_row("thm2", shape, dist, est.samples, est.var, est.se, sn_bound(m, n), lower, labels))
    return rows


def thm3_rows(layers: list[LayerShape], samples: int, budget: int, seed: int) -> list[dict]:
    """Thm. 3 on every distinct conv kernel of ``layers``, Gaussian and uniform entries."""
    rows = []
    convs = [sh for sh in layers if sh.kind == "conv"]
    for (c_out, c_in, k), labels in _group(convs, lambda sh: (sh.c_out, sh.c_in, sh.k)).items():
        area = k * k
        for dist in DISTS:
            shape = f"{c_out}x{c_in}x{k}x{k}"
            gen = _generator(seed, f"thm3:{shape}:{dist}")
            est = bsn_variance(c_out, c_in, area, dist, _n_samples(c_out * c_in * area, samples, budget), gen)
            lower = bsn_lower_order(est.var, c_out, c_in, area) if dist == "gaussian" else math.nan
            rows.append(_row("thm3", shape, dist, est.samples, est.var, est.se, bsn_bound(c_out, c_in, area),
                             lower, labels, bsn_applies(c_out, c_in, area)))
    return rows


def prop1_rows(nets: dict[str, list[LayerShape]], inputs: int, seed: int) -> list[dict]:
    """Prop. 1 on each random unit-spectral-norm network of ``nets`` (name → layers)."""
    rows = []
    for name, layers in nets.items():
        per_layer, total = prop1_ratios(layers, inputs, _generator(seed, f"prop1:{name}"))
        for sh, r in zip(layers, per_layer):
            shape = f"{sh.c_out}x{sh.c_in}x{sh.k}x{sh.k}" if sh.kind == "conv" else f"{sh.m}x{sh.n}"
            rows.append(_row("prop1", shape, "gaussian", inputs, r, math.nan, 1.0, math.nan, [f"{name}:{sh.layer}"]))
        rows.append(_row("prop1", f"L={len(layers)}", "gaussian", inputs, total, math.nan, math.sqrt(len(layers)),
                         math.nan, [f"{name}:total"]))
    return rows


def run(seed: int = 0, samples: int | None = None, inputs: int | None = None, quick: bool = False) -> list[dict]:
    """All rows. ``quick``: small shapes only, narrow Prop. 1 networks, fewer samples (tests, smoke)."""
    samples = samples or (QUICK_SAMPLES if quick else DEFAULT_SAMPLES)
    inputs = inputs or (QUICK_INPUTS if quick else DEFAULT_INPUTS)
    budget = QUICK_ENTRY_BUDGET if quick else ENTRY_BUDGET
    layers = all_d_layers()
    if quick:
        layers = [sh for sh in layers if sh.m * sh.n <= QUICK_MAX_ENTRIES]
        nets = {"mlp": mlp_d_layers(QUICK_MLP_WIDTHS), "cnn16": cnn_d_layers(16, QUICK_CNN_CHANNELS)}
    else:
        nets = {"mlp": mlp_d_layers(), "cnn32": cnn_d_layers(32)}
    return (
        thm2_rows(layers, samples, budget, seed) + thm3_rows(layers, samples, budget, seed)
        + prop1_rows(nets, inputs, seed)
    )


def _csv_value(v: object) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.10g}"
    return str(v)


def write_csv(rows: list[dict], path: Path) -> None:
    """``THEORY_COLUMNS`` header, floats to 10 significant digits, NaN as an empty field."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(THEORY_COLUMNS)
        w.writerows([[_csv_value(r[c]) for c in THEORY_COLUMNS] for r in rows])


def format_table(rows: list[dict], layers_width: int = 44) -> str:
    """Aligned human-readable table (floats to 4 significant digits, long layer lists cut)."""
    cols = ("check", "shape", "dist", "samples", "estimate", "bound", "ratio", "lower_order", "status", "layers")

    def cell(r: dict, c: str) -> str:
        v = r[c]
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.4g}"
        s = str(v)
        return s if len(s) <= layers_width else s[: layers_width - 3] + "..."

    table = [list(cols)] + [[cell(r, c) for c in cols] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    numeric = {"samples", "estimate", "bound", "ratio", "lower_order"}
    return "\n".join(
        "  ".join(v.rjust(wd) if c in numeric else v.ljust(wd) for v, wd, c in zip(line, widths, cols)).rstrip()
        for line in table
    )


def summary(rows: list[dict]) -> str:
    """One line: verdict, counts per check, min lower-order quantities, max Prop. 1 ratio."""
    checked = [r for r in rows if r["status"] != "INFO"]
    failed = [r for r in checked if r["status"] == "FAIL"]
    counts = ", ".join(f"{c} {sum(r['check'] == c for r in checked)}" for c in ("thm2", "thm3", "prop1"))

    def min_lower(check: str) -> str:
        vals = [r["lower_order"] for r in checked if r["check"] == check and not math.isnan(r["lower_order"])]
        return f"{min(vals):.3g}" if vals else "-"

    prop1 = max((r["ratio"] for r in checked if r["check"] == "prop1"), default=math.nan)
    n = len(checked)
    verdict = f"FAIL: {len(failed)} of {n} checks failed" if failed else f"PASS: all {n} checks hold"
    return (
        f"{verdict} ({counts}; {len(rows) - len(checked)} INFO); min lower-order thm2 {min_lower('thm2')}, "
        f"thm3 {min_lower('thm3')} (floor {LOWER_FLOOR}); max Prop. 1 ratio {prop1:.3g}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="specnorm theory",
        description="Seeded Monte-Carlo checks of Thm. 2 (SN variance), Thm. 3 (BSN variance) and Prop. 1 "
        "(gradient bound) on the discriminators' layer shapes. Exit code 0 iff every bound holds.",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"CSV path (default {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--samples", type=int, default=None,
                   help=f"max matrices per shape and distribution (default {DEFAULT_SAMPLES}, quick {QUICK_SAMPLES}); "
                   "large shapes use fewer")
    p.add_argument("--inputs", type=int, default=None,
                   help=f"random inputs for Prop. 1 (default {DEFAULT_INPUTS}, quick {QUICK_INPUTS})")
    p.add_argument("--quick", action="store_true", help="small shapes and narrow networks only (seconds)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: the checks are many small operations, and extra "
                   "threads stall on busy shared cores)")
    args = p.parse_args(argv)
    if min(args.samples or 1, args.inputs or 1, args.threads) < 1:
        p.error("--samples, --inputs and --threads must be >= 1")
    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        rows = run(args.seed, args.samples, args.inputs, args.quick)
    finally:
        torch.set_num_threads(previous)
    write_csv(rows, args.out)
    print(format_table(rows))
    print(summary(rows) + f"; CSV {args.out}")
    return 1 if any(r["status"] == "FAIL" for r in rows) else 0
