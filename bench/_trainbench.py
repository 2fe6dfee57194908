"""Training-benchmark machinery shared by ``bench/train_speed.py`` and ``bench/gpu_check.py``.

- :class:`OursPack`: K cells of our engine (``specnorm.train.state.build_state``) stepped as
  ``specnorm.train.pack.run_pack`` steps a pack (docs/design.md#packs): the serial or the fused
  engine (``specnorm.train.engine``) with ``train.compile``'s mode, one shared dataset copy. A pack
  of one is a lone run.
- :class:`PlainPack`: the usual eager SNGAN loop, D with ``torch.nn.utils.parametrizations.spectral_norm``
  (u updated on every train-mode forward, separate real and fake D forwards), K models in turn.
- :func:`interleaved`: alternating timed repeats (one sync per block of iterations), medians.
- :func:`count_ops`: operations per call from ``torch.profiler`` (CUDA: kernels on the device and
  launch calls on the host; CPU: top-level ATen ops).
- worker mode (``python bench/_trainbench.py --worker JSON``): one cell in its own process, for the
  separate-processes comparison (:func:`separate_processes`).

See docs/performance.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def set_precision(precision: str) -> None:
    """The same numerics for every loop of the process: fp32 (TF32 off) or tf32 (on), as the trainer sets them."""
    tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def cell_config(arch: str, mg: int, width: float, batch: int, mode: str, device: str, *,
                compile: str = "none", precision: str = "fp32", seed: int = 0):
    """Official batch shapes: CNN D/G 64/64, n_dis 1; ResNet D 16, G 32, n_dis 5 (``batch`` is D's)."""
    from specnorm import config

    g_batch = batch if arch == "cnn" else 2 * batch
    return config.from_dict({
        "model": {"arch": arch, "mg": mg, "width": width},
        "norm": {"mode": mode},
        "train": {"d_batch": batch, "g_batch": g_batch, "n_dis": 1 if arch == "cnn" else 5, "seed": seed,
                  "compile": compile, "precision": precision},
        "log": {"analysis_batch": 4, "n_samples": 4}, "eval": {"every": 0}, "device": device,
    })


def plain_config(arch: str, mg: int, width: float, batch: int):
    """What :class:`PlainPack` reads of a cell config, without ``specnorm.config`` (PyYAML): the
    official CNN/ResNet shapes and Adam settings (docs/design.md#adam), for a machine without PyYAML."""
    from types import SimpleNamespace as NS

    return NS(model=NS(arch=arch, mg=mg, width=width, z_dim=128),
              optim=NS(g_lr=1e-4, d_lr=1e-4, beta1=0.5, beta2=0.999),
              train=NS(d_batch=batch, g_batch=batch if arch == "cnn" else 2 * batch, n_dis=1 if arch == "cnn" else 5))


def resolution(arch: str, mg: int) -> int:
    return 8 * mg if arch == "cnn" else 32 * mg


def random_images(res: int, n: int = 512):
    """uint8 NCHW noise of the right size (the benchmark needs shapes, not a dataset)."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, res, res), generator=g, dtype=torch.uint8).numpy()


@contextlib.contextmanager
def fake_dataset(images):
    """``build_state`` loads ``images`` whatever the configured dataset (no files, no download)."""
    import specnorm.train.state as state_mod

    real = state_mod.load
    state_mod.load = lambda *a, **k: images
    try:
        yield
    finally:
        state_mod.load = real


class OursPack:
    """K cells of our engine; calling it runs one iteration of every cell as ``run_pack`` does, on the
    ``serial`` or ``fused`` engine (``specnorm.train.engine``), one shared dataset copy. A pack of one
    is a lone run."""

    def __init__(self, cfgs: list, device: torch.device, images, engine: str = "serial") -> None:
        from specnorm.config import check_packable
        from specnorm.train.engine import make_engine
        from specnorm.train.state import build_state

        check_packable(cfgs)
        cache: dict = {}
        with fake_dataset(images):
            self.states = [build_state(cfg, device, data_cache=cache) for cfg in cfgs]
        self.engine = make_engine(engine, cfgs[0].train.compile)
        self.log = [False] * len(cfgs)

    def __call__(self) -> None:
        self.engine.step(self.states, self.log)
        for st in self.states:
            st.iteration += 1

    def __len__(self) -> int:
        return len(self.states)


class PlainPack:
    """K plain eager SNGAN loops (PyTorch's spectral_norm on D), one iteration of each per call."""

    def __init__(self, cfgs: list, device: torch.device, images) -> None:
        self.steps = [_plain_step(cfg, device, images, i) for i, cfg in enumerate(cfgs)]

    def __call__(self) -> None:
        for step in self.steps:
            step()

    def __len__(self) -> int:
        return len(self.steps)


def _plain_step(cfg, device: torch.device, images, seed: int):
    from specnorm.models import build_models
    from specnorm.config import NormCfg

    m = cfg.model
    torch.manual_seed(seed)
    G, D = build_models(m.arch, NormCfg("none"), mg=m.mg, width=m.width, z_dim=m.z_dim)
    for _, layer, _ in D.weighted_layers():
        torch.nn.utils.parametrizations.spectral_norm(layer)
    G.to(device).train()
    D.to(device).train()
    o = cfg.optim
    opt_g = torch.optim.Adam(G.parameters(), o.g_lr, betas=(o.beta1, o.beta2))
    opt_d = torch.optim.Adam(D.parameters(), o.d_lr, betas=(o.beta1, o.beta2))
    data = torch.from_numpy(images).to(device)
    t = cfg.train

    def step() -> None:
        for _ in range(t.n_dis):
            real = data[torch.randint(0, data.shape[0], (t.d_batch,), device=device)].float() / 127.5 - 1
            with torch.no_grad():
                fake = G(torch.randn(t.d_batch, m.z_dim, device=device))
            loss = F.relu(1 - D(real)).mean() + F.relu(1 + D(fake)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
        loss_g = -D(G(torch.randn(t.g_batch, m.z_dim, device=device))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    return step


def interleaved(fns: dict, device: torch.device, warmup: int, iters: int, repeats: int) -> dict:
    """Median seconds per call of each ``fns`` entry: after ``warmup`` calls each, ``repeats`` rounds
    that time a block of ``iters`` calls of every entry (one sync at the end of a block), the order of
    the entries alternating from round to round so that drifting load hits them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
        sync(device)
    times: dict = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            fn = fns[name]
            sync(device)
            t = time.perf_counter()
            for _ in range(iters):
                fn()
            sync(device)
            times[name].append((time.perf_counter() - t) / iters)
    return {k: statistics.median(v) for k, v in times.items()}


LAUNCH_CALLS = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx",
                "cudaGraphLaunch", "cudaMemcpyAsync", "cudaMemsetAsync", "cudaLaunchCooperativeKernel")


def count_ops(fn, device: torch.device, calls: int = 2) -> dict:
    """Operations per ``fn()`` call, from ``torch.profiler`` over ``calls`` calls (after one unprofiled call).

    CUDA: ``kernels`` = device-side kernel/memcpy/memset events (a CUDA graph's kernels included),
    ``launches`` = host-side launch API calls (a graph replay is one ``cudaGraphLaunch``). CPU:
    ``aten`` = ATen ops not nested in another ATen op (autograd's backward ops included)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    fn()
    sync(device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(calls):
            fn()
        sync(device)
    events = prof.events()
    if device.type == "cuda":
        kernels = sum(1 for e in events if e.device_type == DeviceType.CUDA)
        launches = sum(1 for e in events if e.device_type == DeviceType.CPU and e.name in LAUNCH_CALLS)
        return {"kind": "cuda", "kernels": kernels / calls, "launches": launches / calls}
    top = 0
    for e in events:
        if not e.name.startswith("aten::"):
            continue
        p = e.cpu_parent
        while p is not None and not p.name.startswith("aten::"):
            p = p.cpu_parent
        top += p is None
    return {"kind": "cpu", "aten": top / calls}


class RecompileWatch(logging.Handler):
    """While entered, notes whether ``torch._dynamo`` hit its recompile limit (the frames past it run
    eagerly: a compiled pack of more cells than the limit is then partly eager)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.hit = False

    def emit(self, record: logging.LogRecord) -> None:
        if "recompile_limit" in record.getMessage() or "cache_size_limit" in record.getMessage():
            self.hit = True

    def __enter__(self) -> RecompileWatch:
        logging.getLogger("torch._dynamo").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("torch._dynamo").removeHandler(self)


def op_label(ops: dict | None) -> str:
    if not ops:
        return "-"
    if ops["kind"] == "cuda":
        return f"{ops['kernels']:.0f} k / {ops['launches']:.0f} l"
    return f"{ops['aten']:.0f}"


# -- separate processes ---------------------------------------------------------------------------

def _worker(spec: dict) -> None:
    """One cell in this process: build, warm up, say ready, wait for go, time ``iters`` iterations."""
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    set_precision(spec["precision"])
    device = torch.device(spec["device"])
    cfg = cell_config(spec["arch"], spec["mg"], spec["width"], spec["batch"], spec["mode"], spec["device"],
                      compile=spec["compile"], precision=spec["precision"], seed=spec["seed"])
    pack = OursPack([cfg], device, random_images(resolution(spec["arch"], spec["mg"])))
    for _ in range(spec["warmup"]):
        pack()
    sync(device)
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.time()
    for _ in range(spec["iters"]):
        pack()
    sync(device)
    print(json.dumps({"t0": t0, "t1": time.time(), "iters": spec["iters"]}), flush=True)


def separate_processes(spec: dict, k: int, timeout: float = 1800.0) -> float:
    """Aggregate it/s of ``k`` processes each training one cell (seeds 0..k-1) concurrently on the same
    device: total iterations / (last end − first start), timed after every process has warmed up."""
    procs = []
    try:
        for i in range(k):
            s = dict(spec, seed=i)
            procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "_trainbench.py"), "--worker",
                                           json.dumps(s)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True))
        deadline = time.time() + timeout
        for p in procs:
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a worker failed before it was ready (exit {p.wait()})")
            if time.time() > deadline:
                raise TimeoutError("workers took too long to warm up")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.time()))
            if p.returncode:
                raise RuntimeError(f"a worker failed (exit {p.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = max(r["t1"] for r in results) - min(r["t0"] for r in results)
    return sum(r["iters"] for r in results) / wall


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(json.loads(sys.argv[2]))
    else:
        raise SystemExit("usage: _trainbench.py --worker JSON (started by bench/train_speed.py)")
