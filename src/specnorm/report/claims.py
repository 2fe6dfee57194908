"""The paper's qualitative claims (docs/design.md#claim-rules), each judged from our data by a stated rule
(docs/deviations.md P6).

Every verdict is one of four. ``reproduced``: the rule's evidence for the claim is significant at
``ALPHA`` after the correction the rule states, every cell with ≥ ``MIN_SEEDS`` seeds. ``not
reproduced``: the evidence is significant *against* the claim under the same gates. ``inconclusive``:
data exist but neither holds (too few seeds or scales, a sweep narrower than the paper's, p ≥ α), or
the dataset is not one the paper states the claim for. ``not run``: the data the rule needs do not
exist yet. An identity (a bound that holds for any matrix) is an *implementation check*, reported in
the evidence and never counted as a reproduced claim. A verdict on the built-in dataset is a *demo
analogue*: the same rule applied to a toy problem, never the paper's claim. Claims are judged per
dataset, in the Table 1 setting, under one protocol key per metric: the key with the most scored
images (then the most cells), e.g. the rescored 50,000-image IS over the in-training one
(:func:`main_key`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from specnorm.catalog import is_builtin
from specnorm.report import paper
from specnorm.report.runs import Run
from specnorm.report.scores import keyed, with_key
from specnorm.report.stats import (ALPHA, MIN_SEEDS, holm, mean_sem, paired_p_less, significant, welch_p,
                                   welch_p_from_stats, welch_p_less)
from specnorm.scores import ProtocolKey
from specnorm.vocab import BSN, BSSN, LECUN, MANIFOLD_METRICS, NO_SN, SN, SN_CONV, SSN

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"
STATUSES = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN)
MIN_SCALES = 4
MIN_EVALS = 3
IDENTITY_TOLERANCE = 1e-3
"""Relative float tolerance of the variance identity check (float32 weights, float64 statistics)."""
ANALOGUE = "demo analogue"

_GATE = f"α = {ALPHA:g}, ≥ {MIN_SEEDS} seeds per cell"
CRITERIA: dict[str, str] = {
    "bsn_vs_sn": _GATE + " (two-sided Welch, Holm over the comparisons; symmetric majority)",
    "curves": _GATE + f" (one-sided paired t over seeds, Bonferroni over the candidate peaks), ≥ {MIN_EVALS} "
              "evaluations",
    "sn_conv": _GATE + " (one-sided Welch; equivalence by two one-sided tests; all must hold, a reversal "
               "counts after Holm)",
    "modes_SN": _GATE + f" (Welch), ≥ {MIN_SCALES} scales; a refutation needs the paper's range of s",
    "modes_LeCun": _GATE + f" (Welch), ≥ {MIN_SCALES} scales; a refutation needs the paper's range of s",
    "variance": _GATE + " (two-sided Welch of per-run variance drift, SN vs no SN); the Thm. 2 bound is an "
                "implementation check, not judged",
    "imagenet": _GATE + " (two-sided Welch)",
}
"""The decision rule's parameters per claim, printed beside its verdict."""

CLAIM_DATASETS: dict[str, tuple[str, ...]] = {
    "bsn_vs_sn": ("cifar10", "stl10", "celeba"),  # §5.3, App. N (ILSVRC2012 excluded by the paper)
    "curves": ("cifar10", "stl10", "celeba"),  # Fig. 9 (CIFAR10), Apps. P–R
    "sn_conv": ("cifar10",),  # Figs. 4–6
    "modes_SN": ("cifar10",),  # Fig. 8
    "modes_LeCun": ("cifar10",),  # Fig. 8
    "variance": ("cifar10",),  # Fig. 7
    "imagenet": ("imagenet",),  # Table 1
}
"""The datasets on which the paper states each claim; elsewhere a verdict is only indicative."""

