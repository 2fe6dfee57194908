"""The paper's qualitative claims (docs/design.md#paper-targets), each judged from our data by a stated rule
(docs/deviations.md P6).

Every verdict is one of four. ``reproduced``: the rule's evidence for the claim is significant
(two-sided Welch p < ``ALPHA``, every cell with ≥ ``MIN_SEEDS`` seeds, ≥ ``MIN_SCALES`` scales for a
sweep). ``not reproduced``: the evidence is significant *against* the claim under the same gates.
``inconclusive``: data exist but neither holds (too few seeds or scales, p ≥ α), or the dataset is not
one the paper states the claim for. ``not run``: the data the rule needs do not exist yet. A verdict
on the built-in dataset is a *demo analogue*: the same rule applied to a toy problem, never the
paper's claim. Claims are judged per dataset, in the Table 1 setting, on the protocol key with the
most cells.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from specnorm.catalog import is_builtin
from specnorm.report import paper
from specnorm.report.runs import Run
from specnorm.report.scores import with_key
from specnorm.report.stats import ALPHA, MIN_SEEDS, significant, welch_p, welch_p_from_stats
from specnorm.vocab import BSN, BSSN, LECUN, SN, SN_CONV, SSN

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"
STATUSES = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN)
MIN_SCALES = 4
VARIANCE_TOLERANCE = 1.05
ANALOGUE = "demo analogue"

_GATE = f"α = {ALPHA:g} (two-sided Welch), ≥ {MIN_SEEDS} seeds per cell"
CRITERIA: dict[str, str] = {
    "bsn_vs_sn": _GATE, "curves": _GATE + ", ≥ 3 evaluations", "sn_conv": _GATE,
    "modes_SN": _GATE + f", ≥ {MIN_SCALES} scales", "modes_LeCun": _GATE + f", ≥ {MIN_SCALES} scales",
    "variance": f"≥ {MIN_SEEDS} runs; a bound (tolerance ×{VARIANCE_TOLERANCE:g}), no p-value", "imagenet": _GATE,
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
CLAIMS: dict[str, tuple[str, str, str]] = {
    "bsn_vs_sn": (
        "BSN beats SN on CIFAR10/STL10/CelebA across the App. N hyper-parameter settings.", "§5.3, App. N",
        "Every setting × metric column (best during training) where SN and BSN (s = 1) both have ≥ "
        f"{MIN_SEEDS} seeds is one comparison, won by a side only at Welch p < {ALPHA:g}. Reproduced when BSN "
        "wins more than half of the comparisons (\"BSN consistently outperforms SN in most of the cases\"); not "
        "reproduced when SN wins at least half (BSN then cannot win most); else inconclusive."),
    "curves": (
        "SN's IS drops late in training while BSN's rises monotonically.", "§5.3, Fig. 9",
        f"IS curves (mean ± s.e.m. over seeds, Table 1 setting, s = 1, ≥ 3 evaluations; {_SEEDS}). A curve drops "
        f"when its last value is below its peak at Welch p < {ALPHA:g} (peak and last treated as independent; "
        "the peak is the maximum, so this p is optimistic). Reproduced when SN drops and BSN does not; not "
        "reproduced when BSN drops; else inconclusive (an SN ending at its peak is not significant evidence "
        "against a drop too small to detect)."),
    "sn_conv": (
        "SN_Conv has vanishing gradients and low IS; a fixed scale s ≈ 1.75 fixes both.", "§4, Figs. 4–6",
        f"Best-during-training IS ({_SEEDS}) and the per-seed gradient norm w.r.t. the effective weight "
        "(geometric mean over layers and the second half of training, analysis.csv). (a) SN_Conv's IS is below "
        "SN's; (b) SN_Conv's gradient norm is below SN's; (c) SN_Conv×s, s the swept scale closest to 1.75, "
        f"has an IS above SN_Conv's and not significantly below SN's. Each comparison is a Welch test at "
        f"α = {ALPHA:g}. Reproduced when (a), (b) and (c) hold; not reproduced when any of them is significantly "
        "reversed; else inconclusive."),
    "modes_SN": (
        "SSN has two good modes of the scale s.", "§5.2, Fig. 8",
        f"Best-during-training IS over s (scales with ≥ {MIN_SEEDS} seeds; ≥ {MIN_SCALES} such scales, else "
        "inconclusive). A mode is a local maximum of the mean; two maxima are separate modes only when the "
        f"lowest point between them is below the lower of the two at Welch p < {ALPHA:g}. Reproduced when "
        "there are ≥ 2 modes; not reproduced when the mean has one local maximum and every step away from it "
        "descends significantly (one mode at the swept resolution); else inconclusive."),
    "modes_LeCun": (
        "Scaled LeCun initialization (no SN) has two good modes of s, at ≈ 0.2 and ≈ 1.2 on CIFAR10.", "§5.2, Fig. 8",
        "As for SSN, on the LeCun×s sweep; the modes' locations are reported (the paper's are for CIFAR10)."),
    "variance": (
        "Under SN, each layer's parameter variance stays at or below 1/max(m, n) throughout training.", "§4, Fig. 7",
        "Over every analysis row (run, iteration > 0, layer) of the finished SN runs at s = 1: the variance of the "
        "effective weight's entries divided by 1/max(m, n). With ≥ "
        f"{MIN_SEEDS} runs: reproduced when the maximum is ≤ {VARIANCE_TOLERANCE} (5% allowance for the one-step "
        "power-iteration σ the layer divides by), not reproduced when it is above; fewer runs: inconclusive. "
        "Iteration 0 is reported but not judged: before the first D step the stored u is still its random "
        "initial draw, so the σ the layer divides by (one power step from noise, as in the official code) can "
        "be far below ‖W‖."),
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


def _pnum(p: float) -> str:
    return "undefined" if not math.isfinite(p) else ("< 0.001" if p < 0.001 else f"{p:.2g}")


def _p(p: float) -> str:
    return f"p {_pnum(p)}" if not math.isfinite(p) or p < 0.001 else f"p = {_pnum(p)}"


def _sign(a: float, b: float) -> int:
    return int(np.sign(a - b)) if math.isfinite(a) and math.isfinite(b) else 0


def _cell(g: pd.DataFrame, fam: str, scale: float) -> pd.Series | None:
    sel = g[(g["family"] == fam) & (g["scale"] == scale)]
    return sel.iloc[0] if len(sel) else None


def _main_key(g: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of ``metric`` under its most common protocol key (one protocol per judgement)."""
    g = g[g["metric"] == metric]
    return g[with_key(g, g["key"].value_counts().idxmax())] if len(g) else g


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
                         & (hparam_table["sn_n"] >= 1) & (hparam_table["bsn_n"] >= 1)]
        if d.empty:
            out.append(_claim("bsn_vs_sn", dataset, NOT_RUN, "no setting has finished scores of both SN and BSN "
                              f"({_progress(runs, dataset, (SN, BSN), 1.0)})"))
            continue
        ok = d[(d["sn_n"] >= MIN_SEEDS) & (d["bsn_n"] >= MIN_SEEDS)]
        left = len(d) - len(ok)
        if ok.empty:
            out.append(_claim("bsn_vs_sn", dataset, INCONCLUSIVE,
                              f"too few seeds: {len(d)} comparison(s), none with ≥ {MIN_SEEDS} seeds of both SN and "
                              f"BSN (at most n = {int(d[['sn_n', 'bsn_n']].min(axis=1).max())})"))
            continue
        sig = ok["welch_p"].map(significant)
        bsn_up = ok["bsn_better"].astype(bool)
        bsn_wins, sn_wins = int((sig & bsn_up).sum()), int((sig & ~bsn_up).sum())
        k = len(ok)
        evidence = (f"{k} comparison(s) with ≥ {MIN_SEEDS} seeds ({ok['setting_label'].nunique()} setting(s), "
                    f"{ok.groupby(['metric', 'key']).ngroups} metric column(s)): BSN significantly better in "
                    f"{bsn_wins}, SN significantly better in {sn_wins}, no significant difference in "
                    f"{k - bsn_wins - sn_wins} (Welch p: " + ", ".join(_pnum(p) for p in ok["welch_p"])
                    + f"); BSN's mean higher in {int(bsn_up.sum())} of {k}"
                    + (f"; {left} comparison(s) with fewer seeds left out" if left else ""))
        status = REPRODUCED if bsn_wins > k / 2 else NOT_REPRODUCED if sn_wins >= k / 2 else INCONCLUSIVE
        out.append(_claim("bsn_vs_sn", dataset, status, evidence))
    return out


