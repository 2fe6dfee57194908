"""Suite-wide settings: one torch thread per process.

The test models are tiny, and the suite starts training subprocesses (resume tests, the pipeline) that
run beside the pytest process on a 2-core machine: with several multi-threaded OpenMP processes per
core, threads spin-wait for each other and a step gets ~20x slower (measured: 0.09 vs 1.7 s/it).
"""

import os

import torch

os.environ.setdefault("SPECNORM_THREADS", "1")
torch.set_num_threads(int(os.environ["SPECNORM_THREADS"]))