_SEEDS = f"every cell ≥ {MIN_SEEDS} seeds, else inconclusive"
_KEY = "under the protocol key with the most scored images"
CLAIMS: dict[str, tuple[str, str, str]] = {
    "bsn_vs_sn": (
        "BSN beats SN on CIFAR10/STL10/CelebA across the App. N hyper-parameter settings.", "§5.3, App. N",
        f"One comparison per setting × sample-quality metric (IS, FID, and KID where scored; not the k-NN "
        f"metrics), best during training, {_KEY}; SN and BSN at s = 1, both with ≥ "
        f"{MIN_SEEDS} seeds. Two-sided Welch, Holm-corrected over the k comparisons at α = {ALPHA:g}. "
        "Symmetric: reproduced when BSN is significantly better in more than k/2 comparisons (\"BSN "
        "consistently outperforms SN in most of the cases\"); not reproduced when SN is significantly better in "
        "more than k/2; else inconclusive."),
    "curves": (
        "SN's IS drops late in training while BSN's rises monotonically.", "§5.3, Fig. 9",
        f"Per-seed IS curves (in-training evaluations {_KEY}, Table 1 setting, s = 1, ≥ {MIN_EVALS} evaluations; "
        f"{_SEEDS}). The seeds' evaluations are paired: a curve drops when its last evaluation is below an "
        "earlier one by a one-sided paired t-test over seeds, Bonferroni-corrected over the earlier evaluations "
        "(the peak is a selected maximum: every earlier evaluation is a candidate); it rises when its last "
        "evaluation is above its first (one-sided paired t). Reproduced when SN drops and BSN rises without "
        "dropping (each at α: all must hold); not reproduced when BSN drops; else inconclusive (an SN ending at "
        "its peak is not evidence against a drop too small to detect)."),
    "sn_conv": (
        "SN_Conv has vanishing gradients and low IS; a fixed scale s ≈ 1.75 fixes both.", "§4, Figs. 4–6",
        f"Best-during-training IS ({_KEY}; {_SEEDS}) and the per-seed gradient norm w.r.t. the effective "
        "weight (log of the geometric mean over layers and the second half of training, analysis.csv), with "
        "s the swept SN_Conv scale closest to 1.75. For each quantity Q (IS, gradient): (a) SN_Conv's Q is "
        "below SN's; (b) SN_Conv×s's Q is above SN_Conv's (one-sided Welch); (c) SN_Conv×s's Q is similar to "
        "SN's: equivalence by two one-sided Welch tests within ± half of SN's lead over SN_Conv (\"fixes\" = "
        "closes at least half the gap). Reproduced when all six tests hold at α (an intersection: no "
        "correction needed); not reproduced when a reversal (SN_Conv's Q significantly above SN's, SN_Conv×s's "
        "significantly below SN_Conv's, or, when SN's lead is significant, SN_Conv×s's significantly outside the "
        "margin) holds after Holm over the reversal tests; "
        "else inconclusive — \"not significantly different\" is never read as \"similar\"."),
    "modes_SN": (
        "SSN has two good modes of the scale s.", "§5.2, Fig. 8",
        f"Best-during-training IS over s ({_KEY}; scales with ≥ {MIN_SEEDS} seeds; ≥ {MIN_SCALES} such "
        "scales, else inconclusive). A mode is a local maximum of the mean; two maxima are separate modes only "
        f"when the lowest point between them is below the lower of the two at Welch p < {ALPHA:g}. Reproduced "
        "when there are ≥ 2 modes; not reproduced when the mean has one local maximum, every step away from it "
        "descends significantly, and the sweep covers the paper's range of s (SSN: the official CIFAR10 sweep "
        "0.7–4.0); a single mode on a narrower sweep is inconclusive; else inconclusive."),
    "modes_LeCun": (
        "Scaled LeCun initialization (no SN) has two good modes of s, at ≈ 0.2 and ≈ 1.2 on CIFAR10.", "§5.2, Fig. 8",
        "As for SSN, on the LeCun×s sweep; the paper's range is taken as the span of its two modes, 0.2–1.2 "
        "(its sweep is not published): a refutation needs a sweep covering it. The modes' locations are "
        "reported (the paper's are for CIFAR10)."),
    "variance": (
        "Under SN the effective weight's variance stays at LeCun's level (≈ 1/fan-in; Thm. 2: ≤ 1/max(m, n)) "
        "throughout training, where without SN it drifts.", "§4, Fig. 7, App. L.2",
        "Implementation check, not a verdict: dividing by the exact spectral norm gives variance ≤ 1/max(m, n) "
        "for any matrix (‖W‖_F² ≤ rank·σ²), so each analysis row of SN must satisfy var_eff·max(m, n)·"
        "(σ_used/σ_w)² ≤ 1; the one-step σ_used's error against the exact σ_w is reported. Judged: per finished "
        "run (s = 1, Table 1 setting), the drift of each layer's log10 variance from the first analysis after "
        "iteration 0 (the stored u is still random at 0) to the last, averaged over layers; SN's runs against the "
        f"un-normalized D's (no SN at s = 1, else LeCun×1), two-sided Welch at α = {ALPHA:g}, {_SEEDS}. Reproduced "
        "when SN drifts significantly less; not reproduced when it drifts significantly more; else "
        "inconclusive; the variance against LeCun's 1/fan-in at the last analysis is reported. A failed "
        "implementation check makes the verdict inconclusive."),
    "imagenet": (
        "BSN without scaling collapses on ILSVRC2012 (IS 1.77) and BSSN fixes it.", "§5.3, Table 1",
        f"ILSVRC2012 Table 1 IS column and the cells' coverage (best during training; {_SEEDS}). Collapse: BSN's "
        f"IS below half of SN's (Welch test of BSN against 0.5 × SN's seeds) and BSN's coverage below SN's "
        f"(Welch), both at α = {ALPHA:g}: too few real samples have a generated one in their 5-NN ball, not "
        "merely poor samples. Fixed: BSSN (best IS scale of the BSN sweep, a selected maximum) has an IS and a "
        "coverage (at that s) not significantly below SN's. Reproduced when the collapse and the fix hold; not "
        "reproduced when BSN's IS is significantly above half of SN's, BSN's coverage significantly above SN's, "
        "or BSSN's IS or coverage significantly below SN's; else inconclusive (also when coverage was not "
        "measured). Recall (k = 3) is reported beside coverage, not judged. On the built-in dataset the same "
        "rule is a demo analogue."),
}
"""``key → (claim, where in the paper, rule)``."""


@dataclass
class Claim:
    """One row of the checklist; ``verdict`` is ``status`` as shown (``… (demo analogue)``)."""

    key: str
    claim: str
    source: str
    scope: str
    status: str
    evidence: str
    rule: str
    criteria: str = ""
    analogue: bool = False
    verdict: str = ""


def _claim(key: str, dataset: str, status: str, evidence: str) -> Claim:
    """A verdict of the rule on ``dataset``, relabelled when the dataset is not the claim's: the built-in
    dataset gives a demo analogue; another dataset makes a decided verdict inconclusive."""
    text, source, rule = CLAIMS[key]
    analogue = is_builtin(dataset)
    if not analogue and dataset not in CLAIM_DATASETS[key] and status in (REPRODUCED, NOT_REPRODUCED):
        claimed = ", ".join(paper.dataset_label(d) for d in CLAIM_DATASETS[key])
        evidence = (f"the paper states this claim for {claimed}; here the rule alone would say \"{status}\", "
                    f"which is not evidence about the paper's claim. " + evidence)
        status = INCONCLUSIVE
    verdict = f"{status} ({ANALOGUE})" if analogue and status != NOT_RUN else status
    return Claim(key, text, source, paper.dataset_label(dataset), status, evidence, rule,
                 CRITERIA[key], analogue, verdict)


