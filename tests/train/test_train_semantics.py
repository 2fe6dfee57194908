"""The official loop semantics of one iteration (docs/design.md#training-loop)."""

import dataclasses

import pytest
import torch

from specnorm import config
from specnorm.nn import Normalization, normalized_layers
from specnorm.train import optim
from specnorm.train.state import build_state
from specnorm.train.step import d_outputs, iteration


def train_iteration(st, log):
    """One iteration of the cell ``st`` (the serial engine's call)."""
    return iteration(st.T, st.images.data, st.plan, log)


def _cfg(**sections):
    base = {
        "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
        "norm": {"mode": "bsn"},
        "train": {"iterations": 10, "d_batch": 8, "g_batch": 8},
        "log": {"analysis_batch": 4, "n_samples": 4},
        "eval": {"every": 0},
        "device": "cpu",
    }
    for k, v in sections.items():
        base[k] = {**base.get(k, {}), **v}
    return config.from_dict(base)


@pytest.mark.parametrize("n_dis", [1, 5])
def test_u_updated_once_per_d_step_after_the_optimizer_step_never_in_g_step(n_dis, monkeypatch):
    st = build_state(_cfg(train={"n_dis": n_dis}), torch.device("cpu"))
    n_layers = len(list(normalized_layers(st.D)))
    events = []
    orig_update, orig_adam = Normalization.advance, optim.adam_

    def update(self, w, state=None):
        events.append("u")
        return orig_update(self, w, state)

    def adam(params, grads, state, **hyper):
        events.append("D" if state is st.T["opt_d"] else "G")
        return orig_adam(params, grads, state, **hyper)

    monkeypatch.setattr(Normalization, "advance", update)
    monkeypatch.setattr(optim, "adam_", adam)
    train_iteration(st, log=True)
    expected = (["D"] + ["u"] * n_layers) * n_dis + ["G"]
    assert events == expected


def test_g_step_leaves_every_u_untouched(monkeypatch):
    st = build_state(_cfg(), torch.device("cpu"))
    snapshot = {}
    orig_adam = optim.adam_

    def adam(params, grads, state, **hyper):
        if state is st.T["opt_g"]:
            snapshot["before"] = [b.clone() for n, b in st.D.named_buffers() if n.endswith(("u", "u2"))]
        return orig_adam(params, grads, state, **hyper)

    monkeypatch.setattr(optim, "adam_", adam)
    train_iteration(st, log=False)
    after = [b for n, b in st.D.named_buffers() if n.endswith(("u", "u2"))]
    assert len(after) > 0 and all(torch.equal(a, b) for a, b in zip(snapshot["before"], after))


def _record_g_inputs(st, monkeypatch):
    seen = []
    orig = st.G.forward

    def fwd(z):
        seen.append(z.clone())
        return orig(z)

    monkeypatch.setattr(st.G, "forward", fwd)
    return seen


def test_cnn_g_step_reuses_the_last_d_step_z(monkeypatch):
    st = build_state(_cfg(train={"n_dis": 3}), torch.device("cpu"))
    seen = _record_g_inputs(st, monkeypatch)
    train_iteration(st, log=False)
    assert len(seen) == 4  # 3 D steps + 1 G step
    assert torch.equal(seen[3], seen[2]) and not torch.equal(seen[2], seen[1])


@pytest.fixture
def images32(monkeypatch):
    """The ResNet's smallest resolution is 32 (5 blocks); give it 32x32 images."""
    rng = torch.Generator().manual_seed(0)
    fake = torch.randint(0, 256, (40, 3, 32, 32), generator=rng, dtype=torch.uint8).numpy()
    monkeypatch.setattr("specnorm.train.state.load", lambda name, root, **kw: fake)


def test_resnet_g_step_draws_fresh_z_of_the_g_batch(monkeypatch, images32):
    cfg = _cfg(model={"arch": "resnet", "mg": 1, "width": 1 / 64}, train={"n_dis": 2, "d_batch": 4, "g_batch": 6})
    assert cfg.z_reuse == "fresh"
    st = build_state(cfg, torch.device("cpu"))
    seen = _record_g_inputs(st, monkeypatch)
    train_iteration(st, log=False)
    assert [z.shape[0] for z in seen] == [4, 4, 6]


def _bn_counts(G):
    return [int(m.num_batches_tracked) for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@pytest.mark.parametrize("arch,n_dis,per_iter", [("cnn", 1, 2), ("cnn", 5, 6), ("resnet", 5, 1)])
def test_bn_running_stats_updates_per_iteration(arch, n_dis, per_iter, images32):
    model = {"arch": arch, "mg": 1 if arch == "resnet" else 4, "width": 1 / 64 if arch == "resnet" else 0.0625}
    st = build_state(_cfg(model=model, train={"n_dis": n_dis, "d_batch": 4, "g_batch": 4}), torch.device("cpu"))
    bn = [m for m in st.G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    means = [m.running_mean.clone() for m in bn]
    train_iteration(st, log=False)
    assert set(_bn_counts(st.G)) == {per_iter}
    assert all(not torch.equal(a, m.running_mean) for a, m in zip(means, bn))


def test_fused_real_fake_forward_is_equivalent():
    st = build_state(_cfg(), torch.device("cpu"))
    assert st.plan.fuse_d
    torch.manual_seed(0)
    real, fake = torch.rand(8, 3, 16, 16) * 2 - 1, torch.rand(8, 3, 16, 16) * 2 - 1
    plans = {fuse: dataclasses.replace(st.plan, fuse_d=fuse) for fuse in (True, False)}
    fused = d_outputs(plans[True], st.T["D"], st.T["Db"], real, fake)
    split = d_outputs(plans[False], st.T["D"], st.T["Db"], real, fake)
    for a, b in zip(fused, split):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    grads = []
    for fuse in (True, False):
        def loss(params, fuse=fuse):
            r, f = d_outputs(plans[fuse], params, st.T["Db"], real, fake)
            return torch.relu(1 - r).mean() + torch.relu(1 + f).mean()
        grads.append(torch.func.grad(loss)(st.T["D"]))
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6), name


def test_logging_step_keeps_official_summaries_without_changing_training():
    a = build_state(_cfg(), torch.device("cpu"))
    b = build_state(_cfg(), torch.device("cpu"))
    for _ in range(3):
        logged = train_iteration(a, log=True)
        assert train_iteration(b, log=False) == {}
    for (ka, va), (kb, vb) in zip(a.D.state_dict().items(), b.D.state_dict().items()):
        assert torch.equal(va, vb), ka
    for k in ("loss_d", "loss_g", "d_real", "d_fake", "slopes_real", "slopes_fake", "sigmas"):
        assert k in logged
    assert logged["slopes_real"].shape == (8,) and (logged["slopes_real"] > 0).all()


def test_wgan_gp_step_with_learned_gamma_trains_gamma():
    st = build_state(_cfg(norm={"mode": "sn", "gamma": "diff"}, loss={"name": "wgan_gp"}), torch.device("cpu"))
    g0 = [float(p.gamma.detach()) for _, _, p in normalized_layers(st.D)]
    for _ in range(2):
        logged = train_iteration(st, log=True)
    g1 = [float(p.gamma.detach()) for _, _, p in normalized_layers(st.D)]
    assert g0 == [1.0] * len(g0) and g1 != g0
    assert logged["gp"] is not None and torch.isfinite(logged["gp"])