def _curve_summary(c: pd.DataFrame) -> dict | None:
    """Peak and last evaluation of a mean curve, the Welch p of last vs peak and whether it drops."""
    c = c.sort_values("iteration")
    if c.empty:
        return None
    peak, last = c.loc[c["mean"].idxmax()], c.iloc[-1]
    at_peak = int(peak["iteration"]) == int(last["iteration"])
    p = 1.0 if at_peak else welch_p_from_stats(last["mean"], last["sem"], int(last["n"]), peak["mean"], peak["sem"],
                                               int(peak["n"]))
    return {"peak": float(peak["mean"]), "peak_it": int(peak["iteration"]), "last": float(last["mean"]),
            "sem": float(last["sem"]), "last_it": int(last["iteration"]), "n": int(c["n"].min()), "evals": len(c),
            "p": p, "drops": not at_peak and significant(p)}


def curves_claim(curve_means: pd.DataFrame, runs: list[Run], settings: dict[str, str | None]) -> list[Claim]:
    out = []
    for dataset in _scope(runs, (SN, BSN), 1.0, settings):
        c = curve_means[(curve_means["dataset"] == dataset) & (curve_means["setting"] == settings.get(dataset))
                        & (curve_means["scale"] == 1.0)]
        c = _main_key(c, "is")
        sn, bsn = _curve_summary(c[c["family"] == SN]), _curve_summary(c[c["family"] == BSN])
        if sn is None or bsn is None:
            out.append(_claim("curves", dataset, NOT_RUN, "needs IS curves of SN and BSN "
                              f"({_progress(runs, dataset, (SN, BSN), 1.0)})"))
            continue
        evidence = "; ".join(
            f"{name}: peak {x['peak']:.4g} at it {x['peak_it']}, last {_fmt(x['last'], x['sem'])} at it "
            f"{x['last_it']} (n = {x['n']}, {x['evals']} evaluations; last vs peak {_p(x['p'])})"
            for name, x in ((SN, sn), (BSN, bsn)))
        short = [f"{name} has {x['evals']} evaluation(s) and n = {x['n']}" for name, x in ((SN, sn), (BSN, bsn))
                 if x["evals"] < 3 or x["n"] < MIN_SEEDS]
        if short:
            out.append(_claim("curves", dataset, INCONCLUSIVE, f"too few seeds or evaluations ({'; '.join(short)}). "
                              + evidence))
            continue
        evidence += (f" → SN {'drops' if sn['drops'] else 'does not drop significantly'}, "
                     f"BSN {'drops' if bsn['drops'] else 'does not drop significantly'}")
        status = NOT_REPRODUCED if bsn["drops"] else REPRODUCED if sn["drops"] else INCONCLUSIVE
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