def counts(claims: list[Claim]) -> dict[str, int]:
    """How many claims have each of the four statuses (the page header)."""
    return {s: sum(c.status == s for c in claims) for s in STATUSES}


def _fmt(m: float, s: float) -> str:
    return f"{m:.4g} ± {s:.2g}" if math.isfinite(s) else f"{m:.4g}"


def _fmt_of(values: list[float]) -> str:
    """:func:`_fmt` of the values' mean and s.e.m. (:func:`~specnorm.report.stats.mean_sem`)."""
    return _fmt(*mean_sem(values)[:2])


def _pnum(p: float) -> str:
    return "undefined" if not math.isfinite(p) else ("< 0.001" if p < 0.001 else f"{p:.2g}")


def _p(p: float) -> str:
    return f"p {_pnum(p)}" if not math.isfinite(p) or p < 0.001 else f"p = {_pnum(p)}"


def _sign(a: float, b: float) -> int:
    return int(np.sign(a - b)) if math.isfinite(a) and math.isfinite(b) else 0


def _cell(g: pd.DataFrame, fam: str, scale: float) -> pd.Series | None:
    sel = g[(g["family"] == fam) & (g["scale"] == scale)]
    return sel.iloc[0] if len(sel) else None


def main_key(keys) -> ProtocolKey | None:
    """The protocol key a claim reads among ``keys`` (one per score row; None ignored): the most scored
    images (n_gen, then n_real), then the most rows, then the key order — a stated rule, never a
    tie-break of counts (docs/design.md#claim-rules). None when there is no key."""
    count = Counter(k for k in keys if isinstance(k, ProtocolKey))
    return max(count, key=lambda k: (k.n_gen, k.n_real, count[k], k)) if count else None


def _main_key(g: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of ``metric`` under :func:`main_key` (one protocol per judgement)."""
    g = g[g["metric"] == metric]
    return g[with_key(g, main_key(g["key"]))] if len(g) else g


def _scope(runs: list[Run], families: tuple[str, ...], scale: float | None = None,
           settings: dict[str, str | None] | None = None) -> list[str]:
    """Datasets with a cell (in any state, planned included) of ``families`` (at ``scale``; in the
    Table 1 setting when ``settings`` is given): where the claim is checked or reported as not run."""
    return sorted({r.dataset for r in runs if r.family in families and (scale is None or r.scale == scale)
                   and (settings is None or r.setting == settings.get(r.dataset))})


def _progress(runs: list[Run], dataset: str, families: tuple[str, ...], scale: float | None = None) -> str:
    """"SN: 3/5, BSN: 0/5 cells finished" for the evidence of a claim that is not run yet."""
    parts = []
    for fam in families:
        sel = [r for r in runs if r.dataset == dataset and r.family == fam and (scale is None or r.scale == scale)]
        parts.append(f"{fam}{'' if scale is None else f' ×{scale:g}'}: {sum(r.done for r in sel)}/{len(sel)}")
    return ", ".join(parts) + " cells finished"


def _best_is(grouped: pd.DataFrame, dataset: str, settings: dict[str, str | None]) -> pd.DataFrame:
    g = grouped[(grouped["dataset"] == dataset) & (grouped["setting"] == settings.get(dataset))
                & (grouped["which"] == "best")]
    return _main_key(g, "is")


def _few(named: dict[str, pd.Series]) -> str:
    """"SN n=2, BSN n=1": the cells below MIN_SEEDS ("" when none is)."""
    return ", ".join(f"{k} n={int(r['n'])}" for k, r in named.items() if r["n"] < MIN_SEEDS)


# -- judgements -----------------------------------------------------------------------------------
def bsn_beats_sn(hparam_table: pd.DataFrame, runs: list[Run]) -> list[Claim]:
    out = []
    for dataset in [d for d in _scope(runs, (SN, BSN), 1.0) if d != "imagenet"]:
        d = hparam_table[(hparam_table["dataset"] == dataset) & (hparam_table["which"] == "best")
                         & (hparam_table["sn_n"] >= 1) & (hparam_table["bsn_n"] >= 1)
                         & ~hparam_table["metric"].isin(MANIFOLD_METRICS)]  # sample quality: IS, FID (KID)
        if d.empty:
            out.append(_claim("bsn_vs_sn", dataset, NOT_RUN, "no setting has finished scores of both SN and BSN "
                              f"({_progress(runs, dataset, (SN, BSN), 1.0)})"))
            continue
        # one comparison per setting × metric: the key with the most images (IS and FID scored twice on the
        # same generators are one comparison each, not two)
        d = pd.concat([sub[with_key(sub, main_key(sub["key"]))]
                       for _, sub in d.groupby(["setting", "metric"], sort=True, dropna=False)])
        ok = d[(d["sn_n"] >= MIN_SEEDS) & (d["bsn_n"] >= MIN_SEEDS)]
        left = len(d) - len(ok)
        if ok.empty:
            out.append(_claim("bsn_vs_sn", dataset, INCONCLUSIVE,
                              f"too few seeds: {len(d)} comparison(s), none with ≥ {MIN_SEEDS} seeds of both SN and "
                              f"BSN (at most n = {int(d[['sn_n', 'bsn_n']].min(axis=1).max())})"))
            continue
        adjusted = holm(ok["welch_p"].astype(float).tolist())
        sig = pd.Series([significant(p) for p in adjusted], index=ok.index)
        bsn_up = ok["bsn_better"].astype(bool)
        bsn_wins, sn_wins = int((sig & bsn_up).sum()), int((sig & ~bsn_up).sum())
        k, many = len(ok), ok["setting_label"].nunique() > 1
        evidence = (f"{k} comparison(s) with ≥ {MIN_SEEDS} seeds ({ok['setting_label'].nunique()} setting(s) × "
                    f"{ok['metric'].nunique()} metric(s), each {_KEY}): after Holm over {k}, BSN significantly "
                    f"better in {bsn_wins}, SN significantly better in {sn_wins}, no significant difference in "
                    f"{k - bsn_wins - sn_wins} (" + ", ".join(
                        f"{r['label']}{' (' + r['setting_label'] + ')' if many else ''}: p {_pnum(r['welch_p'])}, "
                        f"Holm {_pnum(a)}"
                        for (_, r), a in zip(ok.iterrows(), adjusted))
                    + f"); BSN's mean better in {int(bsn_up.sum())} of {k}"
                    + (f"; {left} comparison(s) with fewer seeds left out" if left else ""))
        status = REPRODUCED if bsn_wins > k / 2 else NOT_REPRODUCED if sn_wins > k / 2 else INCONCLUSIVE
        out.append(_claim("bsn_vs_sn", dataset, status, evidence))
    return out


def _seed_curves(runs: list[Run], dataset: str, setting: str | None, family: str) -> pd.DataFrame:
    """IS per seed (rows) and in-training evaluation (columns) of the finished runs of ``family`` at
    s = 1, under :func:`main_key` of those runs' IS rows; only the evaluations every seed has (the
    seeds' values at one iteration are paired with their values at another)."""
    frames = []
    for r in runs:
        if not (r.done and r.dataset == dataset and r.setting == setting and r.family == family and r.scale == 1.0):
            continue
        m = r.metrics
        if m.empty or not {"metric", "value", "iteration"} <= set(m.columns):
            continue
        frames.append(keyed(m[m["metric"] == "is"]).assign(seed=r.seed))
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames)
    df = df[with_key(df, main_key(df["key"]))]
    wide = df.groupby(["seed", "iteration"])["value"].mean().unstack("iteration").sort_index(axis=1)
    return wide.dropna(axis=1, how="any")


