"""The two pack engines: how the iterations of a pack's cells are run (docs/design.md#packs).

Both run the same function, :func:`specnorm.train.step.iteration`, on each cell's training tensors,
with one template pair of modules for every cell (``functional_call`` runs it on a cell's tensors,
so ``torch.compile`` traces one graph per logging flag for the whole pack, not one per cell).

* :class:`SerialEngine` runs the cells one after another, each on its own tensors: a cell computes
  bit for bit what it computes alone (on the CPU; on a GPU as far as the kernels are deterministic).
  It is the exact reference.
* :class:`FusedEngine` stacks the cells' tensors along a leading cell axis and runs
  ``torch.func.vmap`` of the iteration: one forward and backward, one optimizer step, one random
  draw for all K cells, each with its own seed, scale, learning rates and betas. Each cell's modules
  and tensors become views of the stacks, so a cell's evaluation, analysis, samples and checkpoints
  are unchanged. Batched kernels sum in another order than a lone cell's, so a fused cell agrees with
  its lone run to rounding, amplified by training (docs/deviations.md T13), not bit for bit.

``train.compile``: ``none`` runs eagerly; ``compile`` compiles the iteration with ``torch.compile``;
``graph`` compiles it in ``reduce-overhead`` mode, replayed as CUDA graphs, with the dataset marked a
static input (CUDA only).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch.utils import _pytree as pytree

from specnorm.config import ConfigError
from specnorm.train.state import RunState, module_tensors
from specnorm.train.step import Plan, iteration, precision_context

COMPILE_BACKEND = os.environ.get("SPECNORM_COMPILE_BACKEND", "inductor")
"""``torch.compile`` backend of ``train.compile: compile`` (tests on CPU use ``aot_eager``)."""


def _compiled(fn: Callable, mode: str, device: torch.device) -> Callable:
    if mode == "none":
        return fn
    if mode == "graph" and device.type != "cuda":
        raise ConfigError("config key 'train.compile': graph (CUDA graphs) needs a CUDA device; "
                          "use none or compile on this device")
    kw = {"mode": "reduce-overhead"} if mode == "graph" else {"backend": COMPILE_BACKEND}
    return torch.compile(fn, dynamic=False, **kw)


def _mark_static(data: torch.Tensor | None, mode: str) -> None:
    """Under CUDA graphs the dataset is a static input (not copied into the graph's pool on every replay)."""
    if data is not None and mode == "graph":
        torch._dynamo.mark_static_address(data)


class Engine:
    """Runs one iteration of each given cell (their ``plan``s must agree: one pack)."""

    def __init__(self, compile_mode: str = "none") -> None:
        self.compile_mode = compile_mode
        self._fns: dict = {}
        self._plan: Plan | None = None

    def plan(self, cells: list[RunState]) -> Plan:
        """The pack's one template (:meth:`Plan.template`), made from its first cell once."""
        if self._plan is None:
            self._plan = cells[0].plan.template()
        return self._plan

    def step(self, cells: list[RunState], log: list[bool]) -> list[dict]:
        """One iteration of every cell of ``cells``; per cell, its logged tensors (empty unless ``log``)."""
        raise NotImplementedError

    def _function(self, key, make: Callable[[], Callable], device: torch.device) -> Callable:
        if key not in self._fns:
            self._fns[key] = _compiled(make(), self.compile_mode, device)
        return self._fns[key]


class SerialEngine(Engine):
    """The cells one after another, each exactly as alone."""

    def step(self, cells: list[RunState], log: list[bool]) -> list[dict]:
        out, plan = [], self.plan(cells)  # one template for the pack: one traced graph per logging flag
        for st, lg in zip(cells, log):
            fn = self._function(bool(lg), lambda lg=lg, plan=plan: _single(plan, bool(lg)), st.device)
            _mark_static(st.images.data, self.compile_mode)
            with precision_context(plan.precision, st.device):
                out.append(fn(st.T, st.images.data, st.real_batches()))
        return out


def _single(plan: Plan, log: bool) -> Callable:
    def run(T, data, real_batches):
        return iteration(T, data, plan, log, real_batches)
    return run


def _fused(plan: Plan, log: bool, host_data: bool) -> Callable:
    def run(T, data, real_batches):
        return iteration(T, data, plan, log, real_batches)
    return torch.func.vmap(run, in_dims=(0, None, 0 if host_data else None), randomness="error")


class FusedEngine(Engine):
    """The cells as one batched computation over a leading cell axis (see the module docstring)."""

    def __init__(self, compile_mode: str = "none") -> None:
        super().__init__(compile_mode)
        self._members: tuple[int, ...] = ()
        self._stack: dict | None = None

    def step(self, cells: list[RunState], log: list[bool]) -> list[dict]:
        if tuple(id(c) for c in cells) != self._members:
            self._restack(cells)
        first, plan = cells[0], self.plan(cells)
        lg, host = any(log), not first.images.on_device
        fn = self._function((lg, len(cells)), lambda: _fused(plan, lg, host), first.device)
        real = torch.stack([c.real_batches() for c in cells]) if host else None
        _mark_static(first.images.data, self.compile_mode)
        with precision_context(plan.precision, first.device):
            logged = fn(self._stack, first.images.data, real)
        per_cell = [pytree.tree_map(lambda t, k=k: t[k], logged) if lg else {} for k in range(len(cells))]
        return per_cell

    def _restack(self, cells: list[RunState]) -> None:
        """Stack the cells' tensors (their current values) and make each cell's tensors, and its
        modules' parameters and buffers, views of its slice."""
        leaves, spec = zip(*(pytree.tree_flatten(c.T) for c in cells))
        stacked = [torch.stack(column) for column in zip(*leaves)]
        self._stack = pytree.tree_unflatten(stacked, spec[0])
        for k, st in enumerate(cells):
            views = pytree.tree_unflatten([s[k] for s in stacked], spec[0])
            adopt(st, views)
        self._members = tuple(id(c) for c in cells)


def adopt(st: RunState, views: dict) -> None:
    """Make ``st``'s training tensors the given ``views`` (slices of a fused pack's stacks): its
    modules' parameters and buffers are re-pointed (``.data``), so the modules keep their identity."""
    for module, params, buffers in ((st.G, "G", "Gb"), (st.D, "D", "Db")):
        for name, p in module.named_parameters():
            p.data = views[params][name]
        for name, b in module.named_buffers():
            b.data = views[buffers][name]
        st.T[params], st.T[buffers] = module_tensors(module)
    for key in st.T:
        if key not in ("G", "Gb", "D", "Db"):
            st.T[key] = views[key]


def make_engine(kind: str, compile_mode: str = "none") -> Engine:
    """The engine ``kind`` names (``serial`` or ``fused``; ``vocab.pack_engine`` resolves ``auto``)."""
    if kind not in ("serial", "fused"):
        raise ConfigError(f"pack engine {kind!r} is not serial or fused")
    return (FusedEngine if kind == "fused" else SerialEngine)(compile_mode)