def sn_conv_claim(grouped: pd.DataFrame, runs: list[Run], settings: dict[str, str | None]) -> list[Claim]:
    out = []
    for dataset in _scope(runs, (SN_CONV,), settings=settings):
        setting = settings.get(dataset)
        g = _best_is(grouped, dataset, settings)
        sn, conv = _cell(g, SN, 1.0), _cell(g, SN_CONV, 1.0)
        scales = sorted(s for s in g[g["family"] == SN_CONV]["scale"] if s != 1.0)
        lg_sn, lg_conv = (_seed_log_grads(runs, dataset, setting, f, 1.0) for f in (SN, SN_CONV))
        missing = [name for name, ok in ((SN, sn is not None), (SN_CONV, conv is not None),
                                         (f"{SN_CONV}×s with s ≠ 1", bool(scales)),
                                         ("gradient norms", bool(lg_sn) and bool(lg_conv))) if not ok]
        if missing:
            out.append(_claim("sn_conv", dataset, NOT_RUN, "missing (IS scores, analysis.csv): " + ", ".join(missing)
                              + f" ({_progress(runs, dataset, (SN, SN_CONV))})"))
            continue
        s = min(scales, key=lambda x: (abs(x - paper.SN_CONV_FIX_SCALE), x))
        fix = _cell(g, SN_CONV, s)
        v_sn, v_conv, v_fix = sn["values"], conv["values"], fix["values"]
        p_a, p_b = welch_p(v_conv, v_sn), welch_p(lg_conv, lg_sn)
        p_c1, p_c2 = welch_p(v_fix, v_conv), welch_p(v_fix, v_sn)
        d_a, d_b = _sign(conv["mean"], sn["mean"]), _sign(float(np.mean(lg_conv)), float(np.mean(lg_sn)))
        d_c1, d_c2 = _sign(fix["mean"], conv["mean"]), _sign(fix["mean"], sn["mean"])
        evidence = (f"IS: SN {_fmt(sn['mean'], sn['sem'])} (n={int(sn['n'])}), SN_Conv "
                    f"{_fmt(conv['mean'], conv['sem'])} (n={int(conv['n'])}), SN_Conv×{s:g} "
                    f"{_fmt(fix['mean'], fix['sem'])} (n={int(fix['n'])}); gradient norm (geometric mean): SN "
                    f"{10 ** np.mean(lg_sn):.3g} (n={len(lg_sn)}), SN_Conv {10 ** np.mean(lg_conv):.3g} "
                    f"(n={len(lg_conv)}). (a) SN_Conv IS {'<' if d_a < 0 else '≥'} SN, {_p(p_a)}; (b) SN_Conv "
                    f"gradient {'<' if d_b < 0 else '≥'} SN, {_p(p_b)}; (c) ×{s:g} vs SN_Conv {_p(p_c1)}, "
                    f"vs SN {_p(p_c2)}")
        few = _few({SN: sn, SN_CONV: conv, f"{SN_CONV}×{s:g}": fix})
        if few or min(len(lg_sn), len(lg_conv)) < MIN_SEEDS:
            out.append(_claim("sn_conv", dataset, INCONCLUSIVE, f"too few seeds ({few or 'gradient norms'}). "
                              + evidence))
            continue
        yes = (significant(p_a) and d_a < 0, significant(p_b) and d_b < 0,
               significant(p_c1) and d_c1 > 0 and not (significant(p_c2) and d_c2 < 0))
        against = ((significant(p_a) and d_a > 0) or (significant(p_b) and d_b > 0)
                   or (significant(p_c1) and d_c1 < 0) or (significant(p_c2) and d_c2 < 0))
        status = NOT_REPRODUCED if against else REPRODUCED if all(yes) else INCONCLUSIVE
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
        evidence = (f"{name}: {len(ok)} scales in [{ok['scale'].min():g}, {ok['scale'].max():g}] "
                    f"(n = {int(ok['n'].min())}–{int(ok['n'].max())}); {len(found)} significant mode(s) at s = "
                    + ", ".join(f"{s:g}" for s in found)
                    + ("; one local maximum with every step away from it significant" if one else ""))
        status = REPRODUCED if len(found) >= 2 else NOT_REPRODUCED if one else INCONCLUSIVE
        out.append(_claim(key, dataset, status, evidence))
    return out


