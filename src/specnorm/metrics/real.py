"""Table 1's "Real data" row: real training images scored like a generator, under the protocol of
each column (docs/deviations.md P5). ``specnorm score --real`` (``metrics.cli``) writes the result
to ``results/real/<dataset>-<protocol>.json``; the report fills the row from it.

Real images are only ever compared with *other* real images: FID (and KID) score a real subset
disjoint from the reference. When the column's reference is a subset (``paper``: 10k vs 5k), the
scored images come from its complement; when it is the whole training set, a seeded split of the set
stands in for it (one half the reference, the other half scored), and the score's key says so
(``reference``: ``<dataset>-train-split(<n>,seed=<s>)``). A near-zero real-against-itself FID never
appears. Each score records, beside its own honest key, the ``column`` key of the generator column it
stands beside (the report matches on that, never on display strings).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from specnorm.config import EvalCfg
from specnorm.data import to_float
from specnorm.metrics.evaluator import setup
from specnorm.metrics.extractor import extractor_precision, quantize_uint8
from specnorm.metrics.fid import feature_stats, fid, kid
from specnorm.metrics.inception_score import inception_score
from specnorm.metrics.prdc import NEAREST_K, RealManifold, prdc
from specnorm.metrics.protocol import REF_FEATURES_MAX, Protocol, eval_seed, real_subset
from specnorm.scores import ScoreRecord
from specnorm.vocab import METRIC_INFO, REAL_DATA

COUNT_KEYS = ("n_gen", "n_real", "n_is", "is_splits")
"""The ``eval`` keys that make one column's image counts (``columns`` of :func:`score_real`)."""


@dataclass(frozen=True)
class Split:
    """Which real images play which part in one column: ``reference`` (the FID/KID reference set),
    ``scored`` (stand-ins for generated images, disjoint from it) and ``is_images``; with words."""

    reference: torch.Tensor
    scored: torch.Tensor
    is_images: torch.Tensor
    reference_words: str | None  # None: the protocol's own reference subset (its cached statistics)
    scored_words: str
    is_words: str


def split(dataset: str, n_dataset: int, p: Protocol) -> Split:
    """The real images of one column (docs/deviations.md P5), every draw seeded by ``p.seed``."""
    if p.n_real < n_dataset:  # the reference is a subset: score its complement
        reference = real_subset(n_dataset, p.n_real, p.seed)
        pool = torch.ones(n_dataset, dtype=torch.bool)
        pool[reference] = False
        pool_idx, reference_words = pool.nonzero().flatten(), None
        kind = "disjoint-subset"
    else:  # the reference is the whole set: a seeded split of it, half reference, half scored
        perm = torch.randperm(n_dataset, generator=torch.Generator().manual_seed(eval_seed(p.seed, "real_row/split")))
        half = n_dataset - n_dataset // 2
        reference, pool_idx = perm[:half].sort().values, perm[half:]
        reference_words = f"{dataset}-train-split({half},seed={p.seed})"
        kind = "split-complement"
    g = torch.Generator().manual_seed(eval_seed(p.seed, "real_row/fid"))
    n_fid = min(p.n_gen, len(pool_idx))
    scored = pool_idx[torch.randperm(len(pool_idx), generator=g)[:n_fid]].sort().values
    n_is = min(p.n_is, n_dataset)
    g = torch.Generator().manual_seed(eval_seed(p.seed, "real_row/is"))
    is_images = torch.randperm(n_dataset, generator=g)[:n_is].sort().values if n_is < n_dataset \
        else torch.arange(n_dataset)
    is_words = f"{dataset}-train" + (f"-subset({n_is},seed={p.seed})" if n_is < n_dataset else f"({n_is})")
    return Split(reference, scored, is_images, reference_words, f"{dataset}-train-{kind}({n_fid},seed={p.seed})",
                 is_words)


