"""Table 1's "Real data" row: real training images scored like a generator, under the protocol of
each column (docs/deviations.md P5). ``specnorm score --real`` (``metrics.cli``) writes the result
to ``results/real/<dataset>-<protocol>.json``; the report fills the row from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from specnorm.config import EvalCfg
from specnorm.data import to_float
from specnorm.metrics.evaluator import setup
from specnorm.metrics.extractor import extractor_precision, quantize_uint8
from specnorm.metrics.fid import StatsAccumulator, fid, kid
from specnorm.metrics.inception_score import inception_score
from specnorm.metrics.protocol import eval_seed, real_subset
from specnorm.scores import ScoreRecord
from specnorm.vocab import METRIC_INFO, REAL_DATA


def score_real(dataset: str, protocol: str, resources: str | Path, device: torch.device, *,
               root: str | Path = "resources/data", seed: int = 0, extractor: str = "auto",
               inception_path: str | None = None, overrides: dict | None = None) -> dict:
    """Table 1's "Real data" row for ``dataset``: real training images scored like a generator under
    ``protocol`` (docs/deviations.md P5). IS: ``n_is`` real images (all if fewer; a seeded subset
    otherwise) in ``is_splits`` splits. FID (and KID under ``standard``): ``n_gen`` real images
    against the protocol's reference statistics — disjoint from the reference subset when the
    reference is a subset (``paper``: 10k vs 5k), a seeded subset of the reference itself when it is
    the whole training set (``standard``). Returns the ``results/real/<dataset>-<protocol>.json`` content."""
    ev = dataclasses.replace(EvalCfg(), protocol=protocol, extractor=extractor, inception_path=inception_path,
                             **(overrides or {}))
    ev.validate("eval")
    images, p, ex, ref = setup(dataset, root, ev, seed, device, resources)
    ref_idx = real_subset(len(images), p.n_real, p.seed)
    pool = torch.ones(len(images), dtype=torch.bool)
    if p.n_real < len(images):
        pool[ref_idx] = False  # disjoint from the reference subset
    pool_idx = pool.nonzero().flatten()
    g = torch.Generator().manual_seed(eval_seed(p.seed, "real_row/fid"))
    n_fid = min(p.n_gen, len(pool_idx))
    fid_idx = pool_idx[torch.randperm(len(pool_idx), generator=g)[:n_fid]].sort().values
    n_is = min(p.n_is, len(images))
    g = torch.Generator().manual_seed(eval_seed(p.seed, "real_row/is"))
    is_idx = torch.randperm(len(images), generator=g)[:n_is].sort().values if n_is < len(images) \
        else torch.arange(len(images))

    def run(idx: torch.Tensor, logits_too: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        feats, logits = [], []
        with torch.no_grad(), extractor_precision(p.precision, device):
            for i in range(0, len(idx), ev.batch_size):
                x = to_float(torch.from_numpy(images[idx[i:i + ev.batch_size].numpy()])).to(device)
                if p.quantize:
                    x = quantize_uint8(x)
                if logits_too:
                    f, lg = ex(x)
                    logits.append(lg.float())
                else:
                    f = ex.features_of(x) if hasattr(ex, "features_of") else ex(x)[0]
                feats.append(f.float())
        return torch.cat(feats), (torch.cat(logits) if logits_too else None)

    feats, _ = run(fid_idx, False)
    acc = StatsAccumulator()
    acc.update(feats)
    values = {"fid": fid(acc.result(), ref.stats)}
    if p.kid:
        values["kid"] = kid(feats.float(), ref.feats, eval_seed(p.seed, "kid"))
    values.update(ref.scores(feats))  # precision, recall, density, coverage: the FID images vs the kept features
    _, logits = run(is_idx, True)
    values["is"], values["is_std"] = inception_score(logits, p.is_splits)
    images_scored = {  # which real images stand in for the generated ones
        True: (n_fid, f"{dataset}-train-disjoint-subset({n_fid},seed={p.seed})" if p.n_real < len(images)
               else f"{dataset}-train-subset({n_fid},seed={p.seed})"),
        False: (n_is, f"{dataset}-train" + (f"-subset({n_is},seed={p.seed})" if n_is < len(images) else f"({n_is})")),
    }
    scores = []
    for metric, value in values.items():
        n, words = images_scored[METRIC_INFO[metric].reference]
        record = ScoreRecord(metric, float(value), p.key(metric, dataset, ex, n_images=n), p.seed)
        scores.append({**record.json_row(), "images": words})
    return {"dataset": dataset, "row": REAL_DATA,
            "protocol": {**p.summary(dataset, ex), "n_gen": n_fid, "n_is": n_is, "reference_cache": ref.path.name},
            "scores": scores}
