"""``eval.precision`` (docs/deviations.md M10): the same images scored in fp32 and in tf32/bf16 by the
digits classifier and by the TorchScript Inception stand-in, the measured FID/IS differences reported
(``pytest -s`` prints them), the precision recorded in every row and in the reference cache key; and an
Evaluator that loads its network and dataset once however often it evaluates."""

import math

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import pandas as pd
import pytest
import torch

from metrics_helpers import digits_cfg
from specnorm import config
from specnorm.data import load, to_float
from specnorm.metrics import Evaluator, inception
from specnorm.metrics.evaluator import build_extractor
from specnorm.metrics.extractor import Extractor, extract, extractor_precision
from specnorm.metrics.fid import feature_stats, fid
from specnorm.metrics.inception_score import inception_score
from specnorm.models import build_models
from specnorm.report.scores import keyed
from specnorm.scores import ProtocolKey

CPU = torch.device("cpu")


def precision_difference(extractor: Extractor, real: torch.Tensor, fake: torch.Tensor, precision: str, *,
                         is_splits: int = 10, batch_size: int = 250) -> dict[str, float | bool]:
    """FID (``fake`` vs ``real``, both sides' features from the same precision, as a run computes them)
    and IS of ``fake``, in fp32 and in ``precision``, from the same images (float NCHW in [−1, 1]):
    ``{"fid_fp32", "fid_<precision>", "d_fid", "is_fp32", "is_<precision>", "d_is"}`` with
    ``d_* = fast − fp32``, and ``unchanged``: both within :func:`unchanged_as_printed`. The check
    behind ``eval.precision`` (docs/deviations.md M10)."""
    def scores(p: str) -> tuple[float, float]:
        feats = {}
        with torch.no_grad():
            for side, images in (("real", real), ("fake", fake)):
                out = [extract(extractor, images[i:i + batch_size], p) for i in range(0, len(images), batch_size)]
                feats[side] = (torch.cat([f for f, _ in out]), torch.cat([lg for _, lg in out]))
        value = fid(feature_stats(feats["fake"][0]), feature_stats(feats["real"][0]))
        return value, inception_score(feats["fake"][1], is_splits)[0]

    (f32, i32), (fp, ip) = scores("fp32"), scores(precision)
    return {"fid_fp32": f32, f"fid_{precision}": fp, "d_fid": fp - f32,
            "is_fp32": i32, f"is_{precision}": ip, "d_is": ip - i32,
            "unchanged": unchanged_as_printed(f32, fp) and unchanged_as_printed(i32, ip)}


PRINTED_DIGITS = 4
"""Significant digits of a score in the report's tables (``.4g``)."""


def unchanged_as_printed(reference: float, value: float) -> bool:
    """``value`` is within half a unit of ``reference``'s last printed digit (:data:`PRINTED_DIGITS`
    significant digits): the tolerance of ``eval.precision`` (docs/deviations.md M10)."""
    if not (math.isfinite(reference) and math.isfinite(value)):
        return False
    if reference == 0.0:
        return value == 0.0
    return abs(value - reference) <= 0.5 * 10.0 ** (math.floor(math.log10(abs(reference))) - PRINTED_DIGITS + 1)


@pytest.fixture(scope="module")
def image_sets():
    """900 real digits (the reference), the other 897, a noisy copy of those, and 897 samples of an
    untrained G: small, moderate and large FIDs."""
    images = to_float(torch.from_numpy(load("digits").copy()))
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    real, other = images[perm[:900]], images[perm[900:]]
    noisy = (other + 0.3 * torch.randn(other.shape, generator=torch.Generator().manual_seed(3))).clamp(-1, 1)
    cfg = digits_cfg()
    G, _ = build_models("cnn", cfg.norm, mg=2, width=0.125, z_dim=32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        fake = G.eval()(torch.randn(len(other), 32, generator=torch.Generator().manual_seed(2))).float()
    return real, {"real": other, "noisy": noisy, "G": fake}


def _report(what: str, d: dict) -> None:
    print(f"\n{what}: " + ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in d.items()))


