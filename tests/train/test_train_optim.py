"""Adam as tensor arithmetic (docs/design.md#adam): torch.optim.Adam's update, in place."""

import torch

from specnorm.train import optim


def test_adam_matches_torch_optim_adam():
    g = torch.Generator().manual_seed(0)
    params = {"w": torch.randn(5, 3, generator=g), "b": torch.randn(3, generator=g), "gamma": torch.ones(())}
    ref = {k: torch.nn.Parameter(v.clone()) for k, v in params.items()}
    opt = torch.optim.Adam(ref.values(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    state = optim.init_state(params)
    hyper = optim.hyper(2e-4, 0.5, 0.999, "cpu")
    for _ in range(20):
        grads = {k: torch.randn(v.shape, generator=g) * 1e-3 for k, v in params.items()}
        for k, p in ref.items():
            p.grad = grads[k].clone()
        opt.step()
        optim.adam_(params, grads, state, **hyper)
    assert float(state["step"]) == 20.0
    for k in params:  # the same formula; products and sums grouped a little differently
        torch.testing.assert_close(params[k], ref[k].detach(), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(state[f"exp_avg.{k}"], opt.state[ref[k]]["exp_avg"], rtol=1e-5, atol=1e-9)
        torch.testing.assert_close(state[f"exp_avg_sq.{k}"], opt.state[ref[k]]["exp_avg_sq"], rtol=1e-5, atol=1e-12)


def test_adam_takes_per_cell_hyper_parameters_under_vmap():
    params = {"w": torch.zeros(2, 4)}  # two cells
    grads = {"w": torch.ones(2, 4)}
    state = {"step": torch.zeros(2, 1, dtype=torch.float64), "exp_avg.w": torch.zeros(2, 4), "exp_avg_sq.w": torch.zeros(2, 4)}
    hyper = {k: torch.stack([optim.hyper(lr, 0.5, 0.9, "cpu")[k] for lr in (1e-3, 1e-4)])
             for k in ("lr", "beta1", "beta2")}
    torch.func.vmap(optim.adam_, out_dims=None)(params, grads, state, hyper["lr"], hyper["beta1"], hyper["beta2"])
    # the first Adam step moves every weight by -lr (m̂ = g, v̂ = g²)
    torch.testing.assert_close(params["w"], torch.tensor([[-1e-3] * 4, [-1e-4] * 4]))