def _curve_summary(wide: pd.DataFrame) -> dict | None:
    """Paired drop and rise tests of one family's per-seed curves (rule of ``curves``)."""
    if wide.empty:
        return None
    its = list(wide.columns)
    mean = wide.mean(axis=0)
    last = wide[its[-1]]
    earlier = its[:-1]
    drop_p = [paired_p_less(last.tolist(), wide[it].tolist()) for it in earlier]
    finite = [p for p in drop_p if math.isfinite(p)]
    drop = min(1.0, min(finite) * len(earlier)) if finite else math.nan  # Bonferroni over the candidate peaks
    rise = paired_p_less(wide[its[0]].tolist(), last.tolist()) if len(its) > 1 else math.nan
    sem = mean_sem(last.tolist())[1]
    peak = int(mean.idxmax())
    return {"peak": float(mean.max()), "peak_it": peak, "last": float(mean[its[-1]]), "sem": sem,
            "last_it": int(its[-1]), "n": len(wide), "evals": len(its), "p": drop, "rise_p": rise,
            "drops": significant(drop), "rises": significant(rise) and float(mean[its[-1]]) > float(mean[its[0]])}


def curves_claim(runs: list[Run], settings: dict[str, str | None]) -> list[Claim]:
    out = []
    for dataset in _scope(runs, (SN, BSN), 1.0, settings):
        setting = settings.get(dataset)
        sn, bsn = (_curve_summary(_seed_curves(runs, dataset, setting, f)) for f in (SN, BSN))
        if sn is None or bsn is None:
            out.append(_claim("curves", dataset, NOT_RUN, "needs IS curves of SN and BSN "
                              f"({_progress(runs, dataset, (SN, BSN), 1.0)})"))
            continue
        evidence = "; ".join(
            f"{name}: mean peak {x['peak']:.4g} at it {x['peak_it']}, last {_fmt(x['last'], x['sem'])} at it "
            f"{x['last_it']} (n = {x['n']} seeds, {x['evals']} evaluations every seed has; last below an earlier "
            f"evaluation: paired, Bonferroni over {x['evals'] - 1}, {_p(x['p'])}; last above first: paired "
            f"{_p(x['rise_p'])})" for name, x in ((SN, sn), (BSN, bsn)))
        short = [f"{name} has {x['evals']} evaluation(s) and n = {x['n']}" for name, x in ((SN, sn), (BSN, bsn))
                 if x["evals"] < MIN_EVALS or x["n"] < MIN_SEEDS]
        if short:
            out.append(_claim("curves", dataset, INCONCLUSIVE, f"too few seeds or evaluations ({'; '.join(short)}). "
                              + evidence))
            continue
        evidence += (f" → SN {'drops' if sn['drops'] else 'does not drop significantly'}, "
                     f"BSN {'drops' if bsn['drops'] else 'rises' if bsn['rises'] else 'neither drops nor rises'}"
                     " significantly")
        status = NOT_REPRODUCED if bsn["drops"] else REPRODUCED if sn["drops"] and bsn["rises"] else INCONCLUSIVE
        out.append(_claim("curves", dataset, status, evidence))
    return out


