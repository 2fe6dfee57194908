"""build_models: every NormCfg on every D, real input sizes, reproducible init, LeCun init."""

import math

import specnorm  # noqa: F401
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from specnorm.models import build_models
from specnorm.catalog import get_norm
from specnorm.config import NormCfg
from specnorm.nn import gammas, normalized_layers

TINY = {
    "cnn": dict(mg=2, width=1 / 16),
    "resnet": dict(mg=1, width=1 / 32),
    "mlp": dict(img_size=8, hidden=16, img_channels=1),
}
SPECS = [
    NormCfg("none"),
    NormCfg("sn"),
    NormCfg("sn", scale=1.5),
    NormCfg("bsn", scale=1.3),
    NormCfg("bsn", grad_through_uv=False),
    NormCfg("sn_conv", scale=1.75),
    NormCfg("sn_conv", clamp=True),
    NormCfg("sn", gamma="same"),
    NormCfg("sn", gamma="diff"),
]


@pytest.mark.parametrize("arch", list(TINY))
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.mode}-{s.scale}-{s.gamma}-{s.clamp}-{s.grad_through_uv}")
def test_every_norm_spec_builds_runs_and_normalizes_every_layer(arch, spec):
    G, D = build_models(arch, spec, z_dim=8, **TINY[arch])
    assert D.norm == spec
    assert not any(parametrize.is_parametrized(m) for m in G.modules())
    x = G(torch.randn(3, 8))
    out = D(x)
    assert out.shape == (3,) and torch.isfinite(out).all()
    out.sum().backward()
    names = [n for n, _, _ in D.weighted_layers()]
    normalized = list(normalized_layers(D))
    if spec.mode == "none":
        assert normalized == []
        return
    assert [n for n, _, _ in normalized] == names
    for _, layer, sn in normalized:
        assert sn.scale == spec.scale
        expected = spec.mode if isinstance(layer, nn.Conv2d) else "sn"  # linear: plain SN (docs/design.md#bsn)
        assert type(sn) is get_norm(expected).load()
        assert layer.parametrizations.weight.original.grad is not None
    n_gammas = {"none": 0, "same": 1, "diff": len(names)}[spec.gamma]
    assert len({id(p) for n, p in D.named_parameters() if n.endswith("gamma")}) == n_gammas
    assert len(gammas(D)) == (len(names) if spec.gamma != "none" else 0)


@pytest.mark.parametrize(
    "arch,kw",
    [("cnn", dict(mg=2, width=1 / 16)), ("cnn", dict(mg=6, width=1 / 16)), ("resnet", dict(mg=1, width=1 / 32)),
     ("resnet", dict(mg=4, width=1 / 32)), ("mlp", TINY["mlp"])],
)
def test_weighted_layer_input_sizes_match_real_activations(arch, kw):
    _, D = build_models(arch, NormCfg("sn_conv"), **kw)
    seen = {}
    for name, layer, _ in D.weighted_layers():
        layer.register_forward_pre_hook(lambda m, inp, name=name: seen.__setitem__(name, inp[0].shape))
    D(torch.randn(1, D.img_channels, D.resolution, D.resolution))
    assert list(seen) == [n for n, _, _ in D.weighted_layers()]  # forward order
    for name, layer, size in D.weighted_layers():
        if isinstance(layer, nn.Conv2d):
            assert tuple(seen[name][-2:]) == size, name
            sn = layer.parametrizations.weight[0]
            assert sn.u.shape == (1, layer.in_channels, *size)  # sn_conv u at the real input size
        else:
            assert size is None
    convs = [m for _, m, _ in D.weighted_layers()]
    assert sum(isinstance(m, nn.Linear) for m in convs) == (5 if arch == "mlp" else 1)


def test_resnet_128_input_sizes():
    _, D = build_models("resnet", NormCfg("none"), mg=4, width=1 / 64)
    sizes = {n: s for n, _, s in D.weighted_layers()}
    assert sizes["layer0.conv1"] == sizes["layer0.conv2"] == (128, 128)
    assert sizes["layer0.shortcut"] == (64, 64)  # first block: avgpool, then 1×1 conv
    assert sizes["layer1.shortcut"] == (64, 64)  # later blocks: 1×1 conv, then avgpool
    assert sizes["layer4.conv1"] == (8, 8) and sizes["layer5.shortcut"] == (4, 4)


@pytest.mark.parametrize("arch", list(TINY))
def test_same_generator_seed_gives_identical_models(arch):
    spec = NormCfg("bsn") if arch != "resnet" else NormCfg("sn_conv")

    def build(seed: int, global_seed: int):
        torch.manual_seed(global_seed)  # must not matter: every draw comes from the generator
        G, D = build_models(arch, spec, generator=torch.Generator().manual_seed(seed), **TINY[arch])
        return {**{f"G.{k}": v for k, v in G.state_dict().items()}, **{f"D.{k}": v for k, v in D.state_dict().items()}}

    a, b, c = build(0, 1), build(0, 2), build(1, 1)
    assert a.keys() == b.keys() == c.keys()
    assert any(k.endswith(".u") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    differs = {k for k in a if not torch.equal(a[k], c[k])}
    assert any(k.endswith(".u") for k in differs) and any(k.startswith("G.") for k in differs)


def test_lecun_init_std_is_s_over_sqrt_fan_in():
    s = 0.5
    _, D = build_models("cnn", NormCfg("none", scale=s, init="lecun"), mg=4,
                        generator=torch.Generator().manual_seed(0))
    for name, layer, _ in D.weighted_layers():
        w = layer.weight
        std = s / math.sqrt(w[0].numel())
        assert w.std().item() == pytest.approx(std, rel=0.1), name
        assert abs(w.mean().item()) < 0.2 * std
        if w.numel() > 100_000:
            assert w.abs().max() > 4 * std  # untruncated normal
        assert torch.count_nonzero(layer.bias) == 0


def test_lecun_scale_is_one_number_from_config_to_layer():
    """LeCun×s (Fig. 8): ``norm.scale`` is the init multiplier of an un-normalized D, the same number
    from the cell config to the layer; LeCun init with a normalization is refused, not reinterpreted."""
    from specnorm.config import from_dict
    from specnorm.models import build_cell

    cfg = from_dict({"dataset": {"name": "mnist"}, "model": {"arch": "mlp"},
                     "norm": {"mode": "none", "init": "lecun", "scale": 2.0}})
    assert cfg.norm == NormCfg("none", scale=2.0, init="lecun")
    _, D = build_cell(cfg, generator=torch.Generator().manual_seed(0))
    assert D.layer1.weight.std().item() == pytest.approx(2.0 / math.sqrt(512), rel=0.05)
    with pytest.raises(ValueError, match="lecun"):
        NormCfg("sn", init="lecun").validate("norm")