def score_real(dataset: str, protocol: str, resources: str | Path, device: torch.device, *,
               root: str | Path = "resources/data", seed: int = 0, extractor: str = "auto",
               inception_path: str | None = None, overrides: dict | None = None,
               columns: list[dict[str, int]] | tuple = ()) -> dict:
    """Table 1's "Real data" row for ``dataset`` under ``protocol``: one set of scores per column, the
    protocol's counts (with ``overrides``) first, then each of ``columns`` (count overrides, e.g. the
    cells' in-training ``eval.n_gen``/``n_real``/``n_is``: the 500-image columns). IS: ``n_is`` real
    images (all if fewer) in ``is_splits`` splits. FID (and KID under ``standard``): real images
    disjoint from the reference (:func:`split`). Returns the ``results/real/<dataset>-<protocol>.json``
    content."""
    base = dict(overrides or {})
    wanted = [base] + [{**base, **{k: v for k, v in c.items() if k in COUNT_KEYS}} for c in columns]
    cache: dict = {}
    summaries, scores, seen = [], [], set()
    for counts in wanted:
        ev = dataclasses.replace(EvalCfg(), protocol=protocol, extractor=extractor, inception_path=inception_path,
                                 **counts)
        ev.validate("eval")
        images, p, ex, ref = setup(dataset, root, ev, seed, device, resources, cache)
        if (p.n_gen, p.n_real, p.n_is, p.is_splits) in seen:
            continue
        seen.add((p.n_gen, p.n_real, p.n_is, p.is_splits))
        column, summary = _score_column(dataset, images, p, ex, ref, ev.batch_size, device)
        scores += column
        summaries.append(summary)
    return {"dataset": dataset, "row": REAL_DATA, "protocol": summaries[0], "columns": summaries, "scores": scores}


def _score_column(dataset: str, images: Any, p: Protocol, ex: Any, ref: Any, batch_size: int,
                  device: torch.device) -> tuple[list[dict], dict]:
    """The Real-data scores of one column: ``(score entries, protocol summary)``."""
    s = split(dataset, len(images), p)

    def run(idx: torch.Tensor, logits_too: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        feats, logits = [], []
        with torch.no_grad(), extractor_precision(p.precision, device):
            for i in range(0, len(idx), batch_size):
                x = to_float(torch.from_numpy(images[idx[i:i + batch_size].numpy()])).to(device)
                if p.quantize:
                    x = quantize_uint8(x)
                if logits_too:
                    f, lg = ex(x)
                    logits.append(lg.float())
                else:
                    f = ex.features_of(x) if hasattr(ex, "features_of") else ex(x)[0]
                feats.append(f.float())
        return torch.cat(feats), (torch.cat(logits) if logits_too else None)

    feats, _ = run(s.scored, False)
    if s.reference_words is None:  # the protocol's reference subset: its cached statistics
        ref_stats, ref_feats = ref.stats, (ref.feats if p.kid else None)
    else:  # the reference half of the split, extracted here
        ref_feats = run(s.reference, False)[0]
        ref_stats = feature_stats(ref_feats)
    values = {"fid": fid(feature_stats(feats), ref_stats)}
    if p.kid:
        values["kid"] = kid(feats.float(), ref_feats, eval_seed(p.seed, "kid"))
    # precision, recall, density, coverage: the scored images against the reference's real features
    # (the kept ones of the protocol's subset; of a split's half, a seeded subset of at most
    # REF_FEATURES_MAX, as the reference cache keeps)
    manifold = ref.scores(feats) if s.reference_words is None else prdc(feats, RealManifold.of(
        ref_feats[real_subset(len(ref_feats), REF_FEATURES_MAX, p.seed)], device))
    values.update(manifold)
    _, logits = run(s.is_images, True)
    values["is"], values["is_std"] = inception_score(logits, p.is_splits)
    entries = []
    for metric, value in values.items():
        column = p.key(metric, dataset, ex)  # the generator column this score stands beside
        if METRIC_INFO[metric].manifold and s.reference_words is not None:  # against a split's kept half
            n_kept = min(len(s.reference), REF_FEATURES_MAX)
            subset = "" if n_kept == len(s.reference) else f"/seeded-subset({n_kept})"
            key = dataclasses.replace(column, n_gen=len(s.scored), n_real=n_kept,
                                      reference=f"{s.reference_words}{subset},k={NEAREST_K[metric]}")
            words = s.scored_words
        elif METRIC_INFO[metric].manifold:  # against the protocol's kept real features, as its column
            key, words = dataclasses.replace(column, n_gen=len(s.scored)), s.scored_words
        elif METRIC_INFO[metric].reference:
            key = dataclasses.replace(column, n_gen=len(s.scored), n_real=len(s.reference),
                                      reference=s.reference_words or column.reference)
            words = s.scored_words
        else:
            key, words = dataclasses.replace(column, n_gen=len(s.is_images)), s.is_words
        record = ScoreRecord(metric, float(value), key, p.seed)
        entries.append({**record.json_row(), "images": words, "column": column.row()})
    summary = {**p.summary(dataset, ex), "n_gen": len(s.scored), "n_is": len(s.is_images),
               "reference_used": s.reference_words or p.reference(dataset), "reference_cache": ref.path.name}
    return entries, summary