def _seed_log_grads(runs: list[Run], dataset: str, setting: str | None, fam: str, scale: float) -> list[float]:
    """Per finished run of a cell: log10 of the geometric mean of ``grad_norm_eff`` over layers and the
    second half of its analysis iterations (analysis.csv)."""
    out = []
    for r in runs:
        if not (r.done and r.dataset == dataset and r.setting == setting and r.family == fam and r.scale == scale):
            continue
        a = r.analysis
        if a.empty or not {"iteration", "grad_norm_eff"} <= set(a.columns):
            continue
        a = a[a["grad_norm_eff"] > 0]
        a = a[a["iteration"] >= a["iteration"].max() / 2]
        if len(a):
            out.append(float(np.mean(np.log10(a["grad_norm_eff"].astype(float)))))
    return out


def _fixes(name: str, sn: list[float], conv: list[float], fix: list[float], s: float) -> tuple[list, list, str]:
    """The rule of ``sn_conv`` for one quantity (higher is better): ``(holds, reversals, evidence)``, the
    three tests that must hold and the (up to) four that count against, each a ``(name, p)``.
    Equivalence margin: half of SN's lead over SN_Conv; the two margin reversals count only when that
    lead is significant."""
    gap = float(np.mean(sn) - np.mean(conv))
    margin = abs(gap) / 2
    lower, upper = welch_p_less(sn, fix, margin), welch_p_less(fix, sn, margin)
    equivalent = max(lower, upper) if math.isfinite(lower) and math.isfinite(upper) else math.nan  # both one-sided
    holds = [(f"{name}: SN_Conv < SN", welch_p_less(conv, sn)),
             (f"{name}: SN_Conv×{s:g} > SN_Conv", welch_p_less(conv, fix)),
             (f"{name}: SN_Conv×{s:g} within ±{margin:.3g} of SN", equivalent)]
    reversals = [(f"{name}: SN_Conv > SN", welch_p_less(sn, conv)),
                 (f"{name}: SN_Conv×{s:g} < SN_Conv", welch_p_less(fix, conv)),
                 (f"{name}: SN_Conv×{s:g} − SN < −{margin:.3g}", welch_p_less(fix, sn, -margin)),
                 (f"{name}: SN_Conv×{s:g} − SN > {margin:.3g}", welch_p_less(sn, fix, -margin))]
    if not significant(holds[0][1]):  # no significant gap to close: the margin means nothing, only (a), (b) count
        reversals = reversals[:2]
    return holds, reversals, f"{name}: SN {_fmt_of(sn)}, SN_Conv {_fmt_of(conv)}, SN_Conv×{s:g} {_fmt_of(fix)}"


def sn_conv_claim(grouped: pd.DataFrame, runs: list[Run], settings: dict[str, str | None]) -> list[Claim]:
    out = []
    for dataset in _scope(runs, (SN_CONV,), settings=settings):
        setting = settings.get(dataset)
        g = _best_is(grouped, dataset, settings)
        sn, conv = _cell(g, SN, 1.0), _cell(g, SN_CONV, 1.0)
        scales = sorted(s for s in g[g["family"] == SN_CONV]["scale"] if s != 1.0)
        s = min(scales, key=lambda x: (abs(x - paper.SN_CONV_FIX_SCALE), x)) if scales else math.nan
        fix = _cell(g, SN_CONV, s) if scales else None
        lg = {name: _seed_log_grads(runs, dataset, setting, fam, sc)
              for name, fam, sc in ((SN, SN, 1.0), (SN_CONV, SN_CONV, 1.0), ("fix", SN_CONV, s))}
        missing = [name for name, ok in ((SN, sn is not None), (SN_CONV, conv is not None),
                                         (f"{SN_CONV}×s with s ≠ 1", fix is not None),
                                         ("gradient norms", all(lg.values()))) if not ok]
        if missing:
            out.append(_claim("sn_conv", dataset, NOT_RUN, "missing (IS scores, analysis.csv): " + ", ".join(missing)
                              + f" ({_progress(runs, dataset, (SN, SN_CONV))})"))
            continue
        h_is, r_is, e_is = _fixes("IS", sn["values"], conv["values"], fix["values"], s)
        h_g, r_g, e_g = _fixes("log10 gradient norm", lg[SN], lg[SN_CONV], lg["fix"], s)
        holds, reversals = h_is + h_g, r_is + r_g
        adjusted = holm([p for _, p in reversals])
        evidence = (f"{e_is} ({_KEY}, n = {int(sn['n'])}/{int(conv['n'])}/{int(fix['n'])}); {e_g} (n = "
                    f"{len(lg[SN])}/{len(lg[SN_CONV])}/{len(lg['fix'])}). Needed, each at α: "
                    + "; ".join(f"{t} {_p(p)}" for t, p in holds)
                    + ". Against (Holm over " + str(len(reversals)) + "): "
                    + "; ".join(f"{t} Holm {_pnum(a)}" for (t, _), a in zip(reversals, adjusted)))
        few = _few({SN: sn, SN_CONV: conv, f"{SN_CONV}×{s:g}": fix})
        if few or min(len(v) for v in lg.values()) < MIN_SEEDS:
            out.append(_claim("sn_conv", dataset, INCONCLUSIVE, f"too few seeds ({few or 'gradient norms'}). "
                              + evidence))
            continue
        against = [t for (t, _), a in zip(reversals, adjusted) if significant(a)]
        status = NOT_REPRODUCED if against else REPRODUCED if all(significant(p) for _, p in holds) \
            else INCONCLUSIVE
        out.append(_claim("sn_conv", dataset, status, evidence))
    return out


def _dip_p(m: np.ndarray, e: np.ndarray, n: np.ndarray, i: int, j: int) -> float:
    """Welch p of point ``i`` against point ``j`` of a mean curve (NaN when undefined)."""
    return welch_p_from_stats(m[i], e[i], int(n[i]), m[j], e[j], int(n[j]))