def variance_claim(runs: list[Run], settings: dict[str, str | None]) -> list[Claim]:
    out = []
    for dataset in _scope(runs, (SN,), 1.0, settings):
        sel = [r for r in runs if r.dataset == dataset and r.done and r.family == SN and r.scale == 1.0
               and r.setting == settings.get(dataset) and {"var_eff", "bound_sn"} <= set(r.analysis.columns)]
        df = pd.concat([r.analysis.assign(run=r.name) for r in sel], ignore_index=True) if sel \
            else pd.DataFrame(columns=["iteration", "run"])
        all_ratios = (df["var_eff"] / df["bound_sn"]).dropna() if len(df) else pd.Series(dtype=float)
        ratio = all_ratios[df.loc[all_ratios.index, "iteration"] > 0]
        if ratio.empty:
            out.append(_claim("variance", dataset, NOT_RUN, "no finished SN run (s = 1) with analysis.csv rows after "
                              f"iteration 0 ({_progress(runs, dataset, (SN,), 1.0)})"))
            continue
        worst = df.loc[ratio.idxmax()]
        at0 = all_ratios[df.loc[all_ratios.index, "iteration"] == 0]
        judged = df.loc[ratio.index, "run"].nunique()
        bad = df.loc[ratio[ratio > VARIANCE_TOLERANCE].index, "run"].nunique()
        evidence = (f"{judged} run(s), {len(ratio)} rows after iteration 0: max ratio {ratio.max():.3g} (layer "
                    f"{worst['layer']}, iteration {int(worst['iteration'])}), median {ratio.median():.3g}, "
                    f"{(ratio <= 1).mean():.0%} of rows ≤ 1; {bad} run(s) above the tolerance"
                    + (f"; at iteration 0 (not judged) max {at0.max():.3g}" if len(at0) else ""))
        if judged < MIN_SEEDS:
            status = INCONCLUSIVE
            evidence = f"too few runs ({judged} < {MIN_SEEDS}). " + evidence
        else:
            status = REPRODUCED if ratio.max() <= VARIANCE_TOLERANCE else NOT_REPRODUCED
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
    keys = d["key"].dropna().value_counts()  # a column without scores yet has no key
    d = d[with_key(d, keys.idxmax())] if len(keys) else d.iloc[:0]
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
              curve_means: pd.DataFrame, settings: dict[str, str | None]) -> list[Claim]:
    """Every claim of docs/design.md#paper-targets in the paper's order; one with no data anywhere is
    ``not run``."""
    judged = {
        "bsn_vs_sn": bsn_beats_sn(hparam_table, runs), "curves": curves_claim(curve_means, runs, settings),
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