def test_the_printed_tolerance():
    assert unchanged_as_printed(36.76, 36.764) and not unchanged_as_printed(36.76, 36.77)
    assert unchanged_as_printed(9.2828, 9.28304) and not unchanged_as_printed(9.2828, 9.2836)
    assert unchanged_as_printed(0.0, 0.0) and not unchanged_as_printed(1.0, math.nan)


def test_tf32_is_a_no_op_on_the_cpu(image_sets):
    """On a CPU nothing is TF32: the scores are bit-identical, which validates nothing about a GPU
    (bench/gpu_check.sh must measure that before a paper run uses tf32)."""
    real, fakes = image_sets
    ex = build_extractor("auto", "digits", "paper", CPU, "unused")
    for name in ("noisy", "G"):
        d = precision_difference(ex, real, fakes[name], "tf32")
        _report(f"digits tf32 (CPU) {name}", d)
        assert d["d_fid"] == 0.0 and d["d_is"] == 0.0 and d["unchanged"]


def test_bf16_on_the_digits_classifier_is_measured(image_sets):
    """CPU bf16 autocast really runs (features change) and moves FID/IS by at most the bound of M10;
    the measured differences exceed the printed-digit tolerance, so bf16 is not for tables (M10)."""
    real, fakes = image_sets
    ex = build_extractor("auto", "digits", "paper", CPU, "unused")
    f32, _ = extract(ex, real[:64])
    f16, _ = extract(ex, real[:64], "bf16")
    assert f16.dtype == torch.float32 and not torch.equal(f32, f16)
    for name in ("real", "noisy", "G"):
        d = precision_difference(ex, real, fakes[name], "bf16")
        _report(f"digits bf16 (CPU) {name}", d)
        assert abs(d["d_fid"]) <= 0.03 * d["fid_fp32"] + 1e-3
        assert abs(d["d_is"]) <= 1e-3 * d["is_fp32"]


def test_bf16_on_the_torchscript_inception_stand_in(image_sets, standin):
    """The same with the TorchScript stand-in (paper path: the file's own resize): autocast reaches
    the scripted network, and the differences stay within the bound of M10."""
    real, fakes = image_sets
    ex = inception.InceptionExtractor(inception.load(standin, CPU), "paper", inception.INCEPTION_SHA256)
    f32, lg32 = extract(ex, real[:32])
    f16, lg16 = extract(ex, real[:32], "bf16")
    assert not torch.equal(f32, f16) and not torch.equal(lg32, lg16)
    for name in ("real", "noisy"):
        d = precision_difference(ex, real[:300], fakes[name][:300], "bf16", is_splits=3)
        _report(f"inception stand-in bf16 (CPU) {name}", d)
        assert abs(d["d_fid"]) <= 0.03 * d["fid_fp32"] + 1e-3
        assert abs(d["d_is"]) <= 1e-3 * d["is_fp32"]
    d = precision_difference(ex, real[:200], fakes["noisy"][:200], "tf32", is_splits=2)
    assert d["d_fid"] == 0.0 and d["d_is"] == 0.0  # no TF32 on a CPU


def test_the_precision_context_restores_the_backend_flags():
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    for p in ("fp32", "tf32", "bf16"):
        with extractor_precision(p, CPU):
            tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
            assert tf32 == ((True, True) if p == "tf32" else (False, False))
            assert torch.is_autocast_enabled("cpu") == (p == "bf16")
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
    with pytest.raises(ValueError, match="precision"), extractor_precision("fp16", CPU):
        pass


def test_eval_precision_is_validated():
    assert digits_cfg().eval.precision == "fp32"
    with pytest.raises(config.ConfigError, match="eval.precision"):
        digits_cfg(precision="fp16")