def modes(scales: list[float], means: list[float], sems: list[float], n_seeds: list[int]) -> list[float]:
    """The scales of the distinct modes of a mean curve over sorted ``scales`` (rule of ``modes_SN``):
    local maxima, two of them merged (keeping the higher) unless the lowest point between them is below
    the lower one at Welch p < ALPHA."""
    m, e, n = (np.asarray(x, dtype=float) for x in (means, sems, n_seeds))
    k = len(m)
    peaks = [i for i in range(k) if (i == 0 or m[i] > m[i - 1]) and (i == k - 1 or m[i] >= m[i + 1])]
    kept: list[int] = []
    for p in peaks:
        if kept:
            q = kept[-1]
            dip = q + int(np.argmin(m[q:p + 1]))
            low = q if m[q] <= m[p] else p
            if dip in (q, p) or not significant(_dip_p(m, e, n, dip, low)):  # no real valley: one mode
                if m[p] > m[q]:
                    kept[-1] = p
                continue
        kept.append(p)
    return [scales[i] for i in kept]


def single_mode(means: list[float], sems: list[float], n_seeds: list[int]) -> bool:
    """Whether a mean curve is significantly unimodal at its resolution: one local maximum, and every
    step away from it descends at Welch p < ALPHA."""
    m, e, n = (np.asarray(x, dtype=float) for x in (means, sems, n_seeds))
    top = int(np.argmax(m))
    steps = [(i, i + 1) for i in range(top, len(m) - 1)] + [(i, i - 1) for i in range(top, 0, -1)]
    return all(m[b] < m[a] and significant(_dip_p(m, e, n, b, a)) for a, b in steps)


def modes_claim(grouped: pd.DataFrame, runs: list[Run], settings: dict[str, str | None], family: str) -> list[Claim]:
    out = []
    key, name = f"modes_{family}", {SN: SSN, LECUN: f"{LECUN}×s"}[family]
    swept = {d for d in _scope(runs, (family,), settings=settings)
             if len({r.scale for r in runs if r.dataset == d and r.family == family}) > 1}
    for dataset in sorted(swept):
        g = _best_is(grouped, dataset, settings)
        g = g[(g["family"] == family) & (g["n"] >= 1)].sort_values("scale")
        ok = g[g["n"] >= MIN_SEEDS]
        if len(g) < 2:
            out.append(_claim(key, dataset, NOT_RUN, f"{name}: {len(g)} scale(s) with IS scores "
                                                     f"({_progress(runs, dataset, (family,))})"))
            continue
        if len(ok) < MIN_SCALES:
            out.append(_claim(key, dataset, INCONCLUSIVE,
                              f"{name}: {len(ok)} scale(s) with IS from ≥ {MIN_SEEDS} seeds, needs ≥ {MIN_SCALES} "
                              f"({len(g)} scale(s) with any seed, n = {int(g['n'].min())}–{int(g['n'].max())})"))
            continue
        args = (ok["mean"].tolist(), ok["sem"].tolist(), ok["n"].astype(int).tolist())
        found = modes(ok["scale"].tolist(), *args)
        one = len(found) < 2 and single_mode(*args)
        lo, hi = paper.MODE_RANGES[family]
        covers = ok["scale"].min() <= lo and ok["scale"].max() >= hi
        evidence = (f"{name}: {len(ok)} scales in [{ok['scale'].min():g}, {ok['scale'].max():g}] "
                    f"(n = {int(ok['n'].min())}–{int(ok['n'].max())}); {len(found)} significant mode(s) at s = "
                    + ", ".join(f"{s:g}" for s in found)
                    + ("; one local maximum with every step away from it significant" if one else "")
                    + ("" if covers else f"; the sweep does not cover the paper's range {lo:g}–{hi:g}, so one mode "
                       "here cannot refute two"))
        status = REPRODUCED if len(found) >= 2 else NOT_REPRODUCED if one and covers else INCONCLUSIVE
        out.append(_claim(key, dataset, status, evidence))
    return out


_ANALYSIS = {"iteration", "layer", "m", "n", "var_eff", "sigma_w", "sigma_used"}


def _analysis_runs(runs: list[Run], dataset: str, setting: str | None, family: str) -> list[Run]:
    return [r for r in runs if r.dataset == dataset and r.done and r.family == family and r.scale == 1.0
            and r.setting == setting and {"iteration", "layer", "n", "var_eff"} <= set(r.analysis.columns)]


def _drift(run: Run) -> tuple[float, float] | None:
    """``(drift, level)`` of one run: the mean over layers of |Δ log10 var_eff| from the first analysis
    after iteration 0 to the last, and the median over layers of var_eff·fan_in (LeCun's 1/fan_in = 1)
    at the last; None with fewer than two analyses after iteration 0."""
    a = run.analysis[(run.analysis["iteration"] > 0) & (run.analysis["var_eff"] > 0)]
    its = sorted(a["iteration"].unique())
    if len(its) < 2:
        return None
    first, last = (a[a["iteration"] == it].set_index("layer")["var_eff"].astype(float) for it in (its[0], its[-1]))
    both = first.index.intersection(last.index)
    if both.empty:
        return None
    fan_in = a[a["iteration"] == its[-1]].set_index("layer")["n"].astype(float)
    return (float(np.mean(np.abs(np.log10(last[both] / first[both])))),
            float(np.median(last[both] * fan_in[both])))


