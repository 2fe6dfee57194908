"""The counter-based training stream (docs/design.md#seeds, docs/deviations.md T12): uniform,
normal and independent; a pure function of [key, counter]; the same under torch.compile."""

import math

import torch

from specnorm.train import rng


def test_streams_are_uniform_normal_and_independent():
    state = rng.initial_state(0)
    b = rng.bits(state, 400_000, rng.NOISE)
    assert b.dtype == torch.int64 and 0 <= int(b.min()) and int(b.max()) < 2**32
    u, z = rng.uniform(b), rng.normal(b)
    assert 0 < float(u.min()) and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 3e-3 and abs(float(u.var()) - 1 / 12) < 1e-3
    assert abs(float(z.mean())) < 1e-2 and abs(float(z.var()) - 1) < 1e-2
    assert abs(float((z**3).mean())) < 3e-2 and abs(float((z**4).mean()) - 3) < 5e-2  # skew 0, kurtosis 3
    assert float(z.abs().max()) < 5.4  # the 23-bit uniform's tails
    bits = torch.stack([(b >> k) & 1 for k in range(32)]).float().mean(1)
    assert float((bits - 0.5).abs().max()) < 5e-3  # every bit balanced
    counts = torch.bincount(b >> 24, minlength=256).double()
    chi2 = float(((counts - len(b) / 256) ** 2 / (len(b) / 256)).sum())
    assert chi2 < 330  # 255 d.o.f., p ≈ 0.001
    # independence: neighbours, sub-streams, the next counter and another seed are uncorrelated
    others = [u[1:], rng.uniform(rng.bits(state, len(b), rng.DATA)), rng.uniform(rng.bits(rng.advance(state), len(b), rng.NOISE)),
              rng.uniform(rng.bits(rng.initial_state(1), len(b), rng.NOISE))]
    for other in others:
        n = min(len(u), len(other))
        assert abs(float(torch.corrcoef(torch.stack([u[:n], other[:n]]))[0, 1])) < 1e-2


def test_a_draw_is_a_pure_function_of_the_state():
    state = rng.initial_state(7)
    assert torch.equal(rng.bits(state, 100, rng.NOISE), rng.bits(state.clone(), 100, rng.NOISE))
    assert torch.equal(rng.bits(state, 10, rng.NOISE), rng.bits(state, 100, rng.NOISE)[:10])  # a prefix
    nxt = rng.advance(state)
    assert nxt.tolist() == [rng.key_of(7), 1] and state.tolist() == [rng.key_of(7), 0]
    assert not torch.equal(rng.bits(state, 100, rng.NOISE), rng.bits(nxt, 100, rng.NOISE))


def test_indices_are_uniform_over_any_size():
    idx = rng.batch_indices(rng.initial_state(2), 50, 1000, 1797)
    assert idx.shape == (50, 1000) and int(idx.min()) >= 0 and int(idx.max()) < 1797
    counts = torch.bincount(idx.reshape(-1), minlength=1797).double()
    expected = idx.numel() / 1797
    z = float(((counts - expected) ** 2 / expected).sum() - 1796) / math.sqrt(2 * 1796)
    assert abs(z) < 4  # χ² with 1796 d.o.f., normal approximation


def test_the_compiled_stream_is_the_eager_stream():
    def draw(state):
        return rng.normal(rng.bits(state, 64, rng.NOISE)), rng.advance(state)

    state = rng.initial_state(3)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(draw)(state)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)
    compiled = torch.compile(draw, backend="aot_eager")
    (a, na), (b, nb) = draw(state), compiled(state)
    assert torch.equal(a, b) and torch.equal(na, nb)