def test_the_precision_is_in_every_row_and_in_the_reference_cache_key(tmp_path):
    ev32 = Evaluator.from_config(digits_cfg(n_real=200), CPU, tmp_path)
    ev16 = Evaluator.from_config(digits_cfg(n_real=200, precision="bf16"), CPU, tmp_path)
    assert ev32.reference.path != ev16.reference.path and not ev16.reference.from_cache
    assert ev16.reference.path.name.endswith("_bf16.npz") and "bf16" not in ev32.reference.path.name
    assert not torch.equal(torch.as_tensor(ev32.reference.stats.mu), torch.as_tensor(ev16.reference.stats.mu))
    assert ev32.protocol_fields()["precision"] == "fp32" and ev16.protocol_fields()["precision"] == "bf16"
    G, _ = build_models("cnn", digits_cfg().norm, mg=2, width=0.125, z_dim=32,
                        generator=torch.Generator().manual_seed(1))
    rows32, rows16 = ev32.evaluate(G, 1, 0.0), ev16.evaluate(G, 1, 0.0)
    assert {r["precision"] for r in rows32} == {"fp32"} and {r["precision"] for r in rows16} == {"bf16"}
    assert Evaluator.from_config(digits_cfg(n_real=200, precision="bf16"), CPU, tmp_path).reference.from_cache


def test_the_report_keeps_precisions_apart_and_reads_old_rows_as_fp32():
    fields = {"protocol": "paper", "extractor": "inception-2015-12-05", "extractor_sha256": "f58cb9b6ec32",
              "n_gen": 10000, "n_real": 5000, "reference": "cifar10-train-subset(5000)",
              "resize": "float->tf1-bilinear(in-network)"}
    signature = ProtocolKey.from_row
    old = signature(fields)
    assert signature({**fields, "precision": "fp32"}) == old == signature({**fields, "precision": math.nan})
    assert signature({**fields, "precision": "bf16"}) != old != signature({**fields, "precision": "tf32"})
    csv_old = pd.DataFrame([{**fields, "metric": "fid", "value": 20.0, "iteration": 1, "seed": 0}])
    csv_new = pd.DataFrame([{**fields, "metric": "fid", "value": 20.1, "iteration": 1, "seed": 0, "precision": p}
                            for p in ("fp32", "bf16")])
    sigs = keyed(pd.concat([csv_old, csv_new], ignore_index=True))["key"].tolist()
    assert sigs[0] == sigs[1] == old != sigs[2]


def test_evaluating_three_times_loads_the_network_and_the_dataset_once(standin, tmp_path, monkeypatch):
    import specnorm.data

    calls = {"jit": 0, "hash": 0, "data": 0}

    def counted(name, fn):
        def wrapper(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr(torch.jit, "load", counted("jit", torch.jit.load))
    monkeypatch.setattr(inception, "sha256_file", counted("hash", inception.sha256_file))
    monkeypatch.setattr(specnorm.data, "load", counted("data", specnorm.data.load))
    cfg = digits_cfg(extractor="inception", inception_path=str(standin), n_real=40, n_gen=20, n_is=20, batch_size=20)
    cache: dict = {}
    ev = Evaluator.from_config(cfg, CPU, tmp_path, cache=cache)
    G, _ = build_models("cnn", cfg.norm, mg=2, width=0.125, z_dim=32, generator=torch.Generator().manual_seed(1))
    values = [[r["value"] for r in ev.evaluate(G, it, 0.0)] for it in (1, 2, 3)]
    assert calls == {"jit": 1, "hash": 1, "data": 1}
    assert values[0] == values[1] == values[2]  # same latents, same network: same scores
    Evaluator.from_config(digits_cfg(1, extractor="inception", inception_path=str(standin), n_real=40, n_gen=20,
                                     n_is=20, batch_size=20), CPU, tmp_path, cache=cache)
    assert calls["jit"] == 1 and calls["hash"] == 1  # a pack's second cell reuses the network (its own dataset)