def _identity_check(sn_runs: list[Run]) -> tuple[bool, str]:
    """Thm. 2's bound as an identity of the implementation: var_eff·max(m, n)·(σ_used/σ_w)² ≤ 1 on every
    analysis row (exact σ_w, the σ_used the layer divides by; s = 1, no γ). ``(passed, words)``."""
    rows = pd.concat([r.analysis for r in sn_runs if _ANALYSIS <= set(r.analysis.columns)], ignore_index=True) \
        if sn_runs else pd.DataFrame()
    if rows.empty:
        return True, "implementation check not possible (no σ columns)"
    rows = rows.dropna(subset=["var_eff", "sigma_w", "sigma_used"])
    rows = rows[rows["sigma_w"] > 0]
    ratio = rows["var_eff"] * np.maximum(rows["m"], rows["n"]) * (rows["sigma_used"] / rows["sigma_w"]) ** 2
    under = rows["sigma_used"] / rows["sigma_w"]
    passed = bool((ratio <= 1 + IDENTITY_TOLERANCE).all())
    words = (f"implementation check (Thm. 2's bound is an identity for the exact σ, not a result): "
             f"max var_eff·max(m, n)·(σ_used/σ_w)² = {ratio.max():.4g} over {len(rows)} rows, "
             f"{'≤' if passed else 'ABOVE'} 1 — {'passed' if passed else 'FAILED'}; the one-step σ_used is "
             f"{under.min():.3g}–{under.max():.3g} × the exact σ_w, so var_eff·max(m, n) reaches "
             f"{(rows['var_eff'] * np.maximum(rows['m'], rows['n'])).max():.3g}")
    return passed, words


def variance_claim(runs: list[Run], settings: dict[str, str | None]) -> list[Claim]:
    out = []
    for dataset in _scope(runs, (SN,), 1.0, settings):
        setting = settings.get(dataset)
        sn_runs = _analysis_runs(runs, dataset, setting, SN)
        base_family = NO_SN if _analysis_runs(runs, dataset, setting, NO_SN) else LECUN
        base_runs = _analysis_runs(runs, dataset, setting, base_family)
        sn = [d for d in map(_drift, sn_runs) if d is not None]
        base = [d for d in map(_drift, base_runs) if d is not None]
        base_name = f"{base_family}{'×1' if base_family == LECUN else ''}"
        if not sn or not base:
            out.append(_claim("variance", dataset, NOT_RUN, "needs ≥ 2 analyses after iteration 0 of finished runs "
                              f"of SN and of the un-normalized D (no SN or LeCun×1) at s = 1 "
                              f"({_progress(runs, dataset, (SN, NO_SN, LECUN), 1.0)})"))
            continue
        passed, check = _identity_check(sn_runs)
        p = welch_p([d for d, _ in sn], [d for d, _ in base])
        m_sn, m_base = float(np.mean([d for d, _ in sn])), float(np.mean([d for d, _ in base]))
        evidence = (f"mean |Δ log10 variance| per layer, first to last analysis after iteration 0: SN "
                    f"{_fmt_of([d for d, _ in sn])} (n = {len(sn)}), {base_name} {_fmt_of([d for d, _ in base])}"
                    f" (n = {len(base)}), Welch {_p(p)}; variance × fan-in at the last analysis (LeCun's level = 1, "
                    f"median over layers): SN {np.median([v for _, v in sn]):.3g}, {base_name} "
                    f"{np.median([v for _, v in base]):.3g}. {check}")
        if not passed:
            out.append(_claim("variance", dataset, INCONCLUSIVE, "the implementation check failed. " + evidence))
        elif min(len(sn), len(base)) < MIN_SEEDS:
            out.append(_claim("variance", dataset, INCONCLUSIVE, f"too few runs ({len(sn)}, {len(base)}; "
                              f"needs ≥ {MIN_SEEDS} each). " + evidence))
        else:
            status = (REPRODUCED if m_sn < m_base else NOT_REPRODUCED) if significant(p) else INCONCLUSIVE
            out.append(_claim("variance", dataset, status, evidence))
    return out


COLLAPSE_JUDGED, COLLAPSE_REPORTED = "coverage", "recall"
"""The k-NN metrics the collapse claim reads beside IS (docs/design.md#metric-protocol): coverage is judged
(the share of real samples with a generated one inside their 5-NN ball, Naeem et al. 2020: robust to
outliers), recall is reported."""


def _knn_cells(grouped: pd.DataFrame, dataset: str, settings: dict[str, str | None], metric: str,
               bssn_scale: float) -> dict[str, pd.Series | None]:
    """The SN, BSN and BSSN (the BSN cell at ``bssn_scale``) cells of ``metric`` (best during training, the
    Table 1 setting, its most common protocol key); None where a cell has no such score."""
    g = grouped[(grouped["dataset"] == dataset) & (grouped["setting"] == settings.get(dataset))
                & (grouped["which"] == "best")]
    g = _main_key(g, metric)
    g = g[g["n"] >= 1]
    return {SN: _cell(g, SN, 1.0), BSN: _cell(g, BSN, 1.0), BSSN: _cell(g, BSN, bssn_scale)}


def _knn_text(metric: str, cells: dict[str, pd.Series | None], bssn_scale: float) -> str:
    """"coverage: SN 0.8 ± 0.01 (n=3), BSN …, BSSN (s = 1.4) …" (or "not measured")."""
    if any(c is None for c in cells.values()):
        missing = ", ".join(k for k, c in cells.items() if c is None)
        return (f"{metric}: not measured for {missing} (runs scored before it gain it from specnorm score: "
                "the FID-best and final generators)")
    return f"{metric}: " + ", ".join(
        f"{name}{f' (s = {bssn_scale:g})' if name == BSSN else ''} {_fmt(c['mean'], c['sem'])} (n={int(c['n'])})"
        for name, c in cells.items())


def imagenet_claim(table1_rows: pd.DataFrame, grouped: pd.DataFrame, runs: list[Run],
                   settings: dict[str, str | None]) -> list[Claim]:
    """The collapse claim on ILSVRC2012 and, as its demo analogue, on the built-in dataset: IS with
    coverage as evidence beside it, recall reported (``CLAIMS["imagenet"]``)."""
    return [_collapse_claim(table1_rows, grouped, runs, settings, dataset)
            for dataset in _scope(runs, (SN, BSN)) if dataset == "imagenet" or is_builtin(dataset)]


def _collapse_claim(table1_rows: pd.DataFrame, grouped: pd.DataFrame, runs: list[Run],
                    settings: dict[str, str | None], dataset: str) -> Claim:
    d = table1_rows[(table1_rows["dataset"] == dataset) & (table1_rows["metric"] == "is")
                    & (table1_rows["which"] == "best")]
    d = _main_key(d, "is")  # no key yet (only planned cells): the pending column, "not run"
    rows = {r: d[d["row"] == r] for r in (SN, BSN, BSSN)}
    if not all(len(v) and v["n"].iloc[0] >= 1 for v in rows.values()):
        return _claim("imagenet", dataset, NOT_RUN, "needs IS scores of SN, BSN and the BSN sweep "
                                                    f"({_progress(runs, dataset, (SN, BSN))})")
    sn, bsn, bssn = (rows[k].iloc[0] for k in (SN, BSN, BSSN))
    g = grouped[(grouped["dataset"] == dataset) & (grouped["setting"] == settings.get(dataset))
                & (grouped["which"] == "best") & (grouped["metric"] == "is") & with_key(grouped, sn["key"])]
    s_fix = float(bssn["scale"])
    v_sn, v_bsn = _cell(g, SN, 1.0)["values"], _cell(g, BSN, 1.0)["values"]
    v_bssn = _cell(g, BSN, s_fix)["values"]
    p_half, p_fix = welch_p(v_bsn, [0.5 * v for v in v_sn]), welch_p(v_bssn, v_sn)
    d_half, d_fix = _sign(bsn["mean"], 0.5 * sn["mean"]), _sign(bssn["mean"], sn["mean"])
    evidence = (f"IS: SN {_fmt(sn['mean'], sn['sem'])} (n={int(sn['n'])}), BSN {_fmt(bsn['mean'], bsn['sem'])} "
                f"(n={int(bsn['n'])}), BSSN (s = {s_fix:g}) {_fmt(bssn['mean'], bssn['sem'])} "
                f"(n={int(bssn['n'])}); BSN vs half of SN {_p(p_half)}, BSSN vs SN {_p(p_fix)}")
    cov = _knn_cells(grouped, dataset, settings, COLLAPSE_JUDGED, s_fix)
    measured = all(c is not None for c in cov.values())
    evidence += ". " + _knn_text(COLLAPSE_JUDGED, cov, s_fix)
    if measured:
        p_cov, p_cov_fix = welch_p(cov[BSN]["values"], cov[SN]["values"]), welch_p(cov[BSSN]["values"],
                                                                                   cov[SN]["values"])
        d_cov, d_cov_fix = _sign(cov[BSN]["mean"], cov[SN]["mean"]), _sign(cov[BSSN]["mean"], cov[SN]["mean"])
        evidence += f"; BSN vs SN {_p(p_cov)}, BSSN vs SN {_p(p_cov_fix)}"
    rec = _knn_cells(grouped, dataset, settings, COLLAPSE_REPORTED, s_fix)
    evidence += ". Reported, not judged: " + _knn_text(COLLAPSE_REPORTED, rec, s_fix)
    few = _few({SN: sn, BSN: bsn, BSSN: bssn}) or (_few({f"{k} {COLLAPSE_JUDGED}": c for k, c in cov.items()})
                                                   if measured else "")
    if few:
        return _claim("imagenet", dataset, INCONCLUSIVE, f"too few seeds ({few}). " + evidence)
    against = (significant(p_half) and d_half > 0) or (significant(p_fix) and d_fix < 0)
    collapse = significant(p_half) and d_half < 0
    if measured:
        against = against or (significant(p_cov) and d_cov > 0) or (significant(p_cov_fix) and d_cov_fix < 0)
        collapse = collapse and significant(p_cov) and d_cov < 0
    status = NOT_REPRODUCED if against else REPRODUCED if collapse and measured else INCONCLUSIVE
    if not measured and not against:
        evidence = f"{COLLAPSE_JUDGED} not measured, so no collapse can be shown. " + evidence
    return _claim("imagenet", dataset, status, evidence)


def checklist(runs: list[Run], grouped: pd.DataFrame, table1_rows: pd.DataFrame, hparam_table: pd.DataFrame,
              settings: dict[str, str | None]) -> list[Claim]:
    """Every claim of docs/design.md#paper-targets in the paper's order; one with no data anywhere is
    ``not run``."""
    judged = {
        "bsn_vs_sn": bsn_beats_sn(hparam_table, runs), "curves": curves_claim(runs, settings),
        "sn_conv": sn_conv_claim(grouped, runs, settings), "modes_SN": modes_claim(grouped, runs, settings, SN),
        "modes_LeCun": modes_claim(grouped, runs, settings, LECUN), "variance": variance_claim(runs, settings),
        "imagenet": imagenet_claim(table1_rows, grouped, runs, settings),
    }
    out = []
    for key, rows in judged.items():
        text, source, rule = CLAIMS[key]
        out += rows or [Claim(key, text, source, "any dataset", NOT_RUN, "no cell of this experiment in the results",
                              rule, CRITERIA[key], False, NOT_RUN)]
    return out


def to_frame(claims: list[Claim]) -> pd.DataFrame:
    return pd.DataFrame([asdict(c) for c in claims], columns=list(Claim.__dataclass_fields__))
